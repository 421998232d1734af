"""Check a batch's returns against the sales they name, inside ingest's transaction.

The sale a return names must be one the cloud holds (or earlier in the same batch), and the
return must stay within what it paid, with the same till's earlier returns of it
(cloud.domain.return_bounds); otherwise the return is held for HQ, kept out of every
projection. A return of a sale that is itself held is held too: applied alone, it would take
back points and spend the sale never gave, and HQ may yet reject that sale. A return whose
sale is missing while its own terminal still has seqs
missing below it is not stored yet: a till's sale always comes before its return, so the sale
may be in a message another worker has not committed yet; the ACK stays below the return and
the till sends it again once the gap is filled (the gap holds the ACK back anyway); with no
gap, it is held as missing its sale, and judged again once that sale is stored (the
late_returns job, cloud.store.late_sales). A return whose id another stored return already
carries is held too (cloud.store.return_ids).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloud.domain.flags import Flag
from cloud.domain.return_bounds import check_against_sale
from cloud.store import aliases, return_ids, seq_gaps
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


@dataclass(frozen=True, slots=True)
class _Sale:
    """A sale a return may name: its body, and whether it is held (out of the projections)."""

    body: Mapping[str, Any]
    held: bool


def _stored_sales(cdb: CloudDB, receipts: set[str]) -> dict[tuple[str, str], _Sale]:
    e = cdb.models.Event
    rows = e.select(e.receipt_no, e.body, e.status).where(
        e.receipt_no.in_(sorted(receipts)) & (e.type == "sale") & e.status.in_(("ok", "held"))
    )
    found: dict[tuple[str, str], _Sale] = {}
    for row in rows:
        body = row.body or {}
        key = (str(body.get("sale_id") or ""), row.receipt_no)
        if key not in found or found[key].held:  # one sale stored twice: the applied copy
            found[key] = _Sale(body, row.status != "ok")
    return found


def _stored_returns(
    cdb: CloudDB, terminal_id: str, sale_ids: set[str]
) -> tuple[dict[str, dict[int, Mapping[str, Any]]], set[int]]:
    """The terminal's stored returns of these sales that were applied (sale id -> seq ->
    body), and the seqs of all it stored, applied or not (the ledger of returned units)."""
    if not sale_ids:
        return {}, set()
    r = cdb.remote.ReturnedUnits
    seqs = {int(seq) for (seq,) in r.select(r.seq).where(
        r.sale_id.in_(sorted(sale_ids)) & (r.terminal_id == terminal_id)
        & (r.state == "recorded")).distinct().tuples()}  # fmt: skip
    if not seqs:
        return {}, set()
    e = cdb.models.Event
    rows = e.select(e.seq, e.body).where(
        (e.terminal_id == terminal_id) & e.seq.in_(sorted(seqs)) & (e.type == "return")
        & (e.status == "ok")
    )  # fmt: skip
    found: dict[str, dict[int, Mapping[str, Any]]] = {}
    for row in rows:
        body = row.body or {}
        found.setdefault(str(body.get("original_sale_id") or ""), {})[int(row.seq)] = body
    return found, seqs


def _same_member(cdb: CloudDB, ret: Mapping[str, Any], sale: Mapping[str, Any]) -> bool:
    mine, theirs = ret.get("member_id"), sale.get("member_id")
    if not isinstance(mine, str) or not isinstance(theirs, str):
        return False
    if mine == theirs:
        return True
    mapping = aliases.survivors(cdb, [mine, theirs])
    return mapping.get(mine, mine) == mapping.get(theirs, theirs)


def sale_missing(sale_id: str, receipt: str) -> str:
    """Why a return naming a sale the cloud does not hold is held."""
    return Flag("implausible.return_sale_missing", sale=sale_id, receipt=receipt or "none")


def sale_held(sale_id: str, receipt: str) -> str:
    """Why a return naming a sale held for HQ is held."""
    return Flag("implausible.return_sale_held", sale=sale_id, receipt=receipt or "none")


def against_sale(
    cdb: CloudDB, ret: Mapping[str, Any], sale: Mapping[str, Any],
    before: Sequence[Mapping[str, Any]],
) -> list[str]:  # fmt: skip
    """Why a return goes beyond the sale it names (``sale``, applied), with the same till's
    applied returns of it before it (``before``); empty when it stays within."""
    return check_against_sale(ret, sale, _same_member(cdb, ret, sale), before)


def check_stored(
    cdb: CloudDB, terminal_id: str, seq: int, ret: Mapping[str, Any], sale: Mapping[str, Any]
) -> list[str]:
    """``against_sale`` for a return the terminal stored at ``seq``: the terminal's applied
    returns of the sale below that seq count with it."""
    sale_id = str(ret.get("original_sale_id") or "")
    returns, _ = _stored_returns(cdb, terminal_id, {sale_id})
    before = [body for s, body in sorted(returns.get(sale_id, {}).items()) if s < seq]
    return against_sale(cdb, ret, sale, before)


def judge(
    cdb: CloudDB, terminal_id: str, high_water: int, max_seq: int, storing: Sequence[Any]
) -> Judged:
    """Which of the events about to be stored (``storing``, in seq order) are returns to hold,
    and which wait for their sale; ``high_water``/``max_seq`` are the terminal's, locked."""
    reused = return_ids.reused(cdb, terminal_id, storing)
    held: dict[int, tuple[str, ...]] = {
        e.seq: (*e.hold_reasons, reused[e.seq]) for e in storing if e.seq in reused
    }
    named = {e.seq: n for e in storing if (n := _named(e)) is not None}
    if not named:
        return Judged(held)
    # A till's sale comes before its returns: a sale later in the batch is no sale to them.
    in_batch: dict[tuple[str, str], tuple[int, _Sale]] = {}
    for e in storing:
        if e.type == "sale" and e.dead_reason is None:
            key = (str(e.body.get("sale_id") or ""), str(e.body.get("receipt_no") or ""))
            in_batch.setdefault(key, (e.seq, _Sale(e.body, bool(e.hold_reasons))))
    stored = _stored_sales(cdb, {receipt for _, receipt in named.values() if receipt})
    sale_ids = {sale_id for sale_id, _ in named.values()}
    returns, returned_seqs = _stored_returns(cdb, terminal_id, sale_ids)
    waiting: set[int] = set()
    here = {e.seq for e in storing}
    for event in storing:
        if event.seq not in named:
            continue
        sale_id, receipt = named[event.seq]
        sale = stored.get((sale_id, receipt))  # a sale sent again: as the cloud holds it
        seq, sold_here = in_batch.get((sale_id, receipt), (0, None))
        if sale is None and seq < event.seq:
            sale = sold_here
        if sale is None:
            present = here - waiting
            if max_seq > high_water:
                present |= seq_gaps.stored_between(cdb, terminal_id, high_water, event.seq)
            if seq_gaps.missing_below(present, high_water, event.seq):
                waiting.add(event.seq)
                held.pop(event.seq, None)
                continue
            # Missing: it may be committing in another worker now, or come days later (sold
            # at another till, lost to a cloud restore); the late_returns job finds it then.
            held[event.seq] = (*held.get(event.seq, ()), sale_missing(sale_id, receipt))
            continue
        if sale.held:
            held[event.seq] = (*held.get(event.seq, ()), sale_held(sale_id, receipt))
            continue
        earlier = returns.setdefault(sale_id, {})
        before = [body for s, body in sorted(earlier.items()) if s < event.seq]
        reasons = against_sale(cdb, event.body, sale.body, before)
        if reasons:
            held[event.seq] = (*held.get(event.seq, ()), *reasons)
        elif event.seq not in returned_seqs | held.keys():  # stored: its stored status counts
            earlier[event.seq] = event.body
    return Judged(held, frozenset(waiting))
