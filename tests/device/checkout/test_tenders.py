"""Tests for tender settlement: change from cash only, approval codes, split tender in any order."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.checkout.errors import TenderError
from device.checkout.records import TenderKind, TenderLine
from device.checkout.tenders import cash_in_drawer, opens_drawer, remaining_due, settle

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
