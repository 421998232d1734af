"""HQ's side of integrity: held events, conflicts and epochs to review; accept or reject a held one.

A held event is stored with its seq (so the terminal's sync goes on) but kept out of every
projection. Accepting it applies it now, exactly as ingest would have: member spend, points,
figures and report rollups, at its original business day. Rejecting it keeps it out for good.
Either way the decision is recorded on the flag, and the API audits who made it.
"""

from __future__ import annotations

from typing import Any

from cloud.store.db import CloudDB, utcnow
from cloud.store.effects import IngestRules, PendingDown
from cloud.store.errors import CloudStoreError
from cloud.store.held_apply import project_held, push_touched


class DecisionError(CloudStoreError):
    """A flag that cannot take this decision (unknown, or already decided); the text says why."""


def _held(cdb: CloudDB, terminal_id: str, seq: int) -> tuple[Any, Any]:
    m = cdb.models
    key = (m.EventFlag.terminal_id == terminal_id) & (m.EventFlag.seq == seq)
    flag = cdb.locking(m.EventFlag.select().where(key)).first()
    if flag is None:
        raise DecisionError(f"no held event {terminal_id} seq {seq}")
    if flag.state != "open":
        raise DecisionError(
            f"{terminal_id} seq {seq} was already {flag.state} by {flag.decided_by or 'HQ'}"
        )
    event = m.Event.get((m.Event.terminal_id == terminal_id) & (m.Event.seq == seq))
    return flag, event


def _decide(cdb: CloudDB, flag: Any, state: str, who: str, note: str) -> None:
    m = cdb.models
    m.EventFlag.update(
        state=state, decided_by=who[:64], decided_at=utcnow(), note=note[:2000]
    ).where((m.EventFlag.terminal_id == flag.terminal_id) & (m.EventFlag.seq == flag.seq)).execute()


def accept(
    cdb: CloudDB, terminal_id: str, seq: int, who: str, note: str, rules: IngestRules
) -> list[PendingDown]:
    """Apply a held event as ingest would have; returns member changes to publish."""
    with cdb.write():
        flag, event = _held(cdb, terminal_id, seq)
        now = utcnow()
        touched = project_held(cdb, event, str(flag.rules_version or ""), rules, now)
        _decide(cdb, flag, "accepted", who, note)
        down = push_touched(cdb, touched, event.store_id, rules, now)
    return down


def reject(cdb: CloudDB, terminal_id: str, seq: int, who: str, note: str) -> None:
    """Keep a held event out of the figures for good (it stays stored, marked rejected)."""
    m = cdb.models
    if not note.strip():
        raise DecisionError("say why the event is rejected: the note is what an auditor reads")
    with cdb.write():
        flag, _ = _held(cdb, terminal_id, seq)
        m.Event.update(status="rejected").where(
            (m.Event.terminal_id == terminal_id) & (m.Event.seq == seq)
        ).execute()
        _decide(cdb, flag, "rejected", who, note)


def flags(
    cdb: CloudDB, *, state: str | None, stores: frozenset[str] | None, limit: int
) -> list[dict[str, Any]]:
    """Held events, newest first, with their reasons and the event itself."""
    m = cdb.models
    same_event = (m.Event.terminal_id == m.EventFlag.terminal_id) & (m.Event.seq == m.EventFlag.seq)
    query = (
        m.EventFlag.select(m.EventFlag, m.Event.body, m.Event.amount_fen, m.Event.device_time)
        .join(m.Event, on=same_event)
        .order_by(m.EventFlag.flagged_at.desc(), m.EventFlag.seq.desc())
        .limit(limit)
    )
    if state:
        query = query.where(m.EventFlag.state == state)
    if stores is not None:
        query = query.where(m.EventFlag.store_id.in_(sorted(stores)))
    return [
        {"terminal_id": f.terminal_id, "seq": f.seq, "store_id": f.store_id, "type": f.type,
         "reasons": f.reasons, "rules_version": f.rules_version, "state": f.state,
         "flagged_at": f.flagged_at.isoformat(), "decided_by": f.decided_by,
         "decided_at": f.decided_at.isoformat() if f.decided_at else None, "note": f.note,
         "amount_fen": f.event.amount_fen, "device_time": f.event.device_time,
         "body": f.event.body}
        for f in query
    ]  # fmt: skip


def conflicts(cdb: CloudDB, *, terminal_ids: list[str] | None, limit: int) -> list[dict[str, Any]]:
    """Seqs that arrived again with other content, newest first, both versions named."""
    m = cdb.models
    query = m.EventConflict.select().order_by(m.EventConflict.id.desc()).limit(limit)
    if terminal_ids is not None:
        query = query.where(m.EventConflict.terminal_id.in_(terminal_ids))
    return [
        {"terminal_id": c.terminal_id, "seq": c.seq, "stored_event_id": c.stored_event_id,
         "event_id": c.event_id, "epoch": c.epoch, "type": c.type, "reason": c.reason,
         "received_at": c.received_at.isoformat(), "state": c.state,
         "resolution": c.resolution, "envelope": c.envelope}
        for c in query
    ]  # fmt: skip


def epochs(cdb: CloudDB, *, terminal_ids: list[str] | None) -> list[dict[str, Any]]:
    """Every store-file epoch a repair started, with the seqs the lost file took with it."""
    m = cdb.models
    query = m.TerminalEpoch.select().order_by(m.TerminalEpoch.started_at.desc())
    if terminal_ids is not None:
        query = query.where(m.TerminalEpoch.terminal_id.in_(terminal_ids))
    return [
        {"terminal_id": e.terminal_id, "epoch": e.epoch, "previous_epoch": e.previous_epoch,
         "since_seq": e.since_seq, "reason": e.reason, "abandoned": e.abandoned,
         "abandoned_from": e.abandoned_from, "abandoned_to": e.abandoned_to,
         "carried": e.carried, "started_at": e.started_at.isoformat()}
        for e in query
    ]  # fmt: skip


def terminals_of(cdb: CloudDB, stores: frozenset[str]) -> list[str]:
    """The terminal ids of some stores (to scope a store manager's view)."""
    m = cdb.models
    rows = m.Terminal.select(m.Terminal.terminal_id).where(m.Terminal.store_id.in_(sorted(stores)))
    return [t.terminal_id for t in rows]
