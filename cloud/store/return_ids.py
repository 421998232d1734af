"""A return id that two return events carry: the first keeps it, the second is held for HQ.

A till makes each return's id as a fresh UUID and its journal records an id once, so no
honest till sends one id at two (terminal, seq), even from a store file restored from an
older copy. A rogue or broken till may. The returned-units ledger is keyed by (return id,
line): were the second event written under the same key it would erase the first's units,
and every bound that counts them (the over-return report, one till's returns bounded
together) would miss the first return. So the first event to record an id keeps it; a later
event with that id at another (terminal, seq) is held (cloud.store.return_checks) and its
units are kept under a key of its own, made from its (terminal, seq): both count. The same
event sent again, or carried to a new seq by a repair (same event id), is no reuse.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Final

from cloud.domain.flags import Flag
from cloud.store.db import CloudDB
from cloud.store.remote_models import UUID_CHARS

#: Namespace of the ledger keys of a second event carrying an id already recorded.
_NAMESPACE: Final = uuid.UUID("7b1f4c2e-5d3a-4e8b-9c61-2f0a8d4b7e15")


def return_id(body: Mapping[str, Any]) -> str:
    """The id a return body carries, as the ledger keeps it ("" when it has none)."""
    value = body.get("return_id")
    return value[:UUID_CHARS] if isinstance(value, str) else ""


def holders(cdb: CloudDB, ids: Collection[str]) -> dict[str, tuple[str, int]]:
    """The (terminal, seq) of the stored return that recorded each of these ids, if any."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    r = cdb.remote.ReturnedUnits
    rows = (
        r.select(r.return_id, r.terminal_id, r.seq)
        .where(r.return_id.in_(wanted) & (r.state == "recorded"))
        .distinct()
        .tuples()
    )
    return {str(rid): (str(terminal), int(seq)) for rid, terminal, seq in rows}


def ledger_key(rid: str, terminal_id: str, seq: int, holder: tuple[str, int] | None) -> str:
    """The key a return's units are recorded under: its id, unless another event holds it."""
    if holder is None or holder == (terminal_id, seq):
        return rid
    return str(uuid.uuid5(_NAMESPACE, f"{terminal_id}/{seq}/{rid}"))


def _event_ids(cdb: CloudDB, terminal_id: str, seqs: set[int]) -> dict[int, str]:
    e = cdb.models.Event
    rows = e.select(e.seq, e.event_id).where(
        (e.terminal_id == terminal_id) & e.seq.in_(sorted(seqs))
    )
    return {int(seq): str(event_id) for seq, event_id in rows.tuples()}


def reused(cdb: CloudDB, terminal_id: str, storing: Sequence[Any]) -> dict[int, str]:
    """Returns among the events about to be stored (one terminal's, in seq order) whose id
    another event already recorded, or an earlier one of the batch carries: seq -> reason."""
    mine = [
        (e, rid)
        for e in storing
        if e.type == "return" and e.dead_reason is None and (rid := return_id(e.body))
    ]
    if not mine:
        return {}
    held = holders(cdb, [rid for _, rid in mine])
    own = {seq for t, seq in held.values() if t == terminal_id}
    events = _event_ids(cdb, terminal_id, own) if own else {}
    out: dict[int, str] = {}
    for event, rid in mine:
        first = held.get(rid)
        if first is None:
            held[rid] = (terminal_id, event.seq)
            events[event.seq] = event.event_id
            continue
        if first == (terminal_id, event.seq):
            continue  # the same event sent again
        if first[0] == terminal_id and events.get(first[1]) == event.event_id:
            continue  # carried to a new seq by a repair: stored as a duplicate of the first
        out[event.seq] = Flag("implausible.return_id_reused", id=rid, terminal=first[0],
                              seq=first[1])  # fmt: skip
    return out
