"""A terminal's seqs in the cloud: its row lock, conflicts, epochs, carried and abandoned seqs."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloud.domain.contiguity import advance_high_water
from cloud.domain.epochs import EpochStart, EpochState, abandoned_range
from cloud.store.bulk import add_rows, insert_rows
from cloud.store.db import CloudDB

#: Conflicting or fenced events listed in one ACK (the rest are still recorded).
MAX_ACK_CONFLICTS = 500

#: The one row layout of the events table, as ingest writes it.
EVENT_COLUMNS = ("terminal_id", "seq", "event_id", "store_id", "type", "device_time",
                 "clock_synced", "received_at", "business_day", "business_hour", "amount_fen",
                 "receipt_no", "dead", "body", "epoch", "status", "member_id")  # fmt: skip


@dataclass(frozen=True, slots=True)
class TerminalRow:
    """The locked terminal row: contiguity, the store file's epoch, the receipt mark."""

    high_water: int
    max_seq: int
    state: EpochState
    # The highest receipt key of its stored sales (cloud.domain.receipt_numbers); None until
    # known (a terminal stored before it was kept, or without sales yet).
    receipt_mark: int | None = None


def lock_terminal(cdb: CloudDB, store_id: str, terminal_id: str) -> TerminalRow:
    """Create the terminal's row if new, lock it for this transaction, and read it.

    The no-op DO UPDATE is what takes the row lock on PostgreSQL (DO NOTHING would not), so
    two workers holding batches of one terminal take turns; on SQLite the write transaction
    already excludes every other writer.
    """
    [row] = add_rows(
        cdb, "terminals", ["terminal_id"], [],
        [(terminal_id, store_id, 0, 0, False, False, "", "", 1, 0, 0, 0)],
        also_set=(),
        insert_only=("store_id", "high_water", "max_seq", "online", "flagged", "flag_reason",
                     "epoch", "epoch_since", "carry_after", "carry_from", "carry_to"),
        returning=("high_water", "max_seq", "epoch", "epoch_since", "carry_after",
                   "carry_from", "carry_to", "receipt_mark"),
        touch="store_id",
    )  # fmt: skip
    high_water, max_seq, epoch, since, after, first, last, receipts = row
    state = EpochState(str(epoch or ""), int(since), int(after), int(first), int(last))
    return TerminalRow(int(high_water), int(max_seq), state,
                       None if receipts is None else int(receipts))  # fmt: skip


def save_terminal(
    cdb: CloudDB, terminal_id: str, high_water: int, max_seq: int, state: EpochState,
    now: dt.datetime, receipt_mark: int | None,
) -> None:  # fmt: skip
    """Write back the mark, the top seq, the epoch and the receipt mark after a batch."""
    m = cdb.models
    cdb.defer_query(m.Terminal.update(
        high_water=high_water, max_seq=max_seq, last_seen=now, epoch=state.epoch,
        epoch_since=state.since_seq, carry_after=state.carry_after, carry_from=state.carry_from,
        carry_to=state.carry_to, receipt_mark=receipt_mark,
    ).where(m.Terminal.terminal_id == terminal_id))  # fmt: skip


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


def stored_versions(
    cdb: CloudDB, terminal_id: str, seqs: Iterable[int]
) -> dict[int, tuple[str, Any]]:
    """seq -> (event id, body) of what the cloud already holds at those seqs."""
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    m = cdb.models
    rows = (
        m.Event.select(m.Event.seq, m.Event.event_id, m.Event.body)
        .where((m.Event.terminal_id == terminal_id) & m.Event.seq.in_(wanted))
        .tuples()
    )
    return {int(seq): (str(event_id), body) for seq, event_id, body in rows}


def event_id_at(cdb: CloudDB, terminal_id: str, seq: int) -> str:
    """The id of the event stored at (terminal, seq), "" when none (or a placeholder)."""
    if seq <= 0:
        return ""
    m = cdb.models
    row = (
        m.Event.select(m.Event.event_id)
        .where((m.Event.terminal_id == terminal_id) & (m.Event.seq == seq))
        .tuples()
        .first()
    )
    return str(row[0]) if row else ""


def carried_duplicates(
    cdb: CloudDB, terminal_id: str, state: EpochState, candidates: Mapping[int, str]
) -> dict[int, int]:
    """Carried seq -> the seq that already holds the same event (by id), for a repair's resend.

    Only the range the repair named is searched: seqs above ``carry_after`` (what the
    restored file had seen acknowledged) and below the epoch's start.
    """
    carried = {
        event_id: seq
        for seq, event_id in candidates.items()
        if state.carry_from <= seq <= state.carry_to and event_id
    }
    if not carried:
        return {}
    m = cdb.models
    rows = (
        m.Event.select(m.Event.seq, m.Event.event_id)
        .where(
            (m.Event.terminal_id == terminal_id)
            & (m.Event.seq > state.carry_after)
            & (m.Event.seq < state.since_seq)
            & m.Event.event_id.in_(sorted(carried))
        )
        .tuples()
    )
    return {carried[str(event_id)]: int(seq) for seq, event_id in rows}


@dataclass(frozen=True, slots=True)
class Conflict:
    """An event the cloud could not put at its seq: the seq holds something else, or fenced."""

    seq: int
    event_id: str
    epoch: str
    type: str
    stored_event_id: str
    reason: str
    envelope: Mapping[str, Any]


def same_content(stored_body: Any, body: Mapping[str, Any]) -> bool:
    """Whether a stored body and an incoming one are the same event content."""
    return bool(json.loads(json.dumps(stored_body)) == json.loads(json.dumps(dict(body))))


def record_conflicts(
    cdb: CloudDB, terminal_id: str, conflicts: Sequence[Conflict], now: dt.datetime
) -> None:
    """Keep every conflicting version beside the stored one (never silently dropped)."""
    if not conflicts:
        return
    cdb.models.EventConflict.insert_many(
        [
            {
                "terminal_id": terminal_id, "seq": c.seq, "stored_event_id": c.stored_event_id,
                "event_id": c.event_id, "epoch": c.epoch, "type": c.type[:32],
                "reason": str(c.reason), "envelope": dict(c.envelope), "received_at": now,
            }
            for c in conflicts
        ]
    ).execute()  # fmt: skip


def resolve_carried(
    cdb: CloudDB, terminal_id: str, carried: Mapping[str, int], epoch: str, now: dt.datetime
) -> int:
    """Close open conflicts whose event a repair has now carried into the new epoch."""
    if not carried:
        return 0
    m = cdb.models
    resolved = 0
    for event_id, seq in sorted(carried.items()):
        resolved += (
            m.EventConflict.update(
                state="carried", resolution=f"carried into epoch {epoch} as seq {seq} at {now}"
            )
            .where(
                (m.EventConflict.terminal_id == terminal_id)
                & (m.EventConflict.event_id == event_id)
                & (m.EventConflict.state == "open")
            )
            .execute()
        )
    return resolved


def open_epoch(
    cdb: CloudDB,
    *,
    terminal_id: str,
    start: EpochStart,
    high_water: int,
    placeholder: Any,
    now: dt.datetime,
) -> int:
    """Record a new epoch and put an 'abandoned' row at every seq the lost file never sent.

    Returns how many seqs were abandoned. ``placeholder(seq)`` builds the event row.
    """
    span = abandoned_range(high_water, start)
    abandoned = fill_gaps(cdb, terminal_id, *span, placeholder) if span is not None else []
    cdb.models.TerminalEpoch.insert(
        terminal_id=terminal_id, epoch=start.epoch, previous_epoch=start.previous_epoch,
        since_seq=start.seq, reason=start.reason,
        abandoned_from=span[0] if span else 0, abandoned_to=span[1] if span else -1,
        abandoned=len(abandoned), carried=start.carried, started_at=now,
    ).on_conflict_ignore().execute()  # fmt: skip
    return len(abandoned)


def fill_gaps(cdb: CloudDB, terminal_id: str, first: int, last: int, placeholder: Any) -> list[int]:
    """Put a placeholder row at every seq in first..last the cloud does not hold; return those.

    The seqs a repair's new epoch abandoned ('abandoned'), or that a terminal's ``seqs_lost``
    event names ('lost': a cloud restored from an older backup lost them and the till's resend
    window no longer holds them). The placeholders let the mark pass; an event that still turns
    up at one of those seqs is kept as a conflict. ``placeholder(seq)`` builds the event row.
    """
    if first > last:
        return []
    e = cdb.models.Event
    held = {
        int(seq)
        for (seq,) in e.select(e.seq)
        .where((e.terminal_id == terminal_id) & e.seq.between(first, last))
        .tuples()
    }
    missing = [seq for seq in range(first, last + 1) if seq not in held]
    insert_rows(
        cdb, "events", EVENT_COLUMNS, [placeholder(seq) for seq in missing],
        on_conflict="ON CONFLICT DO NOTHING",
    )  # fmt: skip
    return missing
