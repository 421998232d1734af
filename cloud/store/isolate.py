"""Store a batch the database refused as a whole, event by event, each in its own savepoint.

Every wire value is bounded so that both engines accept it, but a database can still refuse
content (PostgreSQL refuses a NUL character that SQLite stores). One such event must not stop
the terminal's sync for good: the others are stored as usual, and the refused one is kept in
its place as a dead event, its bytes in a dead letter, so the ACK still moves past it.
"""

from __future__ import annotations

from dataclasses import replace

import peewee as pw

from cloud.domain.projections import combine
from cloud.store.apply import (
    BatchOutcome,
    IncomingEvent,
    PreparedBatch,
    _event_json,
    _row,
    commit_batch,
)
from cloud.store.db import CloudDB
from cloud.store.effects import IngestRules

REFUSALS = (pw.IntegrityError, pw.DataError, pw.ProgrammingError)


def _only(
    batch: PreparedBatch, event: IncomingEvent, row: tuple[object, ...], *, project: bool = True
) -> PreparedBatch:
    seq = event.seq
    projections = {seq: batch.projections[seq]} if project and seq in batch.projections else {}
    return replace(
        batch, events=[event], rows={event.seq: row}, projections=projections,
        merged=combine(list(projections.values())), unplaceable=[], rollup_sums=None,
        copy_lines={},
    )  # fmt: skip


def _dead(batch: PreparedBatch, event: IncomingEvent, why: str) -> PreparedBatch:
    """The event as a dead row with an empty body; its whole envelope goes to the dead letter."""
    kept = event.raw or _event_json(event)
    dead = replace(event, body={}, raw=kept, hold_reasons=())
    row = _row(dead, batch.local_times[event.seq], str(batch.now), "dead")
    return _only(batch, dead, row, project=False)


def commit_isolating(
    cdb: CloudDB, batch: PreparedBatch, rules: IngestRules, why: str
) -> BatchOutcome:
    """Commit each event alone inside one transaction; keep refused ones dead in their place."""
    batch = batch.whole()  # each event is committed with its own projection
    outcomes: list[BatchOutcome] = []
    with cdb.write():
        for event in batch.events:
            try:
                outcomes.append(
                    commit_batch(cdb, _only(batch, event, batch.rows[event.seq]), rules)
                )
                continue
            except REFUSALS as err:
                reason = f"storage refused it ({why.splitlines()[0][:200]}): {err}".strip()
            dead_event = replace(event, dead_reason=reason, hold_reasons=())
            outcomes.append(commit_batch(cdb, _dead(batch, dead_event, reason), rules))
    last = outcomes[-1]
    return replace(
        last,
        inserted=sum(o.inserted for o in outcomes),
        duplicates=sum(o.duplicates for o in outcomes),
        dead_lettered=sorted({s for o in outcomes for s in o.dead_lettered}),
        over_redemptions=sum(o.over_redemptions for o in outcomes),
        down=[d for o in outcomes for d in o.down],
        conflicts=sorted({s for o in outcomes for s in o.conflicts}),
        held=sorted({s for o in outcomes for s in o.held}),
        deferred=sorted({s for o in outcomes for s in o.deferred}),
    )
