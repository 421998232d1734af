"""Tests for return planning: policy checks, proportional refunds to tenders, points reversal."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.checkout.cart import Cart, DiscountSpec
from device.checkout.errors import ReturnError
from device.checkout.loyalty import LoyaltyConfig
from device.checkout.pricing import PricingConfig, price_cart
from device.checkout.records import (
    PointsReason,
    ReturnRecord,
    SaleRecord,
    TenderKind,
    TenderLine,
    Tier,
)
from device.checkout.returns import (
    ReturnPlan,
    ReturnPolicy,
    ReturnRequestLine,
    plan_no_receipt_return,
    plan_return,
    returnable_units,
    split_highest_averages,
)
from tests.device.checkout.builders import T0, as_record, make_sale, member, product

POLICY = ReturnPolicy()
LOYALTY = LoyaltyConfig()
NOW = T0 + dt.timedelta(days=2)
TEA = product("TEA", 1250)
SMOKES = product("SMOKES", 3000, tier_discount=False)
RICE = product("RICE", 880, sold_by_weight=True)


def mixed_sale() -> SaleRecord:
    """Silver member: TEA x4 5000 - 10% = 4500, SMOKES 3000 -> total 7500.

    Paid: 200 points (¥20), card ¥30, cash ¥25 (¥50 handed, ¥25 change).
    Earned on money only: 7500 - 2000 = 5500 fen -> 5 points.
    """
    cart = Cart().add(TEA, "t", quantity=4).add(SMOKES, "s").with_member(member(Tier.SILVER))
    tenders = [
        TenderLine(TenderKind.POINTS, 2000, reference="200"),
        TenderLine(TenderKind.CARD, 3000, approval_code="A1"),
        TenderLine(TenderKind.CASH, 0, tendered_fen=5000),
    ]
    sale = make_sale(cart, tenders)
    assert (sale.total_fen, sale.points_earned, sale.points_redeemed) == (7500, 5, 200)
    return sale


def plan(
    sale: SaleRecord, earlier: list[ReturnRecord], *req: ReturnRequestLine, now: dt.datetime = NOW
) -> ReturnPlan:
    return plan_return(sale, earlier, list(req), now, 0, POLICY, LOYALTY)


def by_kind(p: ReturnPlan) -> dict[TenderKind, int]:
    return {t.kind: t.amount_fen for t in p.refunds}


def points_of(p: ReturnPlan) -> dict[PointsReason, int]:
    return {d.reason: d.delta for d in p.points}


def test_return_in_three_parts_worked_by_hand() -> None:
    """Tender weights 2000:3000:2500 of 7500.

    1 TEA: 4500 * 1/4 = 1125 -> points 300, card 450, cash 375; earned 5*1125/7500 = 0.75
      -> 1 reversed; redeemed 200*1125/7500 = 30 refunded.
    3 TEA: cumulative 4500 -> 1200/1800/1500, minus the above = 900/1350/1125;
      earned 3 - 1 = 2; redeemed 120 - 30 = 90.
    SMOKES: cumulative 7500 -> 2000/3000/2500 -> 800/1200/1000; earned 5 - 3; redeemed 80.
    """
    sale = mixed_sale()
    first = plan(sale, [], ReturnRequestLine(1, 1))
    assert first.refund_fen == 1125
    assert by_kind(first) == {TenderKind.POINTS: 300, TenderKind.CARD: 450, TenderKind.CASH: 375}
    assert points_of(first) == {PointsReason.RETURN_REVERSAL: -1, PointsReason.RETURN_REFUND: 30}
    card = next(t for t in first.refunds if t.kind is TenderKind.CARD)
    assert card.reference == "A1"  # the payment terminal refunds against the original approval
    assert next(t for t in first.refunds if t.kind is TenderKind.POINTS).reference == "30"
    assert (first.money_refund_fen, first.cash_refund_fen) == (825, 375)

    earlier = [as_record(first, sale, "r1")]
    second = plan(sale, earlier, ReturnRequestLine(1, 3))
    assert second.refund_fen == 3375
    assert by_kind(second) == {TenderKind.POINTS: 900, TenderKind.CARD: 1350, TenderKind.CASH: 1125}
    assert points_of(second) == {PointsReason.RETURN_REVERSAL: -2, PointsReason.RETURN_REFUND: 90}

    earlier.append(as_record(second, sale, "r2"))
    third = plan(sale, earlier, ReturnRequestLine(2, 1))
    assert by_kind(third) == {TenderKind.POINTS: 800, TenderKind.CARD: 1200, TenderKind.CASH: 1000}
    assert points_of(third) == {PointsReason.RETURN_REVERSAL: -2, PointsReason.RETURN_REFUND: 80}


def test_over_return_counts_earlier_returns() -> None:
    sale = mixed_sale()
    earlier = [as_record(plan(sale, [], ReturnRequestLine(1, 3)), sale)]
    assert returnable_units(sale, earlier) == {1: 1, 2: 1}
    with pytest.raises(ReturnError, match="only 1 of line 1 can still be returned"):
        plan(sale, earlier, ReturnRequestLine(1, 2))
    earlier.append(as_record(plan(sale, earlier, ReturnRequestLine(1, 1)), sale, "r2"))
    with pytest.raises(ReturnError, match="line 1 has already been returned in full"):
        plan(sale, earlier, ReturnRequestLine(1, 1))


def test_bad_requests() -> None:
    sale = mixed_sale()
    with pytest.raises(ReturnError, match="no line 9 on this receipt"):
        plan(sale, [], ReturnRequestLine(9, 1))
    with pytest.raises(ReturnError, match="listed twice"):
        plan(sale, [], ReturnRequestLine(1, 1), ReturnRequestLine(1, 1))
    with pytest.raises(ReturnError, match="at least 1 of line 1"):
        plan(sale, [], ReturnRequestLine(1, 0))
    with pytest.raises(ReturnError, match="choose at least one line"):
        plan(sale, [])


def test_return_window_boundary() -> None:
    sale = mixed_sale()
    assert plan(sale, [], ReturnRequestLine(2, 1), now=T0 + dt.timedelta(days=7)).refund_fen
    late = T0 + dt.timedelta(days=7, seconds=1)
    with pytest.raises(ReturnError, match="outside the 7-day return window"):
        plan(sale, [], ReturnRequestLine(2, 1), now=late)


def test_member_return_limit() -> None:
    sale = mixed_sale()
    req = [ReturnRequestLine(2, 1)]
    assert plan_return(sale, [], req, NOW, 2, POLICY, LOYALTY).refund_fen == 3000
    with pytest.raises(ReturnError, match="member has reached 3 returns in 30 days"):
        plan_return(sale, [], req, NOW, 3, POLICY, LOYALTY)


def test_item_not_returnable() -> None:
    sale = make_sale(Cart().add(product("FOOD", 500, returnable=False), "f"))
    with pytest.raises(ReturnError, match="item not returnable"):
        plan(sale, [], ReturnRequestLine(1, 1))


def test_weighed_line_returned_by_grams() -> None:
    # 880/kg x 1234 g = 1086 fen; 234 g back: 1086 * 234 / 1234 = 205.93 -> 206
    sale = make_sale(Cart().add(RICE, "r", weight_g=1234))
    first = plan(sale, [], ReturnRequestLine(1, 1, weight_g=234))
    assert first.refund_fen == 206
    assert (first.lines[0].quantity, first.lines[0].weight_g) == (1, 234)
    rest = plan(sale, [as_record(first, sale)], ReturnRequestLine(1, 1))
    assert (rest.refund_fen, rest.lines[0].weight_g) == (880, 1000)
    with pytest.raises(ReturnError, match="only 1234 g of line 1"):
        plan(sale, [], ReturnRequestLine(1, 1, weight_g=1235))


def test_no_receipt_return_is_cash_and_capped() -> None:
    p = plan_no_receipt_return(TEA, 2, 1250, POLICY)
    assert (p.refund_fen, by_kind(p), p.points) == (2500, {TenderKind.CASH: 2500}, ())
    with pytest.raises(ReturnError, match=re.escape("capped at ¥200.00 (this one is ¥250.00)")):
        plan_no_receipt_return(TEA, 20, 1250, POLICY)
    with pytest.raises(ReturnError, match="with the receipt"):
        plan_no_receipt_return(RICE, 1, 880, POLICY)
    with pytest.raises(ReturnError, match=re.escape("¥12.51 is above the current price ¥12.50")):
        plan_no_receipt_return(TEA, 1, 1251, POLICY)
    assert plan_no_receipt_return(TEA, 1, 1000, POLICY).refund_fen == 1000  # a lower price is fine


# --- properties -------------------------------------------------------------------------


@st.composite
def sales(draw: st.DrawFn) -> SaleRecord:
    cart = Cart()
    for i in range(draw(st.integers(1, 5))):
        price = draw(st.integers(1, 20_000))
        if draw(st.booleans()):
            cart = cart.add(
                product(f"W{i}", price, sold_by_weight=True),
                "w",
                weight_g=draw(st.integers(1, 3000)),
            )
        else:
            cart = cart.add(product(f"P{i}", price), "p", quantity=draw(st.integers(1, 6)))
    tier = draw(st.sampled_from([None, Tier.REGULAR, Tier.SILVER, Tier.GOLD]))
    if tier is not None:
        cart = cart.with_member(member(tier, balance=10**6))
    if draw(st.booleans()):
        cart = cart.discount_sale(DiscountSpec(percent_bp=draw(st.integers(1, 5000))))
    total = price_cart(cart, PricingConfig()).total_fen
    tenders: list[TenderLine] = []
    rest = total
    if tier is not None:
        blocks = draw(st.integers(0, total // 2 // 1000))
        if blocks:
            tenders.append(
                TenderLine(TenderKind.POINTS, blocks * 1000, reference=str(blocks * 100))
            )
            rest -= blocks * 1000
    card = draw(st.integers(0, rest))
    coupon = draw(st.integers(0, rest - card))
    if coupon:
        tenders.append(TenderLine(TenderKind.COUPON, coupon, reference="CPN"))
    if card:
        tenders.append(TenderLine(TenderKind.CARD, card, approval_code="OK"))
    draw(st.randoms()).shuffle(tenders)  # split tender in any order; cash with change last
    cash = rest - card - coupon
    if cash:
        handed = cash + draw(st.integers(0, 5000))
        tenders.append(TenderLine(TenderKind.CASH, 0, tendered_fen=handed))
    return make_sale(cart, tenders)


def _sold(sale: SaleRecord, no: int) -> int:
    line = next(line for line in sale.lines if line.line_no == no)
    return line.weight_g if line.weight_g is not None else line.quantity


def _req(sale: SaleRecord, no: int, units: int) -> ReturnRequestLine:
    line = next(line for line in sale.lines if line.line_no == no)
    if line.weight_g is not None:
        return ReturnRequestLine(no, 1, weight_g=units)
    return ReturnRequestLine(no, units)


@st.composite
def sale_and_parts(
    draw: st.DrawFn, everything: bool = False
) -> tuple[SaleRecord, list[dict[int, int]]]:
    sale = draw(sales())
    parts: list[dict[int, int]] = [{} for _ in range(draw(st.integers(1, 4)))]
    for line in sale.lines:
        sold = _sold(sale, line.line_no)
        units = sold if everything else draw(st.integers(0, sold))
        cuts = sorted(
            draw(st.lists(st.integers(0, units), min_size=len(parts) - 1, max_size=len(parts) - 1))
        )
        edges = [0, *cuts, units]
        for j, part in enumerate(parts):
            if edges[j + 1] > edges[j]:
                part[line.line_no] = edges[j + 1] - edges[j]
    return sale, [p for p in parts if p]


def _run_parts(sale: SaleRecord, parts: list[dict[int, int]]) -> list[ReturnPlan]:
    earlier: list[ReturnRecord] = []
    plans = []
    for j, part in enumerate(parts):
        p = plan(sale, earlier, *(_req(sale, no, u) for no, u in part.items()))
        plans.append(p)
        earlier.append(as_record(p, sale, f"r{j}"))
    return plans


def _sum_kinds(plans: list[ReturnPlan]) -> Counter[TenderKind]:
    total: Counter[TenderKind] = Counter()
    for p in plans:
        for t in p.refunds:
            total[t.kind] += t.amount_fen
    return total


def _sum_points(plans: list[ReturnPlan]) -> Counter[PointsReason]:
    total: Counter[PointsReason] = Counter()
    for p in plans:
        for d in p.points:
            total[d.reason] += d.delta
    return total


@settings(max_examples=200, deadline=None)
@given(sale_and_parts())
def test_returning_in_parts_equals_returning_at_once(
    case: tuple[SaleRecord, list[dict[int, int]]],
) -> None:
    sale, parts = case
    if not parts:
        return
    plans = _run_parts(sale, parts)
    union: Counter[int] = Counter()
    for part in parts:
        union.update(part)
    at_once = plan(sale, [], *(_req(sale, no, u) for no, u in union.items()))
    assert sum(p.refund_fen for p in plans) == at_once.refund_fen
    assert _sum_kinds(plans) == _sum_kinds([at_once])
    assert _sum_points(plans) == _sum_points([at_once])
    per_line: Counter[int] = Counter()
    for p in plans:
        for rl in p.lines:
            per_line[rl.original_line_no] += rl.refund_fen
    assert per_line == Counter({rl.original_line_no: rl.refund_fen for rl in at_once.lines})


@settings(max_examples=200, deadline=None)
@given(sale_and_parts())
def test_refund_never_exceeds_what_was_paid(case: tuple[SaleRecord, list[dict[int, int]]]) -> None:
    sale, parts = case
    plans = _run_parts(sale, parts)
    paid: Counter[TenderKind] = Counter()
    for t in sale.tenders:
        paid[t.kind] += t.amount_fen
    refunded = _sum_kinds(plans)
    assert all(refunded[k] <= paid[k] for k in refunded)
    assert sum(p.refund_fen for p in plans) <= sale.total_fen
    for p in plans:
        assert all(t.amount_fen > 0 for t in p.refunds)
        assert (
            p.refund_fen
            == sum(rl.refund_fen for rl in p.lines)
            == sum(t.amount_fen for t in p.refunds)
        )
        assert p.money_refund_fen <= p.refund_fen
    points = _sum_points(plans)
    assert -points[PointsReason.RETURN_REVERSAL] <= sale.points_earned
    assert points[PointsReason.RETURN_REFUND] <= sale.points_redeemed


@settings(max_examples=150, deadline=None)
@given(sale_and_parts(everything=True))
def test_full_return_in_parts_gives_back_exactly_the_sale(
    case: tuple[SaleRecord, list[dict[int, int]]],
) -> None:
    sale, parts = case
    plans = _run_parts(sale, parts)
    paid: Counter[TenderKind] = Counter()
    for t in sale.tenders:
        paid[t.kind] += t.amount_fen
    assert _sum_kinds(plans) == +paid
    points = _sum_points(plans)
    assert -points[PointsReason.RETURN_REVERSAL] == sale.points_earned
    assert points[PointsReason.RETURN_REFUND] == sale.points_redeemed


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=5))
def test_tender_split_never_shrinks_and_ends_exactly_at_each_tender(weights: list[int]) -> None:
    """Largest-remainder splitting can give a tender less when the amount grows (the Alabama
    paradox), which would make one part of a return refund a negative amount to it."""
    before = [0] * len(weights)
    for amount in range(sum(weights) + 1):
        parts = split_highest_averages(amount, weights)
        assert sum(parts) == amount
        assert all(b <= p <= w for b, p, w in zip(before, parts, weights, strict=True))
        before = parts
    assert before == weights
