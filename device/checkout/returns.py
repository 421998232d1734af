"""Return policy and refund planning: window, over-return, abuse limit, tenders and points.

How a refund is worked out, so that returning a sale in several parts gives exactly the
same money and points as returning the same items at once:

* Each line's refund is its net (discounts are refunded in proportion, never more):
  the cumulative refund for a line with ``u`` of its ``n`` units returned (grams for a
  weighed line) is ``proportion(net, u, n)``, and this return gets the cumulative
  refund after it minus the cumulative refund before it. Those differences telescope:
  whatever the parts, the line's refunds add up to the same figure, and to the full
  net once everything is back. ``R`` below is the sale's cumulative refund.
* The refund goes back to the original tenders in their original proportions (cash
  counts as the cash kept, after change). Tender ``t`` has received ``f_t(R)`` in all
  after the refunds so far, where ``f`` splits ``R`` over the tender amounts by the
  D'Hondt (highest averages) method. Unlike largest-remainder rounding, D'Hondt never
  gives a tender less when ``R`` grows, so no part of a return is negative for any
  tender; ``f_t`` never exceeds what the tender paid, and equals it when ``R`` is the
  whole total. So every tender is capped at what it paid minus earlier refunds.
  Card and mobile refunds carry the original approval code in ``reference`` (the
  payment terminal issues the refund); a points tender is refunded as points; a coupon
  share is recorded against the coupon code and is not paid out in money.
* Points: earned points are reversed and redeemed points refunded in proportion to
  ``R`` over the sale's total, again cumulatively (``proportion(points, R, total)``
  after minus before), so the parts telescope to exactly what the sale earned and
  redeemed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from device.checkout.errors import ReturnError
from device.checkout.loyalty import LoyaltyConfig
from device.checkout.money import format_fen, proportion
from device.checkout.records import (
    PointsDelta,
    PointsReason,
    Product,
    ReturnLine,
    ReturnRecord,
    SaleLine,
    SaleRecord,
    TenderKind,
    TenderLine,
)

_MONEY_KINDS = (TenderKind.CASH, TenderKind.CARD, TenderKind.MOBILE)


@dataclass(frozen=True, slots=True)
class ReturnPolicy:
    """Return rules; every figure is configurable."""

    window_days: int = 7
    no_receipt_cap_fen: int = 20_000
    max_returns_per_30_days: int = 3

    def __post_init__(self) -> None:
        if self.window_days < 0 or self.no_receipt_cap_fen < 0:
            raise ReturnError("return window and no-receipt cap cannot be negative")
        if self.max_returns_per_30_days < 1:
            raise ReturnError("the returns limit must allow at least one return")


@dataclass(frozen=True, slots=True)
class ReturnRequestLine:
    """What the customer brings back from one line; weight_g None means all that is left."""

    original_line_no: int
    quantity: int
    weight_g: int | None = None


@dataclass(frozen=True, slots=True)
class ReturnPlan:
    """The refund the till will record: lines, tender refunds and points deltas."""

    lines: tuple[ReturnLine, ...]
    refund_fen: int  # value refunded, including points and coupon shares
    refunds: tuple[TenderLine, ...]
    points: tuple[PointsDelta, ...]

    @property
    def money_refund_fen(self) -> int:
        """Money given back (cash, card, mobile); also the spend to take off the member's tier."""
        return sum(t.amount_fen for t in self.refunds if t.kind in _MONEY_KINDS)

    @property
    def cash_refund_fen(self) -> int:
        """Cash paid out of the drawer."""
        return sum(t.amount_fen for t in self.refunds if t.kind is TenderKind.CASH)


def _sold_units(line: SaleLine) -> int:
    return line.weight_g if line.weight_g is not None else line.quantity


def _unit_name(line: SaleLine, units: int) -> str:
    return f"{units} g" if line.weight_g is not None else str(units)  # grams read alike in zh


def returned_units(sale: SaleRecord, earlier: Sequence[ReturnRecord]) -> dict[int, int]:
    """Units (grams for weighed lines) already returned per line number."""
    by_no = {line.line_no: line for line in sale.lines}
    done = dict.fromkeys(by_no, 0)
    for record in earlier:
        if record.original_sale_id != sale.sale_id:
            continue
        for rl in record.lines:
            line = by_no.get(rl.original_line_no)
            if line is None:
                continue
            weighed = line.weight_g is not None
            done[line.line_no] += (rl.weight_g or 0) if weighed else rl.quantity
    return done


def returnable_units(sale: SaleRecord, earlier: Sequence[ReturnRecord]) -> dict[int, int]:
    """Units (grams for weighed lines) that can still be returned, per returnable line."""
    done = returned_units(sale, earlier)
    return {
        line.line_no: _sold_units(line) - done[line.line_no]
        for line in sale.lines
        if line.returnable
    }


def _cumulative_refund(sale: SaleRecord, units: dict[int, int]) -> int:
    total = 0
    for line in sale.lines:
        sold = _sold_units(line)
        if sold > 0 and units.get(line.line_no, 0):
            total += proportion(line.net_fen, min(units[line.line_no], sold), sold)
    return total


def split_highest_averages(amount: int, weights: list[int]) -> list[int]:
    """Split ``amount`` over ``weights`` by highest averages (house-monotone, exact at sum)."""
    total = sum(weights)
    if total <= 0 or amount <= 0:
        return [0 for _ in weights]
    amount = min(amount, total)
    # D'Hondt always gives at least the floor of the exact share, so start there and
    # hand out the few remaining fen one by one to the highest average w / (seats + 1).
    seats = [amount * w // total for w in weights]
    for _ in range(amount - sum(seats)):
        best = -1
        for i, w in enumerate(weights):
            if w > 0 and (best < 0 or w * (seats[best] + 1) > weights[best] * (seats[i] + 1)):
                best = i
        seats[best] += 1
    return seats


def _check_request(
    sale: SaleRecord, request: Sequence[ReturnRequestLine], done: dict[int, int]
) -> dict[int, int]:
    """Validate the requested lines; return units to return now per line number."""
    if not request:
        raise ReturnError("choose at least one line to return")
    by_no = {line.line_no: line for line in sale.lines}
    now_units: dict[int, int] = {}
    for req in request:
        line = by_no.get(req.original_line_no)
        if line is None:
            raise ReturnError(
                "no line {original_line_no} on this receipt", original_line_no=req.original_line_no
            )
        if line.line_no in now_units:
            raise ReturnError("line {line_no} is listed twice", line_no=line.line_no)
        if not line.returnable:
            raise ReturnError(
                "line {line_no} ({item}): item not returnable",
                line_no=line.line_no,
                item=line.name_en or line.sku,
                item_zh=line.name_zh or line.name_en or line.sku,
            )
        left = _sold_units(line) - done[line.line_no]
        if left <= 0:
            raise ReturnError(
                "line {line_no} has already been returned in full", line_no=line.line_no
            )
        if line.weight_g is not None:
            units = left if req.weight_g is None else req.weight_g
        else:
            if req.weight_g is not None:
                raise ReturnError(
                    "line {line_no} is not weighed: give a quantity", line_no=line.line_no
                )
            units = req.quantity
        if units <= 0:
            raise ReturnError(
                "return at least {units} of line {line_no}",
                units=_unit_name(line, 1),
                line_no=line.line_no,
            )
        if units > left:
            raise ReturnError(
                "only {units} of line {line_no} can still be returned",
                units=_unit_name(line, left),
                line_no=line.line_no,
            )
        now_units[line.line_no] = units
    return now_units


def check_return_allowed(
    sale: SaleRecord, now: dt.datetime, member_returns_30d: int, policy: ReturnPolicy
) -> None:
    """Raise ReturnError if the receipt is outside the window or the member is at the limit."""
    deadline = sale.device_time + dt.timedelta(days=policy.window_days)
    try:
        late = now > deadline
    except TypeError as exc:  # naive against aware: a wiring bug, but say so plainly
        raise ReturnError("cannot compare the sale time with the clock") from exc
    if late:
        sold = sale.device_time.date().isoformat()
        raise ReturnError(
            "outside the {window_days}-day return window (sold {sold})",
            window_days=policy.window_days,
            sold=sold,
        )
    limit = policy.max_returns_per_30_days
    if sale.member_id is not None and member_returns_30d >= limit:
        raise ReturnError("member has reached {limit} returns in 30 days", limit=limit)


def plan_return(
    sale: SaleRecord,
    earlier: Sequence[ReturnRecord],
    request: Sequence[ReturnRequestLine],
    now: dt.datetime,
    member_returns_30d: int,
    policy: ReturnPolicy,
    loyalty: LoyaltyConfig,
    *,
    check_policy: bool = True,
) -> ReturnPlan:
    """Validate a return against its receipt and work out refunds and points (see module doc).

    ``loyalty`` is accepted so points rules can grow (e.g. block rounding) without
    changing callers; the proportional reversal needs only the sale's own figures.
    ``check_policy=False`` skips the window and the member limit: a manager's void of a
    sale is not a customer's return.
    """
    del loyalty  # proportional reversal uses the sale's recorded points
    if check_policy:
        check_return_allowed(sale, now, member_returns_30d, policy)
    done = returned_units(sale, earlier)
    now_units = _check_request(sale, request, done)
    after = {no: done[no] + now_units.get(no, 0) for no in done}

    by_no = {line.line_no: line for line in sale.lines}
    lines: list[ReturnLine] = []
    for no, units in now_units.items():
        line = by_no[no]
        sold = _sold_units(line)
        refund = proportion(line.net_fen, after[no], sold) - proportion(
            line.net_fen, done[no], sold
        )
        weighed = line.weight_g is not None
        lines.append(
            ReturnLine(no, line.sku, 1 if weighed else units, units if weighed else None, refund)
        )

    r_before = _cumulative_refund(sale, done)
    r_after = _cumulative_refund(sale, after)
    total = sale.total_fen
    tenders = [t for t in sale.tenders if t.amount_fen > 0]
    paid = sum(t.amount_fen for t in tenders)
    if total > 0 and paid != total:
        raise ReturnError(
            "the sale's tenders ({paid}) do not match its total ({total})",
            paid=format_fen(paid),
            total=format_fen(total),
        )
    weights = [t.amount_fen for t in tenders]
    cum_before = split_highest_averages(r_before, weights)
    cum_after = split_highest_averages(r_after, weights)
    refunds: list[TenderLine] = []
    for tender, lo, hi in zip(tenders, cum_before, cum_after, strict=True):
        if hi > lo:
            refunds.append(_refund_line(tender, hi - lo, sale, r_before, r_after))

    points: list[PointsDelta] = []
    if sale.member_id is not None and total > 0:
        earned = proportion(sale.points_earned, r_after, total) - proportion(
            sale.points_earned, r_before, total
        )
        if earned:
            points.append(
                PointsDelta(sale.member_id, -earned, PointsReason.RETURN_REVERSAL, sale.sale_id)
            )
        redeemed = _redeemed_refund(sale, r_before, r_after)
        if redeemed:
            points.append(
                PointsDelta(sale.member_id, redeemed, PointsReason.RETURN_REFUND, sale.sale_id)
            )

    refund_fen = sum(t.amount_fen for t in refunds)
    return ReturnPlan(tuple(lines), refund_fen, tuple(refunds), tuple(points))


def _redeemed_refund(sale: SaleRecord, r_before: int, r_after: int) -> int:
    total = sale.total_fen
    return proportion(sale.points_redeemed, r_after, total) - proportion(
        sale.points_redeemed, r_before, total
    )


def _refund_line(
    tender: TenderLine, amount: int, sale: SaleRecord, r_before: int, r_after: int
) -> TenderLine:
    if tender.kind is TenderKind.CASH:
        return TenderLine(TenderKind.CASH, amount)
    if tender.kind in (TenderKind.CARD, TenderKind.MOBILE):
        return TenderLine(tender.kind, amount, reference=tender.approval_code)
    if tender.kind is TenderKind.POINTS:
        refunded = _redeemed_refund(sale, r_before, r_after)
        return TenderLine(TenderKind.POINTS, amount, reference=str(refunded))
    return TenderLine(TenderKind.COUPON, amount, reference=tender.reference)


def plan_no_receipt_return(
    product: Product, quantity: int, unit_price_fen: int, policy: ReturnPolicy
) -> ReturnPlan:
    """A manager-authorised return without a receipt: refunded in cash, capped.

    The machine checks the manager's authorisation; this checks the goods and the cap.
    Weighed goods cannot be valued without their label, so they need the receipt.
    """
    if not product.returnable:
        raise ReturnError(
            "{item}: item not returnable",
            item=product.name_en or product.sku,
            item_zh=product.name_zh or product.name_en or product.sku,
        )
    if product.sold_by_weight:
        raise ReturnError("weighed items can only be returned with the receipt")
    if quantity <= 0:
        raise ReturnError("return at least 1 item")
    if unit_price_fen < 0:
        raise ReturnError("the refund price cannot be negative")
    if unit_price_fen > product.price_fen:
        # Without a receipt nobody can show a higher price was paid.
        raise ReturnError(
            "refund price {unit_price} is above the current price {price}",
            unit_price=format_fen(unit_price_fen),
            price=format_fen(product.price_fen),
        )
    refund = unit_price_fen * quantity
    if refund > policy.no_receipt_cap_fen:
        raise ReturnError(
            "returns without a receipt are capped at {no_receipt_cap} (this one is {refund})",
            no_receipt_cap=format_fen(policy.no_receipt_cap_fen),
            refund=format_fen(refund),
        )
    line = ReturnLine(0, product.sku, quantity, None, refund)
    refunds = (TenderLine(TenderKind.CASH, refund),) if refund else ()
    return ReturnPlan((line,), refund, refunds, ())


def remaining_units(sale: SaleRecord, earlier: Sequence[ReturnRecord]) -> dict[int, int]:
    """Units (grams for a weighed line) of each line that can still come back."""
    done = returned_units(sale, earlier)
    return {line.line_no: _sold_units(line) - done[line.line_no] for line in sale.lines}


def preview_return(
    sale: SaleRecord, earlier: Sequence[ReturnRecord], request: Sequence[ReturnRequestLine]
) -> ReturnPlan:
    """What a return would refund and to which tenders, shown before the cashier confirms.

    The window and the member's limit are checked when the till records the return; this
    checks the lines and works out the same split.
    """
    return plan_return(
        sale, earlier, request, sale.device_time, 0, ReturnPolicy(), LoyaltyConfig(),
        check_policy=False,
    )  # fmt: skip
