"""Message shapes on the wire: event envelopes and batches, ACKs, status, catch-up, downstream."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Final, Literal

import msgspec

from protocol.bounds import EPOCH_CHARS, MAX_SEQ, SOFTWARE_VERSION_CHARS, Epoch

PROTOCOL_VERSION: Final = 1

#: Upper bound for one MQTT payload of events; the publisher packs batches below it.
MAX_BATCH_BYTES: Final = 256 * 1024
#: Upper bound for events in one batch, so one ingest transaction stays short.
MAX_EVENTS_PER_BATCH: Final = 500

#: Longest problem text a status carries (the newest reason, cut short); also the longest
#: argument of its problem's message.
MAX_PROBLEM_CHARS: Final = 500
#: Most arguments one problem message carries, and how deep its messages nest.
MAX_PROBLEM_ARGS: Final = 8
MAX_PROBLEM_DEPTH: Final = 4

#: Stream names for downstream changes (mirrors protocol.topics.STREAMS).
StreamName = Literal["catalogue", "prices", "members", "coupons", "config", "staff"]

# Same rule as protocol.topics; repeated here as a schema constraint so decoding checks it too.
Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
Uuid = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ),
]
#: An ISO-8601 date-time in UTC ("Z" or "+00:00"), as the device clock read it.
UtcTime = Annotated[
    str,
    msgspec.Meta(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|\+00:00)$"),
]
Seq = Annotated[int, msgspec.Meta(ge=1, le=MAX_SEQ)]
SeqOrZero = Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
#: Most scopes one downstream change names in ``previous`` (stores changed since the last
#: change for all, plus "all"); the publisher sends a change for all without it beyond that.
MAX_PREVIOUS_SCOPES: Final = 4096
#: Most seqs one ACK lists (conflicts, dead letters): a batch holds at most this many events.
MAX_LISTED_SEQS: Final = 500


def utc_iso(moment: dt.datetime) -> str:
    """Format an aware datetime as the UTC ISO-8601 string the wire uses."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: wire times must be timezone-aware")
    return moment.astimezone(dt.UTC).isoformat()


def parse_utc(text: str) -> dt.datetime:
    """Parse a wire time string back into an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


class Envelope(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """One event recorded at a till; (terminal_id, seq) is its idempotency key."""

    v: int = PROTOCOL_VERSION
    id: Uuid
    terminal_id: Id
    store_id: Id
    seq: Seq  # per-terminal, gapless, starting at 1
    type: Annotated[str, msgspec.Meta(pattern=r"^[a-z_]{1,32}$")]  # a protocol.bodies type
    device_time: UtcTime
    clock_synced: bool  # False when the till had no trusted time source at record time
    body: dict[str, Any]  # decoded into a typed body by protocol.codec.decode_event_body
    # The identity of the store file that recorded the event (see docs/sync.md, "Epochs");
    # "" from a terminal that predates epochs.
    epoch: Epoch = ""


class Batch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Several events of one terminal in one MQTT message, in seq order."""

    v: int = PROTOCOL_VERSION
    terminal_id: Id
    store_id: Id
    events: list[Envelope]


class Ack(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Cloud -> terminal: every seq <= acked_seq is durably stored and may leave the outbox.

    acked_seq is the highest *contiguous* seq the cloud holds, so a gap holds the ACK back and
    the terminal resends from there. dead_lettered lists seqs the cloud kept aside as unreadable
    (kept, not lost); they count as received for contiguity.
    """

    v: int = PROTOCOL_VERSION
    terminal_id: Id
    acked_seq: SeqOrZero
    dead_lettered: Annotated[list[SeqOrZero], msgspec.Meta(max_length=MAX_LISTED_SEQS)] = []
    # What the cloud holds, so the terminal can check the ACK against its own journal:
    # the event id stored at acked_seq, the highest seq stored at all, and the terminal's
    # epoch as the cloud knows it ("" when it has never seen one).
    acked_event_id: Annotated[str, msgspec.Meta(max_length=36)] = ""
    max_seq: SeqOrZero = 0
    epoch: Epoch = ""
    # Seqs of this message the cloud already held with different content: kept aside as
    # conflicts, never applied. A terminal told of one stops publishing (see docs/sync.md).
    conflicts: Annotated[list[SeqOrZero], msgspec.Meta(max_length=MAX_LISTED_SEQS)] = []
    # Set when this ACK answers a Hello (the nonce it carried).
    hello: Annotated[str, msgspec.Meta(max_length=EPOCH_CHARS)] = ""


# Informational messages (a till's hello and status, and what they carry) ignore fields this
# side does not know, so a till may add one before its cloud is upgraded: nothing in them
# moves money or points, and a field the reader cannot use only goes unshown. Events, batches,
# ACKs and downstream changes stay strict (``forbid_unknown_fields``): a field an older reader
# dropped from a sale or an ACK would change what it records or deletes, so such a message is
# refused and kept, never half-understood.
class Hello(msgspec.Struct, kw_only=True, frozen=True):
    """Terminal -> cloud at every connect, before any event: this is where my journal stands.

    The cloud answers with an Ack (hello=nonce) naming what it holds; the terminal publishes
    only once that answer agrees with its journal, so a store file restored from an old
    backup or copied to a second device is caught before it sends a conflicting seq.
    """

    v: int = PROTOCOL_VERSION
    terminal_id: Id
    store_id: Id
    epoch: Epoch
    last_seq: SeqOrZero  # highest seq this store file has written
    acked_seq: SeqOrZero  # highest seq it has seen acknowledged
    nonce: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{1,32}$")]
    software_version: Annotated[str, msgspec.Meta(max_length=SOFTWARE_VERSION_CHARS)] = ""


class SelfTestCheck(msgspec.Struct, kw_only=True, frozen=True):
    """One line of a technician's self-test: a part, pass or fail, and what was seen."""

    name: Annotated[str, msgspec.Meta(max_length=32)]
    ok: bool
    detail: Annotated[str, msgspec.Meta(max_length=200)] = ""


class SelfTest(msgspec.Struct, kw_only=True, frozen=True):
    """The newest hardware self-test run at the terminal, as HQ sees it in the status."""

    at: UtcTime
    passed: bool
    checks: Annotated[list[SelfTestCheck], msgspec.Meta(max_length=32)]


class Problem(msgspec.Struct, kw_only=True, frozen=True):
    """A status's problem as a message id and its arguments, which HQ says in its page's
    language (protocol.problems lists the ids and their English); an argument is text or a
    message itself. HQ says an id it does not know by the status's English text."""

    id: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}(\.[a-z0-9_]{1,32}){0,3}$")]
    args: Annotated[
        dict[
            Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$")],
            Annotated[str, msgspec.Meta(max_length=MAX_PROBLEM_CHARS)] | Problem,
        ],
        msgspec.Meta(max_length=MAX_PROBLEM_ARGS),
    ] = {}


def problem_depth(problem: Problem) -> int:
    """How deep a problem's messages nest (1: its arguments are all text)."""
    deepest, todo = 0, [(problem, 1)]
    while todo:
        found, depth = todo.pop()
        deepest = max(deepest, depth)
        if depth <= MAX_PROBLEM_DEPTH:  # deeper is refused anyway: no need to walk it all
            todo.extend((v, depth + 1) for v in found.args.values() if isinstance(v, Problem))
    return deepest


class Status(msgspec.Struct, kw_only=True, frozen=True):
    """Terminal health; published retained, and as the last will with online=False."""

    v: int = PROTOCOL_VERSION
    terminal_id: Id
    store_id: Id
    online: bool
    outbox_depth: Annotated[int, msgspec.Meta(ge=0)]
    oldest_unsynced_s: float | None  # age of the oldest unacked event; None when empty
    stream_versions: dict[str, int]  # downstream stream -> version applied
    clock_synced: bool
    printer: Annotated[str, msgspec.Meta(max_length=32)]  # "ok" | "paper_low" | "paper_out"...
    software_version: Annotated[str, msgspec.Meta(max_length=SOFTWARE_VERSION_CHARS)]
    sent_at: UtcTime
    # Optional with a default, so a status from a terminal that predates it still decodes.
    last_problem: Annotated[str, msgspec.Meta(max_length=MAX_PROBLEM_CHARS)] = ""
    # Optional with a default too: the newest self-test, from `python -m provisioning self-test`.
    self_test: SelfTest | None = None
    # Optional too: the HQ rules version the till prices its next sale with ("" = defaults).
    rules_version: Annotated[str, msgspec.Meta(max_length=32)] = ""
    # Optional too: when the till's client certificate ends (None: it logs in without one).
    # HQ shows it, so a rotation is arranged before the till is refused.
    cert_not_after: UtcTime | None = None
    # Optional too: ``last_problem`` as a message id and its arguments, so HQ can say it in its
    # page's language (None from a till that predates it, or for a problem without an id).
    problem: Problem | None = None


class CatchupRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Terminal -> cloud: send me every change after these versions (stream -> from_version)."""

    v: int = PROTOCOL_VERSION
    terminal_id: Id
    store_id: Id
    streams: dict[StreamName, Annotated[int, msgspec.Meta(ge=0)]]


class DownChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """HQ -> stores: one change on one downstream stream.

    version counts per stream across all scopes, so a terminal sees gaps (changes meant for
    other stores) and must not wait for them: it applies any change with a version above the
    one it holds and records the new version. ``previous`` tells such a gap from a lost
    change: per scope, the version of the latest earlier change on this stream that a
    receiver of this change also receives. A store's change names its store and "all"; a
    change for all names "all" and every store that had a change of its own since the last
    change for all. A till of store S has lost nothing before this change when it holds at
    least max(previous["all"], previous[S]) (a scope not named: 0). None from a sender that
    predates the field. A snapshot is sent as `chunks` messages sharing
    `snapshot_id`; it replaces the stream's contents once every chunk has arrived, and its
    version is the stream version the snapshot reflects.
    """

    v: int = PROTOCOL_VERSION
    stream: StreamName
    version: Annotated[int, msgspec.Meta(ge=1)]
    scope: Id  # "all" or a store id
    kind: Literal["upsert", "delete", "snapshot_chunk"]
    items: list[dict[str, Any]]  # upsert: full items; delete: items carrying just their keys
    chunk: Annotated[int, msgspec.Meta(ge=0)] = 0
    chunks: Annotated[int, msgspec.Meta(ge=1)] = 1
    snapshot_id: str = ""
    sent_at: str = ""
    previous: (
        Annotated[dict[Id, SeqOrZero], msgspec.Meta(max_length=MAX_PREVIOUS_SCOPES)] | None
    ) = None


def needed_version(change: DownChange, store_id: str) -> int | None:
    """The stream version a till of ``store_id`` must hold to apply ``change`` without a gap.

    None when the change does not say (an older sender): the till cannot tell a gap from
    another store's change.
    """
    if change.previous is None:
        return None
    return max(change.previous.get("all", 0), change.previous.get(store_id, 0))
