"""The outbox: gapless seq and receipt counters, event rows, and the sync layer's queue API.

A row waits for the cloud's ACK while its seq is above the ACKED counter. An acknowledged row
is kept for the resend window (``DEFAULT_RESEND_WINDOW``): a cloud database restored from an
older backup has lost what it acknowledged after the backup, and the till sends those events
again, the same seq, id, body and epoch (docs/sync.md). So every reader that means "not yet
acknowledged" reads ``seq > acked``, never the whole table.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast

import msgspec

from device.store.db import Database
from device.store.errors import InvalidRecord, StoreError
from device.store.serialize import encode, iso_utc, parse_utc
from protocol.envelope import PROTOCOL_VERSION

# One statement bumps and reads a counter inside the caller's transaction; a counter row
# (never AUTOINCREMENT) is what keeps seq and receipt numbers free of gaps after a rollback.
_BUMP: Final = (
    "INSERT INTO counter (name, value) VALUES (?, 1) "
    "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
)
INSERT_SQL: Final = (
    "INSERT INTO outbox (seq, event_id, type, device_time, clock_synced, body, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# A sale's event body lives on its sale row (written once per sale, see journal.py).
PENDING_SQL: Final = (
    "SELECT o.seq, o.event_id, o.type, o.device_time, o.clock_synced, "
    "coalesce(o.body, s.body), o.created_at "
    "FROM outbox AS o LEFT JOIN sale AS s ON o.body IS NULL AND s.seq = o.seq "
    "WHERE o.seq > ? ORDER BY o.seq LIMIT ?"
)
# The same rows as wire envelopes (protocol.envelope.Envelope, its fields in its order), built
# by SQLite in one pass: the body is spliced in as the JSON text stored at record time, the
# text columns go through json_quote, and ?1-?3 are the frame's constant parts. The publisher
# then only joins envelopes into batches, so no event is decoded or re-encoded on its way out.
WIRE_SQL: Final = (
    "SELECT o.seq, CAST(?1 || json_quote(o.event_id) || ?2 || o.seq "
    """|| ',"type":' || json_quote(o.type) || ',"device_time":' || json_quote(o.device_time) """
    """|| ',"clock_synced":' || iif(o.clock_synced, 'true', 'false') """
    """|| ',"body":' || coalesce(o.body, s.body) || ?3 AS BLOB) """
    "FROM outbox AS o LEFT JOIN sale AS s ON o.body IS NULL AND s.seq = o.seq "
    "WHERE o.seq > ?4 ORDER BY o.seq LIMIT ?5"
)
SEQ_COUNTER: Final = "seq"
ACKED_COUNTER: Final = "acked"
# The ACKED counter as a scalar subquery (0 before the first ACK): ``seq > (ACKED_SQL)`` is a
# range over the outbox's INTEGER PRIMARY KEY, so it stays an index range scan however many
# acknowledged rows the resend window holds.
ACKED_SQL: Final = f"coalesce((SELECT value FROM counter WHERE name = '{ACKED_COUNTER}'), 0)"
RECEIPT_COUNTER_PREFIX: Final = "receipt:"
#: How long acknowledged events stay, to be sent again to a cloud restored from a backup. A
#: week covers a restore from last night's (or last weekend's) backup noticed days later. On
#: an SD card it costs little: a sale's outbox row holds no body (the sale row, kept anyway,
#: holds it), so a busy till's week is a few MB, and pruning adds no writes of its own (it
#: rides in the ACK's transaction). 0 deletes on ACK, as before there was a window.
DEFAULT_RESEND_WINDOW: Final = dt.timedelta(days=7)
# A clock stepped far ahead must not pin rows for ever: a row stamped more than this ahead of
# the ACK's time counts as old (so pruning can pass it).
_FUTURE_SLACK: Final = dt.timedelta(days=1)
# The first acknowledged row still inside the window, walking up from the oldest row: rows are
# pruned oldest first on every ACK, so this reads about one row (the walk stops at the first
# match), and the prune is a rowid range delete below it.
_KEEP_FROM: Final = (
    "SELECT seq FROM outbox WHERE seq <= ?1 AND created_at >= ?2 AND created_at <= ?3 "
    "ORDER BY seq LIMIT 1"
)


def bump(conn: sqlite3.Connection, name: str) -> int:
    """Increment counter ``name`` (creating it at 1) and return the new value."""
    return int(conn.execute(_BUMP, (name,)).fetchall()[0][0])


def counter(conn: sqlite3.Connection, name: str) -> int:
    """Current value of a counter (0 when it was never bumped)."""
    row = conn.execute("SELECT value FROM counter WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def set_counter(conn: sqlite3.Connection, name: str, value: int) -> None:
    """Set counter ``name`` to ``value`` (a repair moving the seq past the cloud's)."""
    conn.execute(
        "INSERT INTO counter (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (name, value),
    )


def next_seq(conn: sqlite3.Connection) -> int:
    """The next outbox seq for this terminal (1, 2, 3, ... with no gaps)."""
    return bump(conn, SEQ_COUNTER)


_BUMP_BOTH: Final = (
    "INSERT INTO counter (name, value) VALUES (?, 1), (?, 1) "
    "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING name, value"
)


def next_seq_and_receipt(
    conn: sqlite3.Connection, prefix: str, business_date: str
) -> tuple[int, str]:
    """The next seq and the next receipt number of the day, in one statement (commit path)."""
    day_counter = RECEIPT_COUNTER_PREFIX + business_date
    values = dict(conn.execute(_BUMP_BOTH, (SEQ_COUNTER, day_counter)).fetchall())
    return int(values[SEQ_COUNTER]), f"{prefix}-{business_date}-{values[day_counter]:04d}"


def next_receipt(conn: sqlite3.Connection, prefix: str, business_date: str) -> str:
    """The next receipt number for a business day: ``{prefix}-{YYYYMMDD}-{NNNN}``."""
    number = bump(conn, RECEIPT_COUNTER_PREFIX + business_date)
    return f"{prefix}-{business_date}-{number:04d}"


def append(
    conn: sqlite3.Connection,
    seq: int,
    event_type: str,
    device_time: str,
    clock_synced: bool,
    body: dict[str, Any] | None,
    created_at: str,
) -> None:
    """Write the event row for ``seq`` inside the caller's transaction.

    ``body`` None is for a sale: its row in the sale table (same seq) holds the event body.
    """
    text = None if body is None else encode(body)
    event_id = str(uuid.uuid4())
    conn.execute(
        INSERT_SQL, (seq, event_id, event_type, device_time, int(clock_synced), text, created_at)
    )


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One event from the outbox (waiting for an ACK, or kept to resend); ``body`` is JSON."""

    seq: int
    event_id: str
    type: str
    device_time: str
    clock_synced: bool
    body: str
    created_at: str


@dataclass(frozen=True, slots=True)
class WireFrame:
    """The constant JSON of one terminal's envelopes, around each event's own columns."""

    lead: str  # up to the event id
    ids: str  # after the event id, up to the seq
    tail: str  # after the body: the epoch and the closing brace

    @classmethod
    def of(cls, terminal_id: str, store_id: str, epoch: str) -> WireFrame:
        """The frame for envelopes from this terminal and store file."""

        def quoted(text: str) -> str:
            return msgspec.json.encode(text).decode()

        return cls(
            lead=f'{{"v":{PROTOCOL_VERSION},"id":',
            ids=f',"terminal_id":{quoted(terminal_id)},"store_id":{quoted(store_id)},"seq":',
            tail=f',"epoch":{quoted(epoch)}}}',
        )


class Outbox:
    """What the sync layer uses: read events in seq order, acknowledge them, resend them.

    ``resend_window`` is how long an acknowledged event is kept to be sent again; ``now`` is
    the clock pruning measures it by (the store's clock, or UTC wall time).
    """

    def __init__(
        self,
        db: Database,
        resend_window: dt.timedelta = DEFAULT_RESEND_WINDOW,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        if resend_window < dt.timedelta(0):
            raise InvalidRecord(f"resend window {resend_window} is negative")
        self._db = db
        self.resend_window = resend_window
        self._now = now or (lambda: dt.datetime.now(dt.UTC))

    def pending(self, after_seq: int | None = None, limit: int = 500) -> list[OutboxRow]:
        """Events with seq > ``after_seq`` (None: the unacknowledged ones), oldest first.

        Kept (acknowledged) rows are included when ``after_seq`` is below the ACKED counter:
        that is how they are sent again. At most ``limit`` rows.
        """
        start = self.acked_seq() if after_seq is None else after_seq
        rows = self._db.query(PENDING_SQL, (start, limit))
        return [OutboxRow(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6]) for r in rows]

    def wire(self, after_seq: int, limit: int, frame: WireFrame) -> list[tuple[int, bytes]]:
        """(seq, wire envelope as JSON bytes) of events with seq > ``after_seq``, oldest first.

        As with pending(), an ``after_seq`` below the ACKED counter reads kept rows too: a
        sale's body still comes from its sale row, which the journal never deletes.
        """
        params = (frame.lead, frame.ids, frame.tail, after_seq, limit)
        rows = cast("list[tuple[int, bytes]]", self._db.query(WIRE_SQL, params))
        for seq, envelope in rows:
            if envelope is None:  # the schema's CHECK forbids it: a sale row gone missing
                raise StoreError(f"outbox seq {seq} has no body (nor a sale row holding it)")
        return rows

    def ack(self, up_to_seq: int) -> int:
        """The cloud holds every seq <= ``up_to_seq``; repeating an ACK is harmless.

        Raises the ACKED counter (never lowers it) and, in the same transaction, deletes the
        rows up to ``up_to_seq`` older than the resend window. Returns how many rows were deleted.
        An ACK beyond the last seq written here means the cloud holds events this file never
        had (a restored backup?), so it is refused.
        """
        now = self._now()
        cutoff = iso_utc(now - self.resend_window)
        future = iso_utc(now + _FUTURE_SLACK)
        with self._db.write() as conn:
            last = counter(conn, SEQ_COUNTER)
            if up_to_seq > last:
                raise InvalidRecord(
                    f"cloud acknowledged seq {up_to_seq} but this terminal has only written "
                    f"up to {last}; was the database restored from an old backup?"
                )
            conn.execute(
                "INSERT INTO counter (name, value) VALUES (?, ?) ON CONFLICT (name) "
                "DO UPDATE SET value = max(value, excluded.value)",
                (ACKED_COUNTER, up_to_seq),
            )
            # Only rows this ACK covers: a restored cloud's ACKs (below the counter) must not
            # prune rows above them that it is being sent again.
            if self.resend_window:
                keep = conn.execute(_KEEP_FROM, (up_to_seq, cutoff, future)).fetchone()
                below = int(keep[0]) if keep else up_to_seq + 1
            else:
                below = up_to_seq + 1
            deleted = conn.execute("DELETE FROM outbox WHERE seq < ?", (below,)).rowcount
        return int(deleted)

    def event_id_at(self, seq: int) -> str | None:
        """The id of the unacknowledged event at ``seq`` (None once acknowledged or never)."""
        row = self._db.row(
            f"SELECT event_id FROM outbox WHERE seq = ? AND seq > {ACKED_SQL}", (seq,)
        )
        return str(row[0]) if row else None

    def depth(self) -> int:
        """How many events wait for an ACK (kept, acknowledged rows are not counted)."""
        return int(self._db.query(f"SELECT count(*) FROM outbox WHERE seq > {ACKED_SQL}")[0][0])

    def oldest_unsynced_age_s(self, now: dt.datetime) -> float | None:
        """Age of the oldest unacknowledged event, or None when none waits."""
        rows = self._db.query(
            f"SELECT created_at FROM outbox WHERE seq > {ACKED_SQL} ORDER BY seq LIMIT 1"
        )
        if not rows:
            return None
        return max(0.0, (now - parse_utc(rows[0][0])).total_seconds())

    def oldest_kept(self) -> int | None:
        """The lowest seq still in the outbox, acknowledged or not (None when it is empty)."""
        row = self._db.row("SELECT min(seq) FROM outbox")
        return int(row[0]) if row and row[0] is not None else None

    def last_seq(self) -> int:
        """The highest seq ever written (acked or not)."""
        return counter(self._db.conn(), SEQ_COUNTER)

    def acked_seq(self) -> int:
        """The highest seq the cloud has acknowledged."""
        return counter(self._db.conn(), ACKED_COUNTER)


def emit(
    conn: sqlite3.Connection,
    event_type: str,
    device_time: str,
    clock_synced: bool,
    body: dict[str, Any],
    created_at: str,
) -> int:
    """Take the next seq and write one event with it, inside the caller's transaction."""
    seq = next_seq(conn)
    append(conn, seq, event_type, device_time, clock_synced, body, created_at)
    return seq
