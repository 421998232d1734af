"""Re-check a return against the sale it names: no line, tender or points beyond what it paid.

plausibility.check_return sees the return alone, so a till could refund ¥10,000 for a ¥10 line,
pay a card sale back in cash, or give its member a million points "refunded". The till plans a
return from its sale (device/checkout/returns.py): each line refunds its share of the line's
net, the refund goes back to the sale's tenders (never more than each paid), and points are
reversed and refunded in proportion to the money. Several returns of one sale telescope, so
each return alone stays within these bounds up to one unit of rounding per figure, whatever
the other tills returned before it (an over-return across tills is reported elsewhere, by
units: cloud.store.receipts). One till's own returns of a sale are also bounded together: it
knows each of them when it plans the next, so together they take no more units of a line
than it sold and refund no tender more than it paid. A return outside these bounds is held
for HQ, like any implausible event.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cloud.domain.flags import Flag


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _lines(ret: Mapping[str, Any], sale: Mapping[str, Any], reasons: list[str]) -> None:
    sold_lines = {_int(ln.get("line_no")): ln for ln in sale.get("lines") or ()}
    taken: dict[int, list[int]] = {}  # line -> [units, refund] over the return's rows
    for row in ret.get("lines") or ():
        no = _int(row.get("original_line_no"))
        line = sold_lines.get(no)
        if line is None:
            reasons.append(Flag("implausible.return_line", line=no))
            continue
        if row.get("sku") != line.get("sku"):
            reasons.append(Flag("implausible.return_sku", line=no, sku=repr(row.get("sku")),
                                sold=repr(line.get("sku"))))  # fmt: skip
        weighed = line.get("weight_g") is not None
        units = _int(row.get("weight_g")) if weighed else _int(row.get("quantity"))
        acc = taken.setdefault(no, [0, 0])
        acc[0] += units
        acc[1] += _int(row.get("refund_fen"))
    for no, (units, refund) in sorted(taken.items()):
        line = sold_lines[no]
        weighed = line.get("weight_g") is not None
        sold = _int(line.get("weight_g")) if weighed else _int(line.get("quantity"))
        net = _int(line.get("net_fen"))
        if units > sold:
            reasons.append(Flag("implausible.return_units", line=no, units=units, sold=sold))
        # The till refunds round(net * after / sold) - round(net * before / sold): within one
        # fen of the exact share of the units.
        if sold <= 0 or refund * sold > net * units + sold:
            reasons.append(Flag("implausible.return_line_refund", line=no, refund=refund,
                                units=units, sold=sold, net=net))  # fmt: skip


def _by_kind(tenders: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in tenders:
        kind = str(t.get("kind") or "")
        out[kind] = out.get(kind, 0) + _int(t.get("amount_fen"))
    return out


def _points(ret: Mapping[str, Any], sale: Mapping[str, Any], reasons: list[str]) -> None:
    total = _int(sale.get("total_fen"))
    refund = _int(ret.get("refund_fen"))
    rows = list(ret.get("points") or ())
    by_reason: dict[str, int] = {}
    for row in rows:
        reason = str(row.get("reason") or "")
        by_reason[reason] = by_reason.get(reason, 0) + _int(row.get("delta"))
    if not sale.get("member_id") or total <= 0:
        if rows:
            reasons.append(Flag("implausible.return_points_none"))
        return
    for reason, figure, sign in (("return_reversal", "points_earned", -1),
                                 ("return_refund", "points_redeemed", 1)):  # fmt: skip
        given = sign * by_reason.get(reason, 0)
        whole = _int(sale.get(figure))
        # The till's share is round(whole * R_after / total) - round(whole * R_before / total)
        # with R_after - R_before this return's refund: within one point of the exact share.
        exact = whole * refund
        if not (exact - total <= given * total <= exact + total):
            share = f"{exact / total:.2f}"
            reasons.append(Flag(f"implausible.{reason}_share", given=given, whole=whole,
                                share=share))  # fmt: skip


def _units(ret: Mapping[str, Any], weighed: set[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for row in ret.get("lines") or ():
        no = _int(row.get("original_line_no"))
        out[no] = out.get(no, 0) + _int(row.get("weight_g" if no in weighed else "quantity"))
    return out


def _together(
    ret: Mapping[str, Any],
    earlier: Sequence[Mapping[str, Any]],
    sale: Mapping[str, Any],
    reasons: list[str],
) -> None:
    """The till's earlier returns of the sale and this one, added up: units and tenders."""
    lines = sale.get("lines") or ()
    weighed = {_int(ln.get("line_no")) for ln in lines if ln.get("weight_g") is not None}
    sold = {_int(ln.get("line_no")): _int(ln.get("weight_g" if ln.get("weight_g") is not None
                                                  else "quantity")) for ln in lines}  # fmt: skip
    before: dict[int, int] = {}
    for other in earlier:
        for no, units in _units(other, weighed).items():
            before[no] = before.get(no, 0) + units
    for no, units in sorted(_units(ret, weighed).items()):
        if no in sold and before.get(no, 0) and before[no] + units > sold[no]:
            reasons.append(Flag("implausible.return_units_together", line=no,
                                units=before[no] + units, sold=sold[no],
                                returns=len(earlier)))  # fmt: skip
    paid = _by_kind(sale.get("tenders") or ())
    refunded = _by_kind(t for other in earlier for t in other.get("refunds") or ())
    for kind, amount in sorted(_by_kind(ret.get("refunds") or ()).items()):
        if refunded.get(kind, 0) and refunded[kind] + amount > paid.get(kind, 0):
            reasons.append(Flag("implausible.return_tender_together", kind=kind,
                                amount=refunded[kind] + amount, paid=paid.get(kind, 0),
                                returns=len(earlier)))  # fmt: skip


def check_against_sale(
    ret: Mapping[str, Any],
    sale: Mapping[str, Any],
    same_member: bool,
    earlier: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """Reasons ``ret`` takes more than ``sale`` paid ([] when it stays within it).

    ``same_member``: the return's member is the sale's (after any merge of the two ids).
    ``earlier``: the returns of this sale the same till recorded before ``ret`` (applied,
    not held): with them, ``ret`` may take no more units of a line nor refund a tender more.
    """
    reasons: list[str] = []
    if ret.get("points") and not same_member:
        reasons.append(Flag("implausible.return_member", member=repr(ret.get("member_id")),
                            sold=repr(sale.get("member_id"))))  # fmt: skip
    _lines(ret, sale, reasons)
    paid = _by_kind(sale.get("tenders") or ())
    for kind, amount in sorted(_by_kind(ret.get("refunds") or ()).items()):
        # Each tender is refunded at most what it paid, whatever the returns before.
        if amount > paid.get(kind, 0):
            reasons.append(Flag("implausible.return_tender", kind=kind, amount=amount,
                                paid=paid.get(kind, 0)))  # fmt: skip
    _points(ret, sale, reasons)
    if earlier:
        _together(ret, earlier, sale, reasons)
    return reasons
