"""Tests for tender settlement: change from cash only, approval codes, split tender in any order."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.checkout.context import Refused
from device.checkout.errors import CheckoutError, TenderError
from device.checkout.records import TenderKind, TenderLine
from device.checkout.tenders import (
    cash_in_drawer,
    coupon_amount,
    opens_drawer,
    remaining_due,
    settle,
)
from device.i18n import english
from tests.device.checkout.fakes import FakeCoupon

CASH, CARD, MOBILE, POINTS, COUPON = (
    TenderKind.CASH,
    TenderKind.CARD,
    TenderKind.MOBILE,
    TenderKind.POINTS,
    TenderKind.COUPON,
)


def cash(handed: int) -> TenderLine:
    return TenderLine(CASH, 0, tendered_fen=handed)


def test_cash_gives_change() -> None:
    applied, change = settle(8000, [cash(10_000)])
    assert change == 2000
    assert applied == (TenderLine(CASH, 8000, tendered_fen=10_000),)
    assert cash_in_drawer(applied) == 8000
    assert opens_drawer(applied, change)


def test_cash_amount_without_tendered_is_taken_as_handed_over() -> None:
    applied, change = settle(8000, [TenderLine(CASH, 8000)])
    assert (applied[0].amount_fen, applied[0].tendered_fen, change) == (8000, 8000, 0)


def test_card_and_mobile_need_an_approval_code() -> None:
    with pytest.raises(TenderError, match="card needs the approval code"):
        settle(8000, [TenderLine(CARD, 8000)])
    with pytest.raises(TenderError, match="mobile payment needs the approval code"):
        settle(8000, [TenderLine(MOBILE, 8000, approval_code="  ")])


def test_card_cannot_overpay() -> None:
    msg = "card ¥90.00 is more than the ¥80.00 still due"
    with pytest.raises(TenderError, match=re.escape(msg)):
        settle(8000, [TenderLine(CARD, 9000, approval_code="A1")])


def test_points_and_coupons_never_give_change() -> None:
    with pytest.raises(TenderError, match="coupon"):
        settle(1000, [TenderLine(COUPON, 1500, reference="C1")])
    with pytest.raises(TenderError, match="points"):
        settle(1000, [TenderLine(POINTS, 2000, reference="200")])


def test_split_tender_any_order() -> None:
    tenders = [
        TenderLine(POINTS, 1000, reference="100"),
        TenderLine(CARD, 3000, approval_code="A1"),
        cash(5000),
    ]
    applied, change = settle(8000, tenders)
    assert [t.amount_fen for t in applied] == [1000, 3000, 4000]
    assert change == 1000
    applied2, change2 = settle(8000, [cash(2000), TenderLine(MOBILE, 6000, approval_code="W9")])
    assert ([t.amount_fen for t in applied2], change2) == ([2000, 6000], 0)
    assert not opens_drawer((TenderLine(CARD, 8000, approval_code="A"),), 0)


def test_nothing_after_paid_and_no_zero_tenders() -> None:
    with pytest.raises(TenderError, match="already paid"):
        settle(8000, [cash(8000), TenderLine(CARD, 100, approval_code="A")])
    with pytest.raises(TenderError, match=re.escape("more than ¥0.00")):
        settle(8000, [TenderLine(CARD, 0, approval_code="A")])


def test_underpaid_is_partial_unless_full_payment_required() -> None:
    applied, change = settle(8000, [cash(6800)])
    assert (remaining_due(8000, applied), change) == (1200, 0)
    with pytest.raises(TenderError, match=re.escape("¥12.00 still due")):
        settle(8000, [cash(6800)], require_full=True)


def test_remaining_due() -> None:
    assert remaining_due(8000, []) == 8000
    assert remaining_due(8000, [TenderLine(CARD, 3000, approval_code="A")]) == 5000
    assert remaining_due(8000, [cash(10_000)]) == 0


_tender = st.one_of(
    st.builds(cash, st.integers(1, 20_000)),
    st.builds(
        TenderLine,
        st.sampled_from([CARD, MOBILE, POINTS, COUPON]),
        st.integers(1, 20_000),
        approval_code=st.just("OK"),
    ),
)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 50_000), st.lists(_tender, max_size=5))
def test_settled_tenders_never_exceed_the_total_and_change_is_cash_only(
    total: int, tenders: list[TenderLine]
) -> None:
    try:
        applied, change = settle(total, tenders)
    except TenderError:
        return
    paid = sum(t.amount_fen for t in applied)
    assert paid <= total
    assert paid + remaining_due(total, applied) == total
    handed = sum(t.tendered_fen for t in applied if t.kind is CASH)
    assert change == handed - cash_in_drawer(applied)
    assert change >= 0
    if change:
        assert paid == total


# --- coupons ---------------------------------------------------------------------------------

TODAY = dt.date(2026, 11, 23)


def coupon_pays(
    coupon: FakeCoupon,
    total: int = 8000,
    due: int = 8000,
    requested: int = 0,
    member_id: str | None = None,
) -> int:
    return coupon_amount(
        coupon,
        requested_fen=requested,
        total_fen=total,
        due_fen=due,
        member_id=member_id,
        today=TODAY,
        store_id="S001",
    )


def test_amount_and_percent_coupons_pay_their_worth_capped_at_what_is_due() -> None:
    ten = FakeCoupon("C10", "amount", 1000)
    assert coupon_pays(ten) == 1000
    assert coupon_pays(ten, requested=600) == 600  # the cashier may use part of it
    assert coupon_pays(ten, due=700) == 700  # never more than is due: no change from coupons
    assert coupon_pays(FakeCoupon("P15", "percent", 1500), total=8050) == 1208  # 1207.5 -> 1208


@pytest.mark.parametrize(
    ("coupon", "kw", "reason"),
    [
        (FakeCoupon("U", "amount", 500, used=1), {}, "already been used"),
        (FakeCoupon("N", "amount", 500, max_uses=3, used=3), {}, "already been used"),
        (FakeCoupon("W", "amount", 500, revoked=True), {}, "withdrawn by HQ"),
        (FakeCoupon("O", "amount", 500, stores=("S002",)), {}, "cannot be used in this store"),
        (FakeCoupon("G", "gift", 0), {}, "for a gift item, not a payment"),
        (FakeCoupon("M", "amount", 500, member_id="M1"), {}, "identify the member first"),
        (FakeCoupon("M", "amount", 500, member_id="M1"), {"member_id": "M2"}, "another member"),
        (FakeCoupon("F", "amount", 500, valid_from="2026-11-24"), {}, "valid from 2026-11-24"),
        (FakeCoupon("E", "amount", 500, valid_until="2026-11-22"), {}, "expired on 2026-11-22"),
        (FakeCoupon("S", "amount", 500, min_spend_fen=10_000), {}, "needs a spend of ¥100.00"),
        (FakeCoupon("Z", "amount", 0), {}, "worth nothing"),
        (FakeCoupon("D", "amount", 500, valid_until="soon"), {}, "unreadable date"),
    ],
)
def test_coupon_refusals(coupon: FakeCoupon, kw: dict[str, str], reason: str) -> None:
    with pytest.raises(CheckoutError) as caught:
        coupon_pays(coupon, member_id=kw.get("member_id"))
    err = caught.value
    key = err.key if isinstance(err, Refused) else err.msgid
    assert reason in english(key, **err.params)


def test_coupon_dates_are_inclusive() -> None:
    day = FakeCoupon("B", "amount", 500, valid_from="2026-11-23", valid_until="2026-11-23T23:59")
    assert coupon_pays(day) == 500
    assert coupon_pays(FakeCoupon("M", "amount", 500, member_id="M1"), member_id="M1") == 500
    assert coupon_pays(FakeCoupon("T", "amount", 500, max_uses=3, used=2)) == 500  # one left
    assert coupon_pays(FakeCoupon("H", "amount", 500, stores=("S002", "S001"))) == 500
