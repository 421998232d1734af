"""Tenders at their edges: a coupon's minimum spend and caps, exact cash and the drawer."""

from __future__ import annotations

import datetime as dt

import pytest

from device.checkout.context import Refused
from device.checkout.errors import TenderError
from device.checkout.records import TenderKind, TenderLine
from device.checkout.tenders import (
    cash_in_drawer,
    coupon_amount,
    coupon_worth,
    opens_drawer,
    remaining_due,
    settle,
)
from tests.device.checkout.fakes import FakeCoupon

CASH, CARD, POINTS, COUPON = TenderKind.CASH, TenderKind.CARD, TenderKind.POINTS, TenderKind.COUPON
TODAY = dt.date(2026, 11, 23)


def pays(coupon: FakeCoupon, *, total: int, due: int | None = None, requested: int = 0) -> int:
    return coupon_amount(
        coupon,
        requested_fen=requested,
        total_fen=total,
        due_fen=total if due is None else due,
        member_id=None,
        today=TODAY,
        store_id="S001",
    )


def refusal(coupon: FakeCoupon, *, total: int) -> str:
    """The refusal's key, after checking that it names the coupon."""
    with pytest.raises(Refused) as err:
        pays(coupon, total=total)
    assert err.value.params["code"] == coupon.code
    return err.value.key


def test_a_coupon_works_at_exactly_its_minimum_spend_and_not_a_fen_below() -> None:
    coupon = FakeCoupon("S", "amount", 1000, min_spend_fen=10_000)
    assert pays(coupon, total=10_000) == 1000
    assert refusal(coupon, total=9999) == "coupon.min_spend"


def test_a_coupon_asked_for_more_than_its_value_pays_only_its_value() -> None:
    ten = FakeCoupon("C10", "amount", 1000)
    assert pays(ten, total=8000, requested=1500) == 1000
    assert pays(ten, total=8000, requested=1000) == 1000
    assert pays(ten, total=8000, requested=999) == 999
    assert pays(ten, total=8000, due=600, requested=800) == 600  # and never more than is due


def test_a_negative_amount_asked_of_a_coupon_is_refused() -> None:
    with pytest.raises(TenderError):
        pays(FakeCoupon("C10", "amount", 1000), total=8000, requested=-1)


def test_a_percent_coupon_over_the_whole_is_worth_the_whole_total() -> None:
    assert coupon_worth("percent", 12_000, 8000) == 8000
    assert coupon_worth("percent", 10_000, 8000) == 8000
    assert coupon_worth("percent", 2500, 8001) == 2000  # 2000.25 rounds to 2000
    assert coupon_worth("percent", 2500, 8002) == 2001  # 2000.5 rounds half up
    assert coupon_worth("amount", 1500, 800) == 1500  # the due amount caps it, not its worth
    assert pays(FakeCoupon("P", "percent", 15_000), total=8000) == 8000


def test_the_last_use_of_a_coupon_is_allowed_and_then_none() -> None:
    assert pays(FakeCoupon("N", "amount", 500, max_uses=2, used=1), total=8000) == 500
    assert refusal(FakeCoupon("N", "amount", 500, max_uses=2, used=2), total=8000) == (
        "coupon.used_up"
    )


def test_the_first_and_last_valid_days() -> None:
    first = FakeCoupon("F", "amount", 500, valid_from="2026-11-23")
    last = FakeCoupon("L", "amount", 500, valid_until="2026-11-23")
    assert pays(first, total=8000) == 500
    assert pays(last, total=8000) == 500
    assert refusal(FakeCoupon("F", "amount", 500, valid_from="2026-11-24"), total=8000) == (
        "coupon.not_yet"
    )
    assert refusal(FakeCoupon("L", "amount", 500, valid_until="2026-11-22"), total=8000) == (
        "coupon.expired"
    )


def test_every_refusal_names_the_coupon_and_its_date_or_amount() -> None:
    assert refusal(FakeCoupon("W", "amount", 500, revoked=True), total=8000) == "coupon.revoked"
    assert refusal(FakeCoupon("G", "gift", 0), total=8000) == "coupon.not_tender"
    assert refusal(FakeCoupon("Z", "amount", 0), total=8000) == "coupon.worthless"
    assert refusal(FakeCoupon("P0", "percent", 1), total=40) == "coupon.worthless"  # 0.004 fen
    assert refusal(FakeCoupon("O", "amount", 500, stores=("S002",)), total=8000) == (
        "coupon.other_store"
    )
    with pytest.raises(Refused) as err:
        pays(FakeCoupon("F", "amount", 500, valid_from="2026-12-01T08:00"), total=8000)
    assert err.value.params == {"code": "F", "date": "2026-12-01"}
    with pytest.raises(Refused) as err:
        pays(FakeCoupon("E", "amount", 500, valid_until="2026-11-01"), total=8000)
    assert err.value.params == {"code": "E", "date": "2026-11-01"}
    with pytest.raises(Refused) as err:
        pays(FakeCoupon("S", "amount", 500, min_spend_fen=10_000), total=8000)
    assert err.value.params == {"code": "S", "amount": "¥100.00"}


def test_an_unknown_coupon_kind_is_refused_not_guessed() -> None:
    with pytest.raises(TenderError):
        pays(FakeCoupon("X", "voucher", 500), total=8000)


def test_exact_cash_opens_the_drawer_with_no_change() -> None:
    applied, change = settle(8000, [TenderLine(CASH, 0, tendered_fen=8000)])
    assert change == 0
    assert applied == (TenderLine(CASH, 8000, tendered_fen=8000),)
    assert cash_in_drawer(applied) == 8000
    assert remaining_due(8000, applied) == 0
    assert opens_drawer(applied, change)


def test_no_cash_and_no_change_keeps_the_drawer_shut() -> None:
    card = (TenderLine(CARD, 8000, approval_code="A1"),)
    assert not opens_drawer(card, 0)
    assert opens_drawer(card, 1)  # change is paid from the drawer whatever the tenders
    assert cash_in_drawer(card) == 0


def test_cash_kept_is_what_was_due_after_other_tenders() -> None:
    # ¥80.00: ¥30.00 card, then ¥100.00 cash: ¥50.00 stays, ¥50.00 change.
    applied, change = settle(
        8000,
        [TenderLine(CARD, 3000, approval_code="A1"), TenderLine(CASH, 0, tendered_fen=10_000)],
    )
    assert change == 5000
    assert cash_in_drawer(applied) == 5000
    assert remaining_due(8000, applied) == 0


def test_two_cash_tenders_add_up_and_change_comes_from_the_last() -> None:
    applied, change = settle(
        8000, [TenderLine(CASH, 0, tendered_fen=5000), TenderLine(CASH, 0, tendered_fen=5000)]
    )
    assert [t.amount_fen for t in applied] == [5000, 3000]
    assert change == 2000
    assert cash_in_drawer(applied) == 8000


def test_a_tender_of_exactly_what_is_due_is_allowed_for_every_kind() -> None:
    for kind in (CARD, TenderKind.MOBILE, POINTS, COUPON):
        applied, change = settle(5000, [TenderLine(kind, 5000, approval_code="A1")])
        assert (applied[0].amount_fen, change) == (5000, 0)
    with pytest.raises(TenderError):
        settle(5000, [TenderLine(POINTS, 5001)])


def test_a_zero_total_needs_no_tender_and_takes_none() -> None:
    assert settle(0, [], require_full=True) == ((), 0)
    with pytest.raises(TenderError):
        settle(0, [TenderLine(CASH, 100)])
    with pytest.raises(TenderError):
        settle(-1, [])


def test_remaining_due_ignores_empty_tenders_and_counts_cash_handed_over() -> None:
    tenders = [TenderLine(CASH, 0, tendered_fen=3000), TenderLine(CARD, 0, approval_code="A")]
    assert remaining_due(8000, tenders) == 5000
    assert remaining_due(8000, [TenderLine(CASH, 1000)]) == 7000
