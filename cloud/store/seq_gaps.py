"""Whether a terminal still has seqs missing below an event, for checks that wait on them."""

from __future__ import annotations

from collections.abc import Set

from cloud.store.db import CloudDB


def stored_between(cdb: CloudDB, terminal_id: str, high_water: int, below: int) -> set[int]:
    """The terminal's stored seqs above its ACK mark ``high_water`` and below ``below``."""
    e = cdb.models.Event
    query = e.select(e.seq).where(
        (e.terminal_id == terminal_id) & (e.seq > high_water) & (e.seq < below)
    )
    return {int(r.seq) for r in query}


def missing_below(present: Set[int], high_water: int, seq: int) -> bool:
    """Whether some seq between the mark and ``seq`` is not among ``present`` (stored or in
    this batch): the till's earlier events are not all here, so a check on them must wait."""
    return len({s for s in present if high_water < s < seq}) < seq - 1 - high_water
