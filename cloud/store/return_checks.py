"""Check a batch's returns against the sales they name, inside ingest's transaction.

The sale a return names must be one the cloud holds (or in the same batch), and the return must
stay within what it paid (cloud.domain.return_bounds); otherwise the return is held for HQ, kept
out of every projection. A return whose sale is missing while its own terminal still has seqs
missing below it is not stored yet: a till's sale always comes before its return, so the sale
may be in a message another worker has not committed yet; the ACK stays below the return and
the till sends it again once the gap is filled (the gap holds the ACK back anyway).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloud.domain.flags import Flag
from cloud.domain.return_bounds import check_against_sale
from cloud.store import aliases
from cloud.store.db import CloudDB


@dataclass(frozen=True, slots=True)
class Judged:
    """Returns to hold (seq -> reasons) and returns not to store yet (seqs)."""

    held: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    waiting: frozenset[int] = frozenset()


def _named(event: Any) -> tuple[str, str] | None:
    """(sale id, receipt number) a live, not yet held return names, or None."""
    if event.type != "return" or event.dead_reason is not None or event.hold_reasons:
        return None
    body = event.body
    sale_id = body.get("original_sale_id")
    if not isinstance(sale_id, str) or not sale_id:
        return None  # without a receipt: plausibility caps it and allows it no points
    receipt = body.get("original_receipt_no")
    return sale_id, receipt if isinstance(receipt, str) else ""


def _stored_sales(cdb: CloudDB, receipts: set[str]) -> dict[tuple[str, str], Mapping[str, Any]]:
    e = cdb.models.Event
    rows = e.select(e.receipt_no, e.body).where(
        e.receipt_no.in_(sorted(receipts)) & (e.type == "sale") & e.status.in_(("ok", "held"))
    )
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for row in rows:
        body = row.body or {}
        found.setdefault((str(body.get("sale_id") or ""), row.receipt_no), body)
    return found


def _stored_below(cdb: CloudDB, terminal_id: str, high_water: int, below: int) -> set[int]:
    e = cdb.models.Event
    query = e.select(e.seq).where(
        (e.terminal_id == terminal_id) & (e.seq > high_water) & (e.seq < below)
    )
    return {int(r.seq) for r in query}


def _same_member(cdb: CloudDB, ret: Mapping[str, Any], sale: Mapping[str, Any]) -> bool:
    mine, theirs = ret.get("member_id"), sale.get("member_id")
    if not isinstance(mine, str) or not isinstance(theirs, str):
        return False
    if mine == theirs:
        return True
    mapping = aliases.survivors(cdb, [mine, theirs])
    return mapping.get(mine, mine) == mapping.get(theirs, theirs)


def judge(
    cdb: CloudDB, terminal_id: str, high_water: int, max_seq: int, storing: Sequence[Any]
) -> Judged:
    """Which of the events about to be stored (``storing``, in seq order) are returns to hold,
    and which wait for their sale; ``high_water``/``max_seq`` are the terminal's, locked."""
    named = {e.seq: n for e in storing if (n := _named(e)) is not None}
    if not named:
        return Judged()
    in_batch: dict[tuple[str, str], Mapping[str, Any]] = {}
    for e in storing:
        if e.type == "sale" and e.dead_reason is None:
            key = (str(e.body.get("sale_id") or ""), str(e.body.get("receipt_no") or ""))
            in_batch.setdefault(key, e.body)
    stored = _stored_sales(cdb, {receipt for _, receipt in named.values() if receipt})
    held: dict[int, tuple[str, ...]] = {}
    waiting: set[int] = set()
    here = {e.seq for e in storing}
    for event in storing:
        if event.seq not in named:
            continue
        sale_id, receipt = named[event.seq]
        sale = in_batch.get((sale_id, receipt)) or stored.get((sale_id, receipt))
        if sale is None:
            present = here - waiting
            if max_seq > high_water:
                present |= _stored_below(cdb, terminal_id, high_water, event.seq)
            if len({s for s in present if high_water < s < event.seq}) < event.seq - 1 - high_water:
                waiting.add(event.seq)
                continue
            held[event.seq] = (Flag("implausible.return_sale_missing", sale=sale_id,
                                    receipt=receipt or "none"),)  # fmt: skip
            continue
        reasons = check_against_sale(event.body, sale, _same_member(cdb, event.body, sale))
        if reasons:
            held[event.seq] = tuple(reasons)
    return Judged(held, frozenset(waiting))
