"""Coupon arithmetic and rules: the cloud's and the till's agree, at every threshold.

The expected values are worked out independently: percentages with exact fractions rounded
half away from zero, and the till's own coupon check (device.checkout.tenders) as the second
implementation the cloud must agree with decision for decision.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.domain.coupons import CouponFacts, UseRequest, check, use_problems, worth
from device.checkout.asking import REASON_KEYS
from device.checkout.context import Refused
from device.checkout.errors import TenderError
from device.checkout.tenders import coupon_amount
from tests.device.checkout.fakes import FakeCoupon

TODAY = dt.date(2026, 11, 23)


def _half_up(x: Fraction) -> int:
    whole = int(x)  # toward zero; every amount here is >= 0
    return whole + (1 if x - whole >= Fraction(1, 2) else 0)


@given(st.integers(0, 10_000_000_000), st.integers(1, 10_000))
def test_a_percentage_is_its_exact_share_rounded_half_up(total: int, bp: int) -> None:
    assert worth("percent", bp, total) == _half_up(Fraction(total * bp, 10_000))


@given(st.integers(0, 10_000_000), st.integers(10_001, 1_000_000))
def test_more_than_a_hundred_percent_is_the_whole_sale(total: int, bp: int) -> None:
    assert worth("percent", bp, total) == total


@given(
    kind=st.sampled_from(["amount", "percent"]),
    value=st.integers(1, 100_000),
    total=st.integers(0, 1_000_000),
    requested=st.integers(0, 2_000_000),
)
def test_a_coupon_never_pays_more_than_its_worth_or_what_was_asked(
    kind: str, value: int, total: int, requested: int
) -> None:
    coupon = CouponFacts("C", kind, value)
    verdict = check(coupon, "C", 0, UseRequest("S001", None, total, requested, TODAY))
    full = value if kind == "amount" else _half_up(Fraction(total * min(value, 10_000), 10_000))
    if full == 0 or (requested and min(full, requested) == 0):
        assert verdict.reason == "coupon_worthless"
        return
    assert verdict.granted
    assert verdict.amount_fen == (min(full, requested) if requested else full)
    assert verdict.amount_fen <= full


@given(st.integers(0, 1_000_000), st.integers(1, 10_000))
def test_minimum_spend_is_met_exactly_at_the_threshold(minimum: int, value: int) -> None:
    coupon = CouponFacts("C", "amount", value, min_spend_fen=minimum)
    at = check(coupon, "C", 0, UseRequest("S001", None, minimum, 0, TODAY))
    assert at.granted and at.amount_fen == value
    if minimum:
        below = check(coupon, "C", 0, UseRequest("S001", None, minimum - 1, 0, TODAY))
        assert below.reason == "coupon_min_spend" and below.params["amount_fen"] == str(minimum)


def test_the_last_use_and_the_dates_are_inclusive() -> None:
    coupon = CouponFacts("C", "amount", 500, valid_from=TODAY, valid_until=TODAY, max_uses=3)
    use = UseRequest("S001", None, 1000, 0, TODAY)
    assert check(coupon, "C", 2, use).granted
    assert check(coupon, "C", 3, use).reason == "coupon_used_up"
    day = dt.timedelta(days=1)
    assert check(coupon, "C", 0, UseRequest("S001", None, 1000, 0, TODAY + day)).reason == (
        "coupon_expired"
    )
    assert check(coupon, "C", 0, UseRequest("S001", None, 1000, 0, TODAY - day)).reason == (
        "coupon_not_yet"
    )


def test_a_use_already_made_is_judged_for_hq() -> None:
    coupon = CouponFacts("C", "amount", 500, stores=("S001",), valid_until=TODAY, max_uses=1)
    assert use_problems(coupon, 0, "S001", None, TODAY) == ()
    assert use_problems(coupon, 1, "S001", None, TODAY) == ("over_limit",)
    assert use_problems(coupon, 0, "S002", None, TODAY + dt.timedelta(days=1)) == (
        "other_store",
    )  # the first refusal that applies is named
    assert use_problems(None, 0, "S001", None, TODAY) == ("unknown_coupon",)
    # With the sale's total: what the tenders paid against the coupon's worth and minimum.
    assert use_problems(coupon, 0, "S001", None, TODAY, paid_fen=500, total_fen=500) == ()
    assert use_problems(coupon, 0, "S001", None, TODAY, paid_fen=501, total_fen=9000) == (
        "over_value",
    )
    tight = CouponFacts("C", "percent", 1000, min_spend_fen=5000, max_uses=2)
    assert use_problems(tight, 0, "S001", None, TODAY, paid_fen=900, total_fen=4999) == (
        "min_spend", "over_value",
    )  # fmt: skip
    assert use_problems(tight, 1, "S001", None, TODAY, paid_fen=1000, total_fen=5000,
                        times=2) == ("over_limit", "repeated")  # fmt: skip


coupons = st.builds(
    CouponFacts,
    code=st.just("C"),
    kind=st.sampled_from(["amount", "percent", "gift"]),
    value=st.integers(0, 20_000),
    min_spend_fen=st.integers(0, 30_000),
    member_id=st.sampled_from([None, "M1", "M2"]),
    valid_from=st.sampled_from(
        [None, TODAY - dt.timedelta(days=1), TODAY, TODAY + dt.timedelta(days=1)]
    ),
    valid_until=st.sampled_from(
        [None, TODAY - dt.timedelta(days=1), TODAY, TODAY + dt.timedelta(days=1)]
    ),
    stores=st.sampled_from([(), ("S001",), ("S002",), ("S001", "S002")]),
    max_uses=st.integers(1, 3),
    revoked=st.booleans(),
)


@given(
    coupon=coupons,
    taken=st.integers(0, 4),
    store=st.sampled_from(["S001", "S002"]),
    member=st.sampled_from([None, "M1", "M2"]),
    total=st.integers(0, 40_000),
    requested=st.integers(0, 30_000),
)
def test_the_till_offline_decides_exactly_as_the_cloud_online(
    coupon: CouponFacts, taken: int, store: str, member: str | None, total: int, requested: int
) -> None:
    verdict = check(coupon, "C", taken, UseRequest(store, member, total, requested, TODAY))
    cached = FakeCoupon(
        "C",
        coupon.kind,
        coupon.value,
        coupon.min_spend_fen,
        coupon.member_id,
        coupon.valid_from.isoformat() if coupon.valid_from else None,
        coupon.valid_until.isoformat() if coupon.valid_until else None,
        stores=coupon.stores,
        max_uses=coupon.max_uses,
        used=taken,
        revoked=coupon.revoked,
    )
    try:
        paid = coupon_amount(
            cached,
            requested_fen=requested,
            total_fen=total,
            due_fen=total,
            member_id=member,
            today=TODAY,
            store_id=store,
        )
    except Refused as err:
        assert not verdict.granted
        assert err.key == REASON_KEYS[verdict.reason], verdict
        return
    except TenderError:
        pytest.fail("the till refused without a reason key")
    if verdict.granted:
        assert paid == min(verdict.amount_fen, total)  # the till also stops at what is due
    else:
        pytest.fail(f"the till would take a coupon the cloud refuses: {verdict}")
