"""Returns at their edges: records from several sales, a refund's remainder, the limits."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from device.checkout.cart import Cart
from device.checkout.errors import ReturnError
from device.checkout.loyalty import LoyaltyConfig
from device.checkout.records import (
    PointsDelta,
    PointsReason,
    ReturnLine,
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
    check_return_allowed,
    plan_no_receipt_return,
    plan_return,
    returnable_units,
    returned_units,
    split_highest_averages,
)
from tests.device.checkout.builders import T0, make_sale, member, product

POLICY = ReturnPolicy()
LOYALTY = LoyaltyConfig()
NOW = T0 + dt.timedelta(days=1)
TEA = product("TEA", 1000)
CAKE = product("CAKE", 500)
RICE = product("RICE", 1000, sold_by_weight=True)  # ¥10.00 per kg


def record(sale_id: str | None, *lines: ReturnLine, return_id: str = "r") -> ReturnRecord:
    return ReturnRecord(
        return_id=return_id,
        original_sale_id=sale_id,
        original_receipt_no=None,
        cashier_id="C1",
        shift_id="SH1",
        member_id=None,
        lines=lines,
        refund_fen=0,
        refunds=(),
        points=(),
        authorised_by=None,
        device_time=NOW,
        clock_synced=True,
    )


def two_line_sale(sale_id: str = "sale-A") -> SaleRecord:
    """TEA x3 ¥30.00 (line 1), RICE 500 g ¥5.00 (line 2): ¥35.00 cash."""
    cart = Cart().add(TEA, "t", quantity=3).add(RICE, "r", weight_g=500)
    sale = make_sale(cart, sale_id=sale_id)
    assert [line.line_no for line in sale.lines] == [1, 2]
    assert sale.total_fen == 3500
    return sale


def plan(sale: SaleRecord, earlier: list[ReturnRecord], *req: ReturnRequestLine) -> ReturnPlan:
    return plan_return(sale, earlier, list(req), NOW, 0, POLICY, LOYALTY)


def test_returns_of_other_sales_do_not_count_against_this_one() -> None:
    sale = two_line_sale("sale-A")
    earlier = [
        record("sale-B", ReturnLine(1, "TEA", 2, None, 2000), return_id="r1"),
        record("sale-A", ReturnLine(1, "TEA", 1, None, 1000), return_id="r2"),
        record(None, ReturnLine(0, "TEA", 1, None, 1000), return_id="r3"),  # no receipt
        record("sale-B", ReturnLine(2, "RICE", 1, 300, 300), return_id="r4"),
        record("sale-A", ReturnLine(2, "RICE", 1, 200, 200), return_id="r5"),
    ]
    assert returned_units(sale, earlier) == {1: 1, 2: 200}
    assert returnable_units(sale, earlier) == {1: 2, 2: 300}
    # two teas are left, not three and not none
    assert plan(sale, earlier, ReturnRequestLine(1, 2)).refund_fen == 2000
    with pytest.raises(ReturnError):
        plan(sale, earlier, ReturnRequestLine(1, 3))


def test_several_earlier_returns_of_one_sale_add_up() -> None:
    sale = two_line_sale()
    earlier = [
        record("sale-A", ReturnLine(1, "TEA", 1, None, 1000), return_id="r1"),
        record("sale-A", ReturnLine(1, "TEA", 1, None, 1000), ReturnLine(2, "RICE", 1, 150, 150)),
        # a line this receipt does not have is passed over, and the next line still counts
        record("sale-A", ReturnLine(9, "GONE", 1, None, 0), ReturnLine(1, "TEA", 1, None, 1000)),
        record("sale-A", ReturnLine(2, "RICE", 1, None, 0), return_id="r4"),  # no weight: 0 g
    ]
    assert returned_units(sale, earlier) == {1: 3, 2: 150}
    # the rest of the rice (350 g of 500 g: ¥3.50) when no weight is given
    rest = plan(sale, earlier, ReturnRequestLine(2, 1))
    assert rest.lines == (ReturnLine(2, "RICE", 1, 350, 350),)


def test_a_line_returned_in_full_is_refused_and_no_longer_returnable() -> None:
    sale = two_line_sale()
    earlier = [record("sale-A", ReturnLine(2, "RICE", 1, 500, 500))]
    assert returnable_units(sale, earlier) == {1: 3, 2: 0}
    with pytest.raises(ReturnError):
        plan(sale, earlier, ReturnRequestLine(2, 1))
    with pytest.raises(ReturnError):
        plan(sale, earlier, ReturnRequestLine(2, 1, weight_g=1))


def test_the_exact_rest_of_a_line_can_be_returned_and_no_more() -> None:
    sale = two_line_sale()
    assert plan(sale, [], ReturnRequestLine(2, 1, weight_g=500)).refund_fen == 500
    assert plan(sale, [], ReturnRequestLine(1, 3)).refund_fen == 3000
    for bad in (
        ReturnRequestLine(2, 1, weight_g=501),
        ReturnRequestLine(2, 1, weight_g=0),
        ReturnRequestLine(1, 0),
        ReturnRequestLine(1, 4),
        ReturnRequestLine(1, 1, weight_g=100),  # tea is counted, not weighed
        ReturnRequestLine(3, 1),
    ):
        with pytest.raises(ReturnError):
            plan(sale, [], bad)
    with pytest.raises(ReturnError):
        plan(sale, [], ReturnRequestLine(1, 1), ReturnRequestLine(1, 1))  # listed twice
    with pytest.raises(ReturnError):
        plan(sale, [])


def test_the_remainder_of_a_split_goes_to_the_first_of_equal_tenders() -> None:
    # 100 fen over three equal tenders: 33 each and the one left over to the first.
    assert split_highest_averages(100, [500, 500, 500]) == [34, 33, 33]
    # 3 over equal tenders of 2: 1 and 1, the extra fen again to the first listed.
    assert split_highest_averages(3, [2, 2]) == [2, 1]


def test_the_remainder_of_a_split_goes_to_the_biggest_average() -> None:
    # 10 over 3:7 -> exact 3 and 7; 11 over 3:7 -> floors 3, 7 (10), and the last fen to
    # 7/(7+1)=0.875 over 3/(3+1)=0.75: the bigger tender.
    assert split_highest_averages(10, [3, 7]) == [3, 7]
    assert split_highest_averages(11, [30, 70]) == [3, 8]
    # 5 over 1:1:3 -> floors 1, 1, 3 = 5: nothing left over
    assert split_highest_averages(5, [1, 1, 3]) == [1, 1, 3]
    # 3 over 0:2:1 -> floors 0, 2, 1; a zero-weight tender never gets a fen
    assert split_highest_averages(3, [0, 2, 1]) == [0, 2, 1]
    assert split_highest_averages(1, [0, 1, 1]) == [0, 1, 0]


def test_a_split_is_never_more_than_the_weights_and_zero_for_nothing() -> None:
    assert split_highest_averages(500, [100, 200]) == [100, 200]  # capped at the whole
    assert split_highest_averages(0, [100, 200]) == [0, 0]
    assert split_highest_averages(-5, [100, 200]) == [0, 0]
    assert split_highest_averages(5, [0, 0]) == [0, 0]
    assert split_highest_averages(5, []) == []


def test_a_refund_split_over_two_tenders_puts_the_remainder_on_one() -> None:
    # ¥35.00 paid ¥17.50 card + ¥17.50 cash. One tea back (¥10.00): 500 each exactly.
    # Then the rice (¥5.00): cumulative ¥15.00 -> 750 each: 250 more each.
    cart = Cart().add(TEA, "t", quantity=3).add(RICE, "r", weight_g=500)
    sale = make_sale(
        cart,
        [TenderLine(TenderKind.CARD, 1750, approval_code="A9"), TenderLine(TenderKind.CASH, 1750)],
    )
    first = plan(sale, [], ReturnRequestLine(1, 1))
    assert first.lines == (ReturnLine(1, "TEA", 1, None, 1000),)
    assert first.refunds == (
        TenderLine(TenderKind.CARD, 500, reference="A9"),
        TenderLine(TenderKind.CASH, 500),
    )
    assert (first.money_refund_fen, first.cash_refund_fen) == (1000, 500)
    # ¥0.03 of rice (3 g at ¥10.00/kg) over two equal tenders: 2 to the card, 1 to cash.
    odd = plan(sale, [], ReturnRequestLine(2, 1, weight_g=3))
    assert odd.refund_fen == 3
    assert odd.refunds == (
        TenderLine(TenderKind.CARD, 2, reference="A9"),
        TenderLine(TenderKind.CASH, 1),
    )


def test_points_and_coupon_shares_of_a_refund() -> None:
    # Member sale ¥40.00: TEA x4. Paid 100 points (¥10.00), coupon ¥10.00, cash ¥20.00.
    # Earned on ¥20.00 money: 2 points. Returning one tea (¥10.00 of ¥40.00, a quarter):
    # ¥2.50 to each of points and coupon, ¥5.00 cash; redeemed 100 -> 25 back;
    # earned 2 -> proportion(2, 1000, 4000) = 0.5 -> 1 reversed (half away from zero).
    cart = Cart().add(TEA, "t", quantity=4).with_member(member(Tier.REGULAR))
    sale = make_sale(
        cart,
        [
            TenderLine(TenderKind.POINTS, 1000, reference="100"),
            TenderLine(TenderKind.COUPON, 1000, reference="C77"),
            TenderLine(TenderKind.CASH, 2000),
        ],
    )
    assert (sale.points_earned, sale.points_redeemed) == (2, 100)
    p = plan(sale, [], ReturnRequestLine(1, 1))
    assert p.refunds == (
        TenderLine(TenderKind.POINTS, 250, reference="25"),
        TenderLine(TenderKind.COUPON, 250, reference="C77"),
        TenderLine(TenderKind.CASH, 500),
    )
    assert (p.refund_fen, p.money_refund_fen, p.cash_refund_fen) == (1000, 500, 500)
    assert p.points == (
        PointsDelta("M1", -1, PointsReason.RETURN_REVERSAL, sale.sale_id),
        PointsDelta("M1", 25, PointsReason.RETURN_REFUND, sale.sale_id),
    )


def test_tenders_that_do_not_add_up_to_the_total_are_refused() -> None:
    sale = two_line_sale()
    broken = replace(sale, tenders=(TenderLine(TenderKind.CASH, 3000),))
    with pytest.raises(ReturnError):
        plan(broken, [], ReturnRequestLine(1, 1))
    one_fen = make_sale(Cart().add(product("SWEET", 1), "s"))
    assert plan(one_fen, [], ReturnRequestLine(1, 1)).refunds == (TenderLine(TenderKind.CASH, 1),)
    with pytest.raises(ReturnError):
        plan(
            replace(one_fen, tenders=(TenderLine(TenderKind.CASH, 2),)), [], ReturnRequestLine(1, 1)
        )


def test_a_one_fen_sale_paid_with_one_point_gives_the_point_back() -> None:
    # one point per fen: a ¥0.01 sweet paid with 1 point; returning it refunds the point
    cart = Cart().add(product("SWEET", 1), "s").with_member(member(Tier.REGULAR))
    fine = LoyaltyConfig(redeem_block_points=1, redeem_block_value_fen=1, redeem_cap_bp=10_000)
    sale = make_sale(cart, [TenderLine(TenderKind.POINTS, 1, reference="1")], loyalty=fine)
    assert (sale.total_fen, sale.points_redeemed, sale.points_earned) == (1, 1, 0)
    p = plan_return(sale, [], [ReturnRequestLine(1, 1)], NOW, 0, POLICY, fine)
    assert p.refunds == (TenderLine(TenderKind.POINTS, 1, reference="1"),)
    assert p.points == (PointsDelta("M1", 1, PointsReason.RETURN_REFUND, sale.sale_id),)


def test_the_last_day_of_the_window_and_the_last_allowed_return() -> None:
    sale = replace(two_line_sale(), member_id="M1")
    deadline = T0 + dt.timedelta(days=7)
    check_return_allowed(sale, deadline, 2, POLICY)  # at the deadline, 2 of 3: allowed
    with pytest.raises(ReturnError):
        check_return_allowed(sale, deadline + dt.timedelta(microseconds=1), 0, POLICY)
    with pytest.raises(ReturnError):
        check_return_allowed(sale, deadline, 3, POLICY)
    check_return_allowed(replace(sale, member_id=None), deadline, 9, POLICY)  # not a member
    with pytest.raises(ReturnError):
        check_return_allowed(sale, deadline.replace(tzinfo=None), 0, POLICY)
    # a manager's void skips the window and the limit
    late = plan_return(
        sale, [], [ReturnRequestLine(1, 1)], deadline + dt.timedelta(days=30), 9, POLICY,
        LOYALTY, check_policy=False,
    )  # fmt: skip
    assert late.refund_fen == 1000


def test_return_policy_limits_themselves_are_allowed() -> None:
    assert ReturnPolicy(window_days=0, no_receipt_cap_fen=0, max_returns_per_30_days=1)
    for bad in ({"window_days": -1}, {"no_receipt_cap_fen": -1}, {"max_returns_per_30_days": 0}):
        with pytest.raises(ReturnError):
            ReturnPolicy(**bad)  # type: ignore[arg-type]


def test_a_no_receipt_return_at_exactly_the_cap_and_the_current_price() -> None:
    # cap ¥200.00: 20 cakes at ¥5.00 = ¥100.00; 40 = ¥200.00 exactly; 41 is over
    plan_40 = plan_no_receipt_return(CAKE, 40, 500, POLICY)
    assert plan_40.refund_fen == 20_000
    assert plan_40.refunds == (TenderLine(TenderKind.CASH, 20_000),)
    assert plan_40.lines == (ReturnLine(0, "CAKE", 40, None, 20_000),)
    with pytest.raises(ReturnError):
        plan_no_receipt_return(CAKE, 41, 500, POLICY)
    with pytest.raises(ReturnError):
        plan_no_receipt_return(CAKE, 1, 501, POLICY)  # above today's price
    free = plan_no_receipt_return(CAKE, 1, 0, POLICY)
    assert (free.refund_fen, free.refunds) == (0, ())
    for qty, price in ((0, 500), (1, -1)):
        with pytest.raises(ReturnError):
            plan_no_receipt_return(CAKE, qty, price, POLICY)
    with pytest.raises(ReturnError):
        plan_no_receipt_return(RICE, 1, 100, POLICY)
    with pytest.raises(ReturnError):
        plan_no_receipt_return(product("GIFT", 100, returnable=False), 1, 100, POLICY)
