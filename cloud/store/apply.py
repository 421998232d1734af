"""Apply one terminal's batch in one transaction: store new events, project them, advance the mark.

Correctness never depends on arrival order or on which worker got the message: the
(terminal, seq) unique key decides what is new (INSERT ... ON CONFLICT DO NOTHING RETURNING),
projections run for exactly those rows, and the terminal's row is locked first so two
workers holding batches of the same terminal take turns.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from cloud.domain.contiguity import advance_high_water
from cloud.domain.errors import DomainError
from cloud.domain.projections import EventFacts, Projection, business_time, combine, project
from cloud.store.bulk import add_rows, copy_insert_rows
from cloud.store.db import CloudDB
from cloud.store.effects import IngestRules, PendingDown, apply_figures, apply_members
from cloud.store.rollups import apply_rollups

#: Bytes of an offending payload kept in a dead letter; the full size is recorded beside it.
DEAD_LETTER_PAYLOAD_LIMIT = 256 * 1024


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """A decoded envelope; ``dead_reason`` is set when its body failed validation."""

    event_id: str
    terminal_id: str
    store_id: str
    seq: int
    type: str
    device_time: dt.datetime
    device_time_text: str
    clock_synced: bool
    body: Mapping[str, Any]
    raw: bytes = b""  # the envelope as JSON, kept if the event is dead-lettered
    dead_reason: str | None = None


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one batch did; ``high_water`` is what the ACK names."""

    high_water: int
    inserted: int
    duplicates: int
    dead_lettered: list[int]
    over_redemptions: int
    down: list[PendingDown] = field(default_factory=list)


def _amount_and_receipt(event: IncomingEvent) -> tuple[int, str]:
    body = event.body
    key = {"sale": "total_fen", "return": "refund_fen"}.get(event.type)
    amount = body.get(key, 0) if key else 0
    receipt = body.get("receipt_no", "")
    ok_amount = isinstance(amount, int) and not isinstance(amount, bool)
    return (amount if ok_amount else 0), (receipt if isinstance(receipt, str) else "")


def _lock_terminal(cdb: CloudDB, store_id: str, terminal_id: str) -> tuple[int, int]:
    """Create the terminal's row if new, lock it for this transaction; return (mark, max seq).

    The no-op DO UPDATE is what takes the row lock on PostgreSQL (DO NOTHING would not), so
    two workers holding batches of one terminal take turns; on SQLite the write transaction
    already excludes every other writer.
    """
    [(high_water, max_seq)] = add_rows(
        cdb, "terminals", ["terminal_id"], [], [(terminal_id, store_id, 0, 0, False, False, "")],
        also_set=(),
        insert_only=("store_id", "high_water", "max_seq", "online", "flagged", "flag_reason"),
        returning=("high_water", "max_seq"), touch="store_id",
    )  # fmt: skip
    return int(high_water), int(max_seq)


def flag_terminal(
    cdb: CloudDB, terminal_id: str, store_id: str, reason: str, now: dt.datetime
) -> None:
    """Mark a terminal for HQ's attention (bad payloads); the newest reason is kept."""
    m = cdb.models
    m.Terminal.insert(terminal_id=terminal_id, store_id=store_id).on_conflict_ignore().execute()
    m.Terminal.update(flagged=True, flag_reason=reason[:2000], flagged_at=now).where(
        m.Terminal.terminal_id == terminal_id
    ).execute()


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
        terminal_id=terminal_id,
        claimed_terminal_id=claimed_terminal_id,
        reason=reason,
        seqs=list(seqs),
        payload=bytes(payload[:DEAD_LETTER_PAYLOAD_LIMIT]),
        payload_size=len(payload),
    ).execute()


def _project_all(
    events: Sequence[IncomingEvent], rules: IngestRules, now_aware: dt.datetime
) -> tuple[list[IncomingEvent], dict[int, Projection], dict[int, dt.datetime]]:
    """Project every event up front; an unusable body turns its event dead (stored, not applied)."""
    out: list[IncomingEvent] = []
    projections: dict[int, Projection] = {}
    local_times: dict[int, dt.datetime] = {}
    for event in events:
        tz = rules.tz_for(event.store_id)
        local = business_time(event.device_time, event.clock_synced, now_aware, tz)
        local_times[event.seq] = local
        if event.dead_reason is None:
            facts = EventFacts(event.terminal_id, event.store_id, event.seq, event.type,
                               event.body, local)  # fmt: skip
            try:
                projections[event.seq] = project(facts)
            except DomainError as err:
                event = IncomingEvent(**{**_fields(event), "dead_reason": str(err)})
        out.append(event)
    return out, projections, local_times


def _event_json(event: IncomingEvent) -> bytes:
    return json.dumps(
        {"id": event.event_id, "terminal_id": event.terminal_id, "store_id": event.store_id,
         "seq": event.seq, "type": event.type, "device_time": event.device_time_text,
         "clock_synced": event.clock_synced, "body": dict(event.body)},
        ensure_ascii=False,
    ).encode()  # fmt: skip


def _fields(event: IncomingEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in IncomingEvent.__slots__}


EVENT_COLUMNS = ("terminal_id", "seq", "event_id", "store_id", "type", "device_time",
                 "clock_synced", "received_at", "business_day", "business_hour", "amount_fen",
                 "receipt_no", "dead", "body")  # fmt: skip


def _event_rows(
    events: Sequence[IncomingEvent], local_times: Mapping[int, dt.datetime], now: dt.datetime
) -> list[tuple[Any, ...]]:
    rows = []
    received = str(now)
    for event in events:
        amount, receipt = _amount_and_receipt(event)
        local = local_times[event.seq]
        rows.append(
            (event.terminal_id, event.seq, event.event_id, event.store_id, event.type[:32],
             event.device_time_text, event.clock_synced, received, local.date().isoformat(),
             local.hour, amount, receipt[:64], event.dead_reason is not None,
             _json(event.body))
        )  # fmt: skip
    return rows


def _insert_events(cdb: CloudDB, rows: Sequence[tuple[Any, ...]]) -> set[int]:
    """Insert, skipping (terminal, seq) already stored; return the seqs this call inserted."""
    returned = copy_insert_rows(
        cdb, "events", EVENT_COLUMNS, rows, conflict=("terminal_id", "seq"), returning=("seq",)
    )
    return {int(seq) for (seq,) in returned}


def _json(body: Mapping[str, Any]) -> str:
    # Same text JsonText writes (sorted keys, compact), made faster by msgspec.
    return msgspec.json.encode(body, order="sorted").decode()


def high_water_after(cdb: CloudDB, terminal_id: str, current: int) -> int:
    """Advance ``current`` over the seqs stored above it."""
    m = cdb.models
    above = (
        m.Event.select(m.Event.seq)
        .where((m.Event.terminal_id == terminal_id) & (m.Event.seq > current))
        .order_by(m.Event.seq)
        .tuples()
    )
    return advance_high_water(current, (seq for (seq,) in above))


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """Everything about a batch that needs no database: rows, projections, their sum.

    Preparing is pure CPU work, so the ingest worker prepares the next message while the
    previous one's transaction waits on the database.
    """

    store_id: str
    terminal_id: str
    topic: str
    events: list[IncomingEvent]  # unique seqs; dead_reason set where the body is unusable
    rows: list[tuple[Any, ...]]  # event rows, in the order of ``events``
    projections: dict[int, Projection]
    merged: Projection  # the sum over every live event (used when none was a duplicate)
    now: dt.datetime  # receive time, naive UTC


def prepare_batch(
    *,
    store_id: str,
    terminal_id: str,
    events: Sequence[IncomingEvent],
    topic: str,
    rules: IngestRules,
    now_aware: dt.datetime,
) -> PreparedBatch:
    """Project a decoded batch and build its rows, without touching the database."""
    now = now_aware.astimezone(dt.UTC).replace(tzinfo=None)
    # A seq repeated inside one message is one event; the first copy wins, like across messages.
    seen: set[int] = set()
    unique = [e for e in events if not (e.seq in seen or seen.add(e.seq))]
    live, projections, local_times = _project_all(unique, rules, now_aware)
    return PreparedBatch(
        store_id=store_id,
        terminal_id=terminal_id,
        topic=topic,
        events=live,
        rows=_event_rows(live, local_times, now),
        projections=projections,
        merged=combine([projections[e.seq] for e in live if e.dead_reason is None]),
        now=now,
    )


def commit_batch(cdb: CloudDB, batch: PreparedBatch, rules: IngestRules) -> BatchOutcome:
    """Store and apply a prepared batch in one transaction; return what the ACK should say."""
    store_id, terminal_id, now, events = batch.store_id, batch.terminal_id, batch.now, batch.events
    with cdb.write():
        current_mark, max_seq = _lock_terminal(cdb, store_id, terminal_id)
        inserted = _insert_events(cdb, batch.rows)
        fresh = [e for e in events if e.seq in inserted]
        if len(fresh) == len(events):
            merged = batch.merged
        else:  # some were stored before: apply only the new ones
            merged = combine([batch.projections[e.seq] for e in fresh if e.dead_reason is None])
        origin = (terminal_id, max((e.seq for e in fresh), default=0))
        down, over = apply_members(cdb, merged, rules, now, origin)
        apply_figures(cdb, merged)
        apply_rollups(cdb, batch, fresh, rules)
        dead = [e for e in events if e.dead_reason is not None]
        for event in dead:
            if event.seq in inserted:
                record_dead_letter(
                    cdb, topic=batch.topic, terminal_id=terminal_id,
                    claimed_terminal_id=terminal_id,
                    reason=f"seq {event.seq}: {event.dead_reason}", seqs=[event.seq],
                    payload=event.raw or _event_json(event), now=now,
                )  # fmt: skip
        if any(e.seq in inserted for e in dead):
            flag_terminal(cdb, terminal_id, store_id, f"unusable event body: {dead[0].dead_reason}",
                          now)  # fmt: skip
        if max_seq <= current_mark:
            # Nothing was stored above the mark before: this batch alone can move it.
            high_water = advance_high_water(current_mark, inserted)
        else:
            high_water = high_water_after(cdb, terminal_id, current_mark)
        m = cdb.models
        m.Terminal.update(
            high_water=high_water, max_seq=max(max_seq, *inserted, 0), last_seen=now
        ).where(m.Terminal.terminal_id == terminal_id).execute()
    return BatchOutcome(
        high_water=high_water,
        inserted=len(inserted),
        duplicates=len(events) - len(inserted),
        dead_lettered=sorted(e.seq for e in dead),
        over_redemptions=over,
        down=down,
    )


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
    """Prepare and commit one batch (the two halves in one call)."""
    prepared = prepare_batch(store_id=store_id, terminal_id=terminal_id, events=events,
                             topic=topic, rules=rules, now_aware=clock())  # fmt: skip
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
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> int | None:
    """Dead-letter a whole unusable message and flag its sender; return the sender's mark.

    The mark is unchanged (nothing was stored), so the ACK does not advance; it is None when
    the topic named no terminal at all.
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
        m = cdb.models
        row = m.Terminal.get(m.Terminal.terminal_id == terminal_id)
        return int(row.high_water)
