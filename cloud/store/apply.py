"""Apply one terminal's batch in one transaction: store new events, project them, advance the mark.

Correctness never depends on arrival order or on which worker got the message: the
(terminal, seq) unique key decides what is new (INSERT ... ON CONFLICT DO NOTHING RETURNING),
projections run for exactly those rows, and the terminal's row is locked first so two
workers holding batches of the same terminal take turns. A seq that arrives again with other
content is a conflict, kept beside the stored event; an event that breaks the rules it names
is stored but held out of the projections until HQ decides (cloud.domain.plausibility).
Under a backlog several batches share one transaction (``commit_group``): each is applied
exactly as alone, and the members they touched are pushed once, after every mark is written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Final

import msgspec

from cloud.domain import plausibility
from cloud.domain.contiguity import advance_high_water
from cloud.domain.epochs import Decision, EpochStart, rule
from cloud.domain.errors import DomainError
from cloud.domain.flags import Flag, epoch_reason, stored_message
from cloud.domain.projections import (
    EventFacts,
    Projection,
    SaleKeys,
    business_time,
    combine,
    project,
    project_sale,
    quick_init,
)
from cloud.store import (
    crm_privacy,
    member_facts,
    merging,
    remote_effects,
    return_checks,
    rollups,
    tier_checks,
    tier_spend,
    till_crm,
)
from cloud.store import seqs as seqstore
from cloud.store.bulk import copy_escape, copy_insert_rows, copy_line, copy_rows, insert_rows
from cloud.store.db import CloudDB
from cloud.store.effects import IngestRules, PendingDown, apply_figures, apply_members
from cloud.store.rollups import GroupRollups, PreparedRollups, apply_rollups
from cloud.store.seqs import EVENT_COLUMNS, Conflict
from cloud.store.stores import StoreClock
from protocol.bodies import SaleBody
from protocol.bounds import MAX_SEQS_LOST

#: Bytes of an offending payload kept in a dead letter; the full size is recorded beside it.
#: Above the largest batch the protocol allows, so a refused batch is always kept whole.
DEAD_LETTER_PAYLOAD_LIMIT = 1024 * 1024


@quick_init
@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A decoded envelope; ``dead_reason`` is set when its body failed validation."""

    event_id: str
    terminal_id: str
    store_id: str
    seq: int
    type: str
    device_time: dt.datetime | None  # None when the envelope itself was unreadable
    device_time_text: str
    clock_synced: bool
    body: Mapping[str, Any]
    raw: bytes = b""  # the envelope as JSON, kept if the event is dead-lettered
    dead_reason: str | None = None
    epoch: str = ""
    rules_version: str = ""
    hold_reasons: tuple[str, ...] = ()  # set by prepare_batch when the event is implausible
    typed: Any = None  # the body as its protocol.bodies Struct (None when dead)

    @property
    def status(self) -> str:
        """How the event row is stored: dead, held or ok (projected)."""
        if self.dead_reason is not None:
            return "dead"
        return "held" if self.hold_reasons else "ok"

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its field values but the typed body, remade by __init__: the prepare
        process hands over thousands of events a second, the dataclass default restores each
        object field by field in Python, several times slower, and the typed body would
        double what crosses (the receiver reads the plain body; see PreparedBatch.lean)."""
        return (IncomingEvent, _EVENT_VALUES(self))


#: An IncomingEvent's field values but ``typed`` (the last), in __init__'s order.
_EVENT_VALUES: Final = attrgetter(*(f.name for f in fields(IncomingEvent) if f.name != "typed"))


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one batch did; ``high_water`` is what the ACK names."""

    high_water: int
    inserted: int
    duplicates: int
    dead_lettered: list[int]
    over_redemptions: int
    down: list[PendingDown] = field(default_factory=list)
    conflicts: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)
    deferred: list[int] = field(default_factory=list)
    acked_event_id: str = ""
    max_seq: int = 0
    epoch: str = ""
    # The store clocks the transaction read: what the next batch's rollups are summed by.
    clocks: Mapping[str, StoreClock] = field(default_factory=dict)


#: The body field an event's listed amount comes from.
_AMOUNT_FIELDS: Final[Mapping[str, str]] = MappingProxyType(
    {"sale": "total_fen", "return": "refund_fen"}
)


def _amount_and_receipt(event: IncomingEvent) -> tuple[int, str]:
    if event.dead_reason is not None:
        return 0, ""  # an unusable body's numbers may not even fit the column
    body = event.body
    key = _AMOUNT_FIELDS.get(event.type)
    amount = body.get(key, 0) if key else 0
    receipt = body.get("receipt_no", "")
    ok_amount = isinstance(amount, int) and not isinstance(amount, bool)
    return (amount if ok_amount else 0), (receipt if isinstance(receipt, str) else "")


def flag_terminal(
    cdb: CloudDB, terminal_id: str, store_id: str, reason: str, now: dt.datetime
) -> None:
    """Mark a terminal for HQ's attention (bad payloads, conflicts); the newest reason is kept,
    in English and, for a Flag, as its message id and arguments (None for plain text)."""
    m = cdb.models
    m.Terminal.insert(terminal_id=terminal_id, store_id=store_id).on_conflict_ignore().execute()
    m.Terminal.update(
        flagged=True, flag_reason=str(reason)[:2000], flag_message=stored_message(reason),
        flagged_at=now,
    ).where(m.Terminal.terminal_id == terminal_id).execute()  # fmt: skip


def record_dead_letter(
    cdb: CloudDB,
    *,
    topic: str,
    terminal_id: str,
    claimed_terminal_id: str,
    reason: str,
    seqs: Sequence[int],
    payload: bytes,
    now: dt.datetime,
) -> None:
    """Keep an unusable payload aside, with why, so nothing sent is ever lost."""
    cdb.models.DeadLetter.insert(
        received_at=now,
        topic=topic,
        terminal_id=terminal_id[:64],
        claimed_terminal_id=claimed_terminal_id,
        reason=str(reason),  # plain text: a Flag's id is kept on the terminal, not here
        seqs=list(seqs)[:1000],
        payload=bytes(payload[:DEAD_LETTER_PAYLOAD_LIMIT]),
        payload_size=len(payload),
    ).execute()


def _fields(event: IncomingEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in IncomingEvent.__slots__}


def _prepare_event(
    event: IncomingEvent, rules: IngestRules, now_aware: dt.datetime, local: dt.datetime
) -> tuple[IncomingEvent, Projection | None]:
    """Check plausibility, then project; a body the projection cannot use turns the event dead."""
    if event.dead_reason is not None or event.device_time is None:
        return event, None
    if event.typed is not None:
        rule_set = rules.rule_sets.get(event.rules_version)
        reasons = plausibility.check(
            event.typed, rule_set, event.rules_version, event.device_time, event.clock_synced,
            now_aware, rules.clock, event.store_id,
        )  # fmt: skip
    else:  # built without the codec (tests of the store alone): only the clock is checked
        reasons = list(plausibility.check_time(event.device_time, event.clock_synced,
                                               now_aware, rules.clock))  # fmt: skip
    if reasons:
        return replace(event, hold_reasons=tuple(reasons)), None
    if type(event.typed) is SaleBody and event.type == "sale":  # what project() would do
        return event, project_sale(event.terminal_id, event.store_id, event.seq, local,
                                   event.typed)  # fmt: skip
    facts = EventFacts(event.terminal_id, event.store_id, event.seq, event.type, event.body, local,
                       event.typed)  # fmt: skip
    try:
        return event, project(facts)
    except DomainError as err:
        return IncomingEvent(**{**_fields(event), "dead_reason": str(err)}), None


def _event_json(event: IncomingEvent) -> bytes:
    return json.dumps(
        {"id": event.event_id, "terminal_id": event.terminal_id, "store_id": event.store_id,
         "seq": event.seq, "type": event.type, "device_time": event.device_time_text,
         "clock_synced": event.clock_synced, "body": dict(event.body)},
        ensure_ascii=False,
    ).encode()  # fmt: skip


def _row(event: IncomingEvent, local: dt.datetime, received: str, status: str) -> tuple[Any, ...]:
    typed = event.typed
    if type(typed) is SaleBody and event.type == "sale" and event.dead_reason is None:
        # The codec checked these fields: the same values _amount_and_receipt and _member_of
        # would find in the body, read without looking them up and checking them again.
        member = typed.member_id
        return (event.terminal_id, event.seq, event.event_id, event.store_id, event.type[:32],
                event.device_time_text[:40], event.clock_synced, received,
                local.date().isoformat(), local.hour, typed.total_fen, typed.receipt_no[:64],
                status != "ok", _json(event.body), event.epoch, status,
                member if member and len(member) <= 64 else None)  # fmt: skip
    amount, receipt = _amount_and_receipt(event)
    return (event.terminal_id, event.seq, event.event_id, event.store_id, event.type[:32],
            event.device_time_text[:40], event.clock_synced, received,
            local.date().isoformat(), local.hour, amount, receipt[:64], status != "ok",
            _json(event.body), event.epoch, status, _member_of(event))  # fmt: skip


def _member_of(event: IncomingEvent) -> str | None:
    """The member an event is about, for the member's history and pushed facts."""
    if event.dead_reason is not None:
        return None
    member = event.body.get("member_id")
    return member if isinstance(member, str) and 0 < len(member) <= 64 else None


#: Same text JsonText writes (sorted keys, compact), made faster by msgspec.
_SORTED_JSON: Final = msgspec.json.Encoder(order="sorted")


def _json(body: Mapping[str, Any]) -> str:
    return _SORTED_JSON.encode(body).decode()


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """Everything about a batch that needs no database: rows, projections, their sum.

    Preparing is pure CPU work, so the ingest worker prepares the next message while the
    previous one's transaction waits on the database.
    """

    store_id: str
    terminal_id: str
    topic: str
    events: list[IncomingEvent]  # unique seqs; dead_reason or hold_reasons set where due
    rows: dict[int, tuple[Any, ...]]  # seq -> event row
    local_times: dict[int, dt.datetime]
    projections: dict[int, Projection]
    merged: Projection  # the sum over every projected event (used when all are new)
    now: dt.datetime  # receive time, naive UTC
    unplaceable: list[str] = field(default_factory=list)
    # The rollup figures of every projected event, summed by the store clocks the worker last
    # read (used when all are new and the transaction reads the same clocks).
    rollup_sums: PreparedRollups | None = None
    # seq -> (the row, its bulk.copy_line): a row replaced since (see isolate) is made again.
    copy_lines: Mapping[int, tuple[tuple[Any, ...], str]] = field(default_factory=dict)
    # Set on a lean batch (see lean): the seqs projected, their tier days summed, and on
    # PostgreSQL every event's COPY line, in order, instead of rows and copy_lines.
    lean_projected: frozenset[int] | None = None
    lean_days: tier_spend.Days | None = None
    lean_copy: str | None = None
    # How a lean batch is made whole again (set by whoever received it), e.g. prepared anew
    # from its payload with the same receive time.
    rebuild: Callable[[], PreparedBatch] | None = field(default=None, compare=False)

    @property
    def complete(self) -> bool:
        """Whether the per-event projections are here (a lean batch sums them up instead)."""
        return self.lean_projected is None

    def projected(self) -> Collection[int]:
        """The seqs of the events the projections took."""
        return self.projections.keys() if self.lean_projected is None else self.lean_projected

    def lean(self) -> PreparedBatch:
        """This batch without what a commit of all-new events does not read: each event's
        projection (their sums are kept: ``merged``, tier days), and, once pickled, its typed
        body (the plain body stays; IncomingEvent.__reduce__ leaves the typed one behind).
        Cheap to hand to another process; ``whole`` rebuilds the rest."""
        types = {e.seq: e.type for e in self.events}
        days: tier_spend.Days = {}
        for seq, projection in self.projections.items():
            tier_spend.add_event(days, projection, types[seq], self.local_times[seq].date())
        copy = None
        if self.copy_lines:
            copy = "".join([self.copy_lines[e.seq][1] for e in self.events])
        return replace(
            self, projections={},
            rows=self.rows if copy is None else {}, copy_lines={},
            lean_projected=frozenset(self.projections), lean_days=days, lean_copy=copy,
            rebuild=None,
        )  # fmt: skip

    def whole(self) -> PreparedBatch:
        """This batch with every event's projection: itself, or a lean one rebuilt."""
        if self.complete:
            return self
        if self.rebuild is None:
            raise RuntimeError(f"a lean batch of {self.terminal_id} cannot be rebuilt")
        rebuilt = self.rebuild()
        if self.lean_copy is None:
            same = rebuilt.rows == self.rows
        else:
            lines = rebuilt.copy_lines
            same = "".join([lines[e.seq][1] for e in rebuilt.events if e.seq in lines]) == (
                self.lean_copy
            )
        if not rebuilt.complete or not same:
            # Its rows may be stored already: a rebuild that disagrees is a bug, not data.
            raise RuntimeError(f"a batch of {self.terminal_id} rebuilt differently")
        return rebuilt


def prepare_batch(
    *,
    store_id: str,
    terminal_id: str,
    events: Sequence[IncomingEvent],
    topic: str,
    rules: IngestRules,
    now_aware: dt.datetime,
    unplaceable: Sequence[str] = (),
    clocks: Mapping[str, StoreClock] | None = None,
    copy_text: bool = False,
) -> PreparedBatch:
    """Check, project and build rows for a decoded batch, without touching the database.

    With ``clocks`` (the store clocks last read), the rollup figures are summed here too, and
    with ``copy_text`` the rows' COPY lines are made (PostgreSQL): both are then work the
    commit, which holds the terminal's row lock, does not do.
    """
    now = now_aware.astimezone(dt.UTC).replace(tzinfo=None)
    # A seq repeated inside one message is one event; the first copy wins, like across messages.
    seen: set[int] = set()
    unique = [e for e in events if not (e.seq in seen or seen.add(e.seq))]
    out: list[IncomingEvent] = []
    projections: dict[int, Projection] = {}
    local_times: dict[int, dt.datetime] = {}
    rows: dict[int, tuple[Any, ...]] = {}
    lines: dict[int, tuple[tuple[Any, ...], str]] = {}
    sales = _Sales(rules, now_aware, str(now), copy_text)
    zones: dict[str, Any] = {}
    # A till sells many times a second: each (store, business time) is worked out once.
    times: dict[tuple[str, dt.datetime | None], tuple[dt.datetime, str, int]] = {}
    for event in unique:
        synced = event.clock_synced
        key = (event.store_id, event.device_time if synced else None)
        when = times.get(key)
        if when is None:
            tz = zones.get(event.store_id)
            if tz is None:
                tz = zones[event.store_id] = rules.tz_for(event.store_id)
            local = business_time(event.device_time or now_aware, synced, now_aware, tz)
            when = times[key] = (local, local.date().isoformat(), local.hour)
        seq = event.seq
        if (type(event.typed) is SaleBody and event.type == "sale" and event.dead_reason is None
                and event.device_time is not None):  # fmt: skip
            event, projection, row, line = sales.prepare(event, when)
        else:
            event, projection = _prepare_event(event, rules, now_aware, when[0])
            row = _row(event, when[0], sales.received, event.status)
            line = copy_line(row) if copy_text else ""
        if projection is not None:
            projections[seq] = projection
        local_times[seq] = when[0]
        rows[seq] = row
        if copy_text:
            lines[seq] = (row, line)
        out.append(event)
    projected = [e for e in out if e.seq in projections]
    return PreparedBatch(
        store_id=store_id, terminal_id=terminal_id, topic=topic, events=out, rows=rows,
        local_times=local_times, projections=projections,
        merged=combine(list(projections.values())), now=now,
        unplaceable=list(unplaceable),
        rollup_sums=None if clocks is None else rollups.prepare(projected, now, clocks, rules),
        copy_lines=lines,
    )  # fmt: skip


class _Sales:
    """Prepare a batch's sales whose body the codec typed: what _prepare_event and _row do,
    with what the whole batch shares (the rule sets, the clock's bounds) looked up once."""

    def __init__(
        self, rules: IngestRules, now_aware: dt.datetime, received: str, copy_text: bool
    ) -> None:
        self.rules, self.now_aware, self.received, self.copy_text = (
            rules, now_aware, received, copy_text)  # fmt: skip
        # plausibility.check_time finds nothing wrong with a synchronised time inside these.
        self.earliest = now_aware - rules.clock.max_offline
        self.latest = now_aware + rules.clock.future_tolerance
        self.keys = SaleKeys()

    def prepare(
        self, event: IncomingEvent, when: tuple[dt.datetime, str, int]
    ) -> tuple[IncomingEvent, Projection | None, tuple[Any, ...], str]:
        """(event, its projection or None when held, its row, its COPY line or "")."""
        typed: SaleBody = event.typed
        synced, moment, version = event.clock_synced, event.device_time, event.rules_version
        rule_set = self.rules.rule_sets.get(version)
        if (rule_set is not None and (not synced or self.earliest <= moment <= self.latest)
                and plausibility.in_scope(rule_set, event.store_id)):  # fmt: skip
            reasons: Sequence[str] = plausibility.check_sale(typed, rule_set)
        else:  # the general check names the clock, the unknown version or its store
            assert moment is not None
            reasons = plausibility.check(typed, rule_set, version, moment, synced,
                                         self.now_aware, self.rules.clock,
                                         event.store_id)  # fmt: skip
        local, day, hour = when
        projection = None
        if reasons:
            event = replace(event, hold_reasons=tuple(reasons))
            status = "held"
        else:
            projection = project_sale(event.terminal_id, event.store_id, event.seq, local, typed,
                                      self.keys)  # fmt: skip
            status = "ok"
        # The codec checked these fields: the same values _amount_and_receipt and _member_of
        # would find in the body, read without looking them up and checking them again.
        member = typed.member_id
        member = member if member and len(member) <= 64 else None
        body = _SORTED_JSON.encode(event.body).decode()  # _json(), without a call per sale
        row = (event.terminal_id, event.seq, event.event_id, event.store_id, "sale",
               event.device_time_text[:40], synced, self.received, day, hour, typed.total_fen,
               typed.receipt_no[:64], status != "ok", body, event.epoch, status,
               member)  # fmt: skip
        return event, projection, row, _sale_line(row) if self.copy_text else ""


def _sale_line(row: tuple[Any, ...]) -> str:
    """bulk.copy_line(row) for a typed sale's row (see _Sales.prepare), made in one format."""
    (terminal, seq, event_id, store, _, moment, synced, received, day, hour, total, receipt, held,
     body, epoch, status, member) = row  # fmt: skip
    ids = f"{terminal}{event_id}{store}{moment}{epoch}"  # received and day are made here
    # Tab, newline and carriage return are not printable; the codec's patterns allow none.
    if ("\\" in ids or not ids.isprintable() or type(seq) is not int or type(total) is not int
            or type(synced) is not bool):  # fmt: skip
        return copy_line(row)  # not from the codec: escaped value by value
    if "\\" in body:  # msgspec's JSON escapes every control character: only "\\" is left
        body = body.replace("\\", "\\\\")
    if "\\" in receipt or not receipt.isprintable():
        receipt = copy_escape(receipt)
    if member is None:
        member = "\\N"
    elif "\\" in member or not member.isprintable():
        member = copy_escape(member)
    return "\t".join((terminal, str(seq), event_id, store, "sale", moment, "t" if synced else "f",
                      received, day, str(hour), str(total), receipt, "t" if held else "f", body,
                      epoch, status, member + "\n"))  # fmt: skip


def _all_new(
    cdb: CloudDB,
    batch: PreparedBatch,
    storing: Sequence[IncomingEvent],
    copies: Mapping[int, int],
    max_seq: int,
) -> bool:
    """Whether every event of the batch is stored, unchanged and above the terminal's
    max_seq (so new: see _insert_events), on PostgreSQL."""
    return (
        cdb.is_postgres
        and len(storing) == len(batch.events) > 0
        and not copies
        and min(e.seq for e in storing) > max_seq
    )


def _copy_new(cdb: CloudDB, lines: Sequence[str], seqs: Sequence[int]) -> set[int]:
    """COPY the rows of events known to be new (see _insert_events) straight into events;
    return their seqs."""
    count = copy_rows(cdb, "events", EVENT_COLUMNS, lines)
    if count != len(seqs):  # the server's own count: anything else is a bug, not data
        raise RuntimeError(f"COPY stored {count} of {len(seqs)} events")
    return set(seqs)


def _insert_events(
    cdb: CloudDB,
    rows: Sequence[tuple[Any, ...]],
    lines: Sequence[str] | None = None,
    *,
    above: int | None = None,
) -> set[int]:
    """Insert, skipping (terminal, seq) already stored; return the seqs this call inserted.

    ``above``: the terminal's max_seq, read under its lock. Every writer of events raises it
    to the seqs it stores (cloud.store.member_facts relies on the same), so rows whose seqs
    are all above it are new: on PostgreSQL they are copied straight into the table, which
    a backlog or a till that keeps up always is. Anything else takes ON CONFLICT DO NOTHING.
    """
    seqs = [int(row[1]) for row in rows]
    if lines is not None and above is not None and rows and min(seqs) > above:
        return _copy_new(cdb, lines, seqs)
    returned = copy_insert_rows(
        cdb, "events", EVENT_COLUMNS, rows, conflict=("terminal_id", "seq"), returning=("seq",),
        lines=lines,
    )  # fmt: skip
    return {int(seq) for (seq,) in returned}


def _envelope(event: IncomingEvent) -> dict[str, Any]:
    return json.loads(event.raw) if event.raw else json.loads(_event_json(event))


def _conflicts_among(
    cdb: CloudDB, terminal_id: str, again: Sequence[IncomingEvent]
) -> list[Conflict]:
    """Events not inserted because their seq is taken: duplicates, or conflicts if different."""
    stored = seqstore.stored_versions(cdb, terminal_id, (e.seq for e in again))
    found = []
    for event in again:
        stored_id, stored_body = stored.get(event.seq, ("", None))
        if stored_id == event.event_id and seqstore.same_content(stored_body, event.body):
            continue  # a true duplicate: resent after a lost ACK
        why = (Flag("seq.other_content", seq=event.seq) if stored_id == event.event_id else
               Flag("seq.other_event", seq=event.seq, event=stored_id or "(none)"))  # fmt: skip
        found.append(
            Conflict(
                event.seq, event.event_id, event.epoch, event.type, stored_id,
                why,
                _envelope(event),
            )
        )  # fmt: skip
    return found


def _placeholder(batch: PreparedBatch, status: str) -> Callable[[int], tuple[Any, ...]]:
    """Rows for seqs that hold no event, e.g. the seqs a lost store file never sent."""
    received, day, hour = str(batch.now), batch.now.date().isoformat(), batch.now.hour

    def build(seq: int) -> tuple[Any, ...]:
        return (batch.terminal_id, seq, "", batch.store_id, status, "", False, received, day,
                hour, 0, "", True, "{}", "", status, None)  # fmt: skip

    return build


def _mark_lost(
    cdb: CloudDB, batch: PreparedBatch, inserted: Sequence[IncomingEvent], high_water: int
) -> int:
    """Record the seqs a terminal's ``seqs_lost`` events name (lost by a restore of this
    database and past the till's resend window) and flag the terminal for HQ."""
    count = 0
    for event in inserted:
        if event.type != "seqs_lost" or event.dead_reason is not None:
            continue
        body = event.body if isinstance(event.body, Mapping) else {}
        first = max(int(body.get("from_seq", 0)), high_water + 1)
        last = min(int(body.get("to_seq", 0)), event.seq - 1)  # only below the event itself
        if last - first + 1 > MAX_SEQS_LOST:
            flag_terminal(cdb, batch.terminal_id, batch.store_id,
                          Flag("lost.too_many", seq=event.seq, count=last - first + 1,
                               most=MAX_SEQS_LOST), batch.now)  # fmt: skip
            continue
        seqs = seqstore.fill_gaps(cdb, batch.terminal_id, first, last,
                                  _placeholder(batch, "lost"))  # fmt: skip
        count += len(seqs)
        if seqs:
            flag_terminal(
                cdb, batch.terminal_id, batch.store_id,
                Flag("lost.recorded", first=seqs[0], last=seqs[-1],
                     days=body.get("resend_window_days")),
                batch.now,
            )  # fmt: skip
    return count


def commit_batch(cdb: CloudDB, batch: PreparedBatch, rules: IngestRules) -> BatchOutcome:
    """Store and apply a prepared batch in one transaction; return what the ACK should say."""
    with cdb.write():
        term = seqstore.lock_terminal(cdb, batch.store_id, batch.terminal_id)
        applied = _apply_locked(cdb, batch, rules, term)
        # After the mark is written: the pushed facts say which of this till's seqs they hold.
        pushed = _push_members(cdb, [applied], rules)
    return replace(applied.outcome, down=[*applied.outcome.down, *pushed])


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    """What a group of batches did: one outcome per batch, in the order given, and the member
    changes pushed once for all of them (to publish after each batch's own changes)."""

    outcomes: list[BatchOutcome]
    down: list[PendingDown]


def commit_group(
    cdb: CloudDB, batches: Sequence[PreparedBatch], rules: IngestRules
) -> GroupOutcome:
    """Store and apply several prepared batches in one transaction, members pushed once.

    What a backlog costs per transaction (its round trips, the commit's flush, and above all
    the member facts of members that every batch touches again) is paid once per group.
    Every batch gets the outcome ``commit_batch`` would have given it had the batches been
    committed one by one in the order applied here: each terminal's batches in the order
    given (a repeat re-reads the mark its predecessor wrote), the terminals in id order.
    Terminal rows, then the members the batches name, are locked first and in sorted order,
    so two workers committing groups wait for each other instead of deadlocking on them (a
    deadlock on other rows rolls back the whole group, and the caller retries it whole).
    A refused batch (IntegrityError and the like) fails the whole group: the caller then
    commits the batches one by one, each with its own fallback.
    """
    order = sorted(range(len(batches)), key=lambda i: (batches[i].terminal_id, i))
    applied: dict[int, _Applied] = {}
    later = _Later()
    with cdb.write():
        first: dict[str, seqstore.TerminalRow] = {}
        for i in order:
            b = batches[i]
            if b.terminal_id not in first:
                first[b.terminal_id] = seqstore.lock_terminal(cdb, b.store_id, b.terminal_id)
        if len(batches) > 1:
            _lock_members(cdb, batches)
        seen: set[str] = set()
        for i in order:
            b = batches[i]
            if b.terminal_id in seen:  # held already: this re-reads what the previous wrote
                term = seqstore.lock_terminal(cdb, b.store_id, b.terminal_id)
            else:
                term = first[b.terminal_id]
                seen.add(b.terminal_id)
            applied[i] = _apply_locked(cdb, b, rules, term, later)
        later.write(cdb)
        # After every batch's mark is written: each till's entry in ``asof`` is its mark after
        # the whole group, and a member every batch touched is pushed once, not once a batch.
        pushed = _push_members(cdb, [applied[i] for i in order], rules)
    return GroupOutcome([applied[i].outcome for i in range(len(batches))], pushed)


def _lock_members(cdb: CloudDB, batches: Sequence[PreparedBatch]) -> None:
    """Lock the stored rows of every member the batches name (and their survivors), in id
    order, before any batch writes: each batch alone locks its own members in order, but two
    groups would otherwise take their batches' members in interleaved orders and deadlock."""
    if not cdb.is_postgres:
        return  # the write transaction already excludes every other writer
    ids: set[str] = set()
    for b in batches:
        ids.update(b.merged.spend)
        ids.update(r.member_id for r in b.merged.ledger)
        ids.update(r.member_id for r in b.merged.registrations)
    if not ids:
        return
    wanted = sorted(ids)
    p = cdb.database.param
    marks = ", ".join([p] * len(wanted))
    alias = cdb.jobs.MemberAlias._meta.table_name
    cdb.database.execute_sql(
        f"SELECT member_id FROM members WHERE member_id IN ({marks}) OR member_id IN "
        f"(SELECT new_id FROM {alias} WHERE old_id IN ({marks})) ORDER BY member_id FOR UPDATE",
        [*wanted, *wanted],
    )


class _Later:
    """The additive figures of a group's batches (sku sales, daily totals, report rollups),
    written once after every batch: the same sums as batch by batch, in a few statements."""

    def __init__(self) -> None:
        """Nothing summed yet."""
        self.figures: list[Projection] = []
        self.rollups = GroupRollups()

    def write(self, cdb: CloudDB) -> None:
        """Write the group's figures and rollups."""
        if self.figures:
            apply_figures(cdb, combine([Projection(skus=p.skus, totals=p.totals)
                                        for p in self.figures]))  # fmt: skip
        self.rollups.flush(cdb)


@dataclass(frozen=True, slots=True)
class _Applied:
    """One batch applied under its terminal's lock: its outcome (without the member push),
    the members it touched and the business day they are pushed for."""

    outcome: BatchOutcome
    touched: list[str]
    today: dt.date
    now: dt.datetime


def _push_members(
    cdb: CloudDB, applied: Sequence[_Applied], rules: IngestRules
) -> list[PendingDown]:
    """Log the new facts of every member the batches touched, once each; per business day
    (stores in other time zones can be on another), in day order."""
    by_day: dict[dt.date, set[str]] = {}
    for a in applied:
        by_day.setdefault(a.today, set()).update(a.touched)
    down: list[PendingDown] = []
    for today in sorted(by_day):
        down += member_facts.push(
            cdb,
            sorted(by_day[today]),
            max(a.now for a in applied),
            rules.member_scope,
            policy=rules.tier_policy(rules.chain_version),
            today=today,
        )
    return down


def _apply_locked(
    cdb: CloudDB,
    batch: PreparedBatch,
    rules: IngestRules,
    term: seqstore.TerminalRow,
    later: _Later | None = None,
) -> _Applied:
    """Store and apply one batch inside the caller's transaction, its terminal's row locked
    and read as ``term``; everything but the member push, which the caller does after, and,
    with ``later``, the additive figures, which wait there for the rest of the group."""

    store_id, terminal_id, now = batch.store_id, batch.terminal_id, batch.now
    keyed = [(e.seq, e.epoch, e.type if e.dead_reason is None else "", e.body)
             for e in batch.events]  # fmt: skip
    rulings, starts, state = rule(term.state, term.high_water, keyed)
    verdict = {r.seq: r for r in rulings}
    storing = [e for e in batch.events if verdict[e.seq].decision is Decision.STORE]
    conflicts = [
        Conflict(e.seq, e.event_id, e.epoch, e.type, "", verdict[e.seq].reason, _envelope(e))
        for e in batch.events
        if verdict[e.seq].decision is Decision.FENCE
    ]
    deferred = [e.seq for e in batch.events if verdict[e.seq].decision is Decision.DEFER]
    tiers = tier_checks.judge(cdb, batch, storing, term.high_water, term.max_seq, rules)
    # A sale held for its tier is a held sale to the returns of it in this batch.
    judged = return_checks.judge(cdb, terminal_id, term.high_water, term.max_seq, [
        replace(e, hold_reasons=tiers.held[e.seq]) if e.seq in tiers.held else e
        for e in storing if e.seq not in tiers.waiting
    ])  # fmt: skip
    if tiers.held or tiers.waiting:
        judged = return_checks.Judged({**judged.held, **tiers.held},
                                      judged.waiting | tiers.waiting)  # fmt: skip
    if judged.held or judged.waiting:
        batch, storing = _rejudged(batch, storing, judged)
        deferred = sorted({*deferred, *judged.waiting})
    copies = seqstore.carried_duplicates(cdb, terminal_id, state,
                                     {e.seq: e.event_id for e in storing})  # fmt: skip
    if batch.lean_copy is not None and _all_new(cdb, batch, storing, copies, term.max_seq):
        # A lean batch whose events are all stored as they are: its COPY text is the rows.
        inserted = _copy_new(cdb, [batch.lean_copy], [e.seq for e in storing])
    else:
        if batch.lean_copy is not None:
            batch = batch.whole()  # a lean batch keeps no rows here: only its COPY text
        rows = []
        lines: list[str] | None = [] if batch.copy_lines and cdb.is_postgres else None
        for e in storing:
            row = batch.rows[e.seq]
            if e.seq in copies:  # carried by a repair, and already held at another seq
                row = (*row[:12], True, row[13], row[14], "duplicate", None)
            rows.append(row)
            if lines is not None:
                made = batch.copy_lines.get(e.seq)
                lines.append(made[1] if made is not None and made[0] is row else copy_line(row))
        inserted = _insert_events(cdb, rows, lines, above=term.max_seq)
    conflicts += _conflicts_among(cdb, terminal_id, [e for e in storing
                                                     if e.seq not in inserted])  # fmt: skip
    opened: list[EpochStart] = [s for s in starts if s.seq in inserted]
    if len(opened) < len(starts):
        state = term.state  # the start itself met a conflict: the epoch did not open
    high_water = term.high_water
    for start in opened:
        abandoned = seqstore.open_epoch(
            cdb, terminal_id=terminal_id, start=start, high_water=high_water,
            placeholder=_placeholder(batch, "abandoned"), now=now,
        )  # fmt: skip
        reason = Flag(
            "epoch.started",
            epoch=start.epoch,
            seq=start.seq,
            reason=epoch_reason(start.reason),
            abandoned=abandoned,
        )
        flag_terminal(cdb, terminal_id, store_id, reason, now)
    lost = _mark_lost(cdb, batch, [e for e in storing if e.seq in inserted], high_water)
    fresh = [e for e in storing if e.seq in inserted and e.seq not in copies]
    projected = batch.projected()
    live = [e for e in fresh if e.seq in projected]
    if len(live) == len(projected) and batch.lean_days is not None:
        merged, days = batch.merged, batch.lean_days
    else:
        # Some were stored before, or are duplicates of carried events: the projections of
        # the new ones are summed here (a lean batch is made whole for it).
        batch = batch.whole()
        whole = len(live) == len(projected)
        merged = batch.merged if whole else combine([batch.projections[e.seq] for e in live])
        days = {}
        for e in live:
            tier_spend.add_event(days, batch.projections[e.seq], e.type,
                                 batch.local_times[e.seq].date())  # fmt: skip
    origin = (terminal_id, max((e.seq for e in fresh), default=0))
    version = next((e.rules_version for e in reversed(live) if e.type == "sale"), "")
    today = now.replace(tzinfo=dt.UTC).astimezone(rules.tz_for(store_id)).date()
    touched, over = apply_members(cdb, merged, rules, now, origin, version, days, today,
                                  tiers.survivors)  # fmt: skip
    down: list[PendingDown] = []
    if merged.registrations:
        crm_privacy.scrub_late(cdb, [r.member_id for r in merged.registrations])
        # A phone registered twice is one member from now on.
        joined, down = merging.merge_marked(
            cdb, touched, now=now, scope=rules.member_scope,
            policy=rules.tier_policy(version), today=today,
        )  # fmt: skip
        touched = sorted({joined.get(member, member) for member in touched})
    if later is None:
        apply_figures(cdb, merged)
    elif merged.skus or merged.totals:
        later.figures.append(merged)
    # the events the projections took
    clocks = apply_rollups(cdb, batch, live, rules, later.rollups if later else None)
    dead = [e for e in fresh if e.dead_reason is not None]
    for event in dead:
        record_dead_letter(
            cdb, topic=batch.topic, terminal_id=terminal_id, claimed_terminal_id=terminal_id,
            reason=f"seq {event.seq}: {event.dead_reason}", seqs=[event.seq],
            payload=event.raw or _event_json(event), now=now,
        )  # fmt: skip
    if dead:
        flag_terminal(cdb, terminal_id, store_id,
                      Flag("event.unusable", reason=dead[0].dead_reason), now)  # fmt: skip
    for text in batch.unplaceable:
        record_dead_letter(cdb, topic=batch.topic, terminal_id=terminal_id,
                           claimed_terminal_id=terminal_id, reason=text, seqs=[],
                           payload=text.encode(), now=now)  # fmt: skip
    held = [e for e in fresh if e.hold_reasons]
    _hold(cdb, held, now)
    if held:
        flag_terminal(cdb, terminal_id, store_id,
                      Flag("event.implausible", type=held[0].type, seq=held[0].seq,
                           reason=held[0].hold_reasons[0]), now)  # fmt: skip
    seqstore.record_conflicts(cdb, terminal_id, conflicts, now)
    if conflicts:
        flag_terminal(cdb, terminal_id, store_id, conflicts[0].reason, now)
    seqstore.resolve_carried(cdb, terminal_id,
                         {e.event_id: e.seq for e in fresh if state.carry_from <= e.seq
                          <= state.carry_to}, state.epoch, now)  # fmt: skip
    if term.max_seq <= high_water and not opened and not lost:
        # Nothing was stored above the mark before: this batch alone can move it.
        high_water = advance_high_water(high_water, inserted)
    else:
        high_water = seqstore.high_water_after(cdb, terminal_id, high_water)
    max_seq = max(term.max_seq, high_water, *inserted, 0)
    # coupons, returns, reused receipt numbers
    effects, receipt_mark = remote_effects.apply(cdb, fresh, batch.local_times, now,
                                                 term.receipt_mark)  # fmt: skip
    down += effects
    seqstore.save_terminal(cdb, terminal_id, high_water, max_seq, state, now, receipt_mark)
    till_crm.apply(cdb, fresh)  # notes and complaints, into the member 360
    acked_id = next((e.event_id for e in storing if e.seq == high_water), None)
    if acked_id is None:
        acked_id = seqstore.event_id_at(cdb, terminal_id, high_water)
    outcome = BatchOutcome(
        high_water=high_water,
        inserted=len(inserted),
        duplicates=len(storing) - len(inserted),
        dead_lettered=sorted(e.seq for e in batch.events if e.dead_reason is not None),
        over_redemptions=over,
        down=down,
        conflicts=sorted(c.seq for c in conflicts)[: seqstore.MAX_ACK_CONFLICTS],
        held=sorted(e.seq for e in held),
        deferred=deferred,
        acked_event_id=acked_id,
        max_seq=max_seq,
        epoch=state.epoch,
        clocks=clocks,
    )
    return _Applied(outcome, touched, today, now)


def _rejudged(
    batch: PreparedBatch, storing: Sequence[IncomingEvent], judged: return_checks.Judged
) -> tuple[PreparedBatch, list[IncomingEvent]]:
    """The batch and the events to store once its returns were checked against their sales:
    a return to hold is stored held, out of the projections; one waiting for its sale is not
    stored now."""
    batch = batch.whole()
    events, rows = list(batch.events), dict(batch.rows)
    projections, lines = dict(batch.projections), dict(batch.copy_lines)
    for i, event in enumerate(events):
        reasons = judged.held.get(event.seq)
        if reasons is None:
            continue
        events[i] = replace(event, hold_reasons=reasons)
        rows[event.seq] = _row(events[i], batch.local_times[event.seq], str(batch.now), "held")
        projections.pop(event.seq, None)
        lines.pop(event.seq, None)
    by_seq = {e.seq: e for e in events}
    kept = [by_seq[e.seq] for e in storing if e.seq not in judged.waiting]
    whole = replace(batch, events=events, rows=rows, projections=projections, copy_lines=lines,
                    merged=combine(list(projections.values())), rollup_sums=None)  # fmt: skip
    return whole, kept


def _hold(cdb: CloudDB, held: Iterable[IncomingEvent], now: dt.datetime) -> None:
    rows = [
        {"terminal_id": e.terminal_id, "seq": e.seq, "store_id": e.store_id, "type": e.type,
         "reasons": list(e.hold_reasons), "rules_version": e.rules_version, "flagged_at": now}
        for e in held
    ]  # fmt: skip
    if rows:
        cdb.models.EventFlag.insert_many(rows).on_conflict_ignore().execute()


def apply_batch(
    cdb: CloudDB,
    *,
    store_id: str,
    terminal_id: str,
    events: Sequence[IncomingEvent],
    topic: str,
    rules: IngestRules,
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> BatchOutcome:
    """Prepare and commit one batch (the two halves in one call), as the worker does.

    Rollups are summed ahead by the default clocks (none read yet): a store registered with
    another clock has them summed again in the transaction.
    """
    prepared = prepare_batch(store_id=store_id, terminal_id=terminal_id, events=events,
                             topic=topic, rules=rules, now_aware=clock(), clocks={},
                             copy_text=cdb.is_postgres)  # fmt: skip
    return commit_batch(cdb, prepared, rules)


def reject_payload(
    cdb: CloudDB,
    *,
    topic: str,
    store_id: str | None,
    terminal_id: str | None,
    claimed_terminal_id: str,
    reason: str,
    seqs: Iterable[int],
    payload: bytes,
    placeable: Sequence[tuple[int, str, str]] = (),
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> tuple[int, str] | None:
    """Dead-letter a whole unusable message and flag its sender; return the sender's mark.

    ``placeable`` events (an event too large for any batch, whose seq could still be read)
    are kept dead in their place so the terminal's later events are acknowledged; otherwise
    the mark is unchanged. Returns (mark, event id at the mark), or None when the topic
    named no terminal at all.
    """
    now = clock().astimezone(dt.UTC).replace(tzinfo=None)
    with cdb.write():
        record_dead_letter(
            cdb, topic=topic, terminal_id=terminal_id or "",
            claimed_terminal_id=claimed_terminal_id, reason=reason, seqs=list(seqs),
            payload=payload, now=now,
        )  # fmt: skip
        if terminal_id is None or store_id is None:
            return None
        flag_terminal(cdb, terminal_id, store_id, reason, now)
        term = seqstore.lock_terminal(cdb, store_id, terminal_id)
        if not placeable:
            return term.high_water, seqstore.event_id_at(cdb, terminal_id, term.high_water)
        received, day = str(now), now.date().isoformat()
        rows = [(terminal_id, seq, event_id if len(event_id) == 36 else "", store_id,
                 (kind or "unknown")[:32], "", False, received, day, now.hour, 0, "", True,
                 "{}", "", "dead", None) for seq, event_id, kind in placeable]  # fmt: skip
        insert_rows(cdb, "events", EVENT_COLUMNS, rows, on_conflict="ON CONFLICT DO NOTHING")
        mark = seqstore.high_water_after(cdb, terminal_id, term.high_water)
        top = max([term.max_seq, mark, *(seq for seq, _, _ in placeable)])
        seqstore.save_terminal(cdb, terminal_id, mark, top, term.state, now, term.receipt_mark)
        return mark, seqstore.event_id_at(cdb, terminal_id, mark)
