"""Tests for points earning, redemption limits, tiers and FIFO expiry (figures worked by hand)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.checkout.errors import LoyaltyError
from device.checkout.loyalty import (
    LoyaltyConfig,
    balance,
    earnable_fen,
    expire_points,
    max_redeemable_points,
    points_earned,
    points_value_fen,
    tier_for_spend,
    upgraded_tier,
    validate_redemption,
)
from device.checkout.records import PointsDelta, PointsReason, TenderKind, TenderLine, Tier

CONFIG = LoyaltyConfig()
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def day(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def earn(points: int, sale: str = "s") -> PointsDelta:
    return PointsDelta("M1", points, PointsReason.EARN, sale)


def test_one_point_per_ten_yuan_rounded_down() -> None:
    assert points_earned(1999, Tier.REGULAR, CONFIG) == 1
    assert points_earned(999, Tier.REGULAR, CONFIG) == 0
    assert points_earned(10_000, Tier.GOLD, CONFIG) == 10
    assert points_earned(0, Tier.REGULAR, CONFIG) == 0
    assert points_earned(-5000, Tier.REGULAR, CONFIG) == 0


def test_multiplier_rounds_once_at_the_end() -> None:
    config = LoyaltyConfig(multiplier_bp={Tier.REGULAR: 10_000, Tier.GOLD: 15_000})
    # ¥15 paid at 1.5x = 2.25 points -> 2 (flooring first would give 1)
    assert points_earned(1500, Tier.GOLD, config) == 2


def test_points_and_coupon_tenders_do_not_earn() -> None:
    tenders = [
        TenderLine(TenderKind.POINTS, 1000, reference="100"),
        TenderLine(TenderKind.COUPON, 500, reference="BDAY"),
        TenderLine(TenderKind.CASH, 3500, tendered_fen=4000),
    ]
    assert earnable_fen(5000, tenders) == 3500


def test_redemption_limits() -> None:
    # ¥50 sale: cap 50 % = ¥25 -> two ¥10 blocks
    assert max_redeemable_points(5000, 1000, CONFIG) == 200
    assert max_redeemable_points(10_000, 230, CONFIG) == 200
    # The balance already holds this till's unconfirmed redemptions (500 - 300 spent here).
    assert max_redeemable_points(100_000, 200, CONFIG) == 200
    # Over-redeemed elsewhere: the cloud's value is below zero, nothing may be spent.
    assert max_redeemable_points(100_000, -100, CONFIG) == 0
    assert validate_redemption(200, 5000, 1000, CONFIG) == 2000


@pytest.mark.parametrize(
    ("points", "total", "balance", "reason"),
    [
        (150, 10_000, 1000, "redeem in blocks of 100"),
        (300, 10_000, 230, "only 230 points available"),
        (300, 10_000, 200, "only 200 points available"),
        (100, 10_000, -50, "only 0 points available"),
        (300, 5000, 1000, "at most ¥25.00 of this sale can be paid with points"),
        (0, 5000, 1000, "enter the number of points"),
    ],
)
def test_redemption_refusals(points: int, total: int, balance: int, reason: str) -> None:
    with pytest.raises(LoyaltyError, match=reason.replace(".", r"\.")):
        validate_redemption(points, total, balance, CONFIG)


def test_points_value() -> None:
    assert points_value_fen(300, CONFIG) == 3000
    assert points_value_fen(150, CONFIG) == 1500


def test_tier_thresholds_just_below_and_at() -> None:
    assert tier_for_spend(199_999, CONFIG) is Tier.REGULAR
    assert tier_for_spend(200_000, CONFIG) is Tier.SILVER
    assert tier_for_spend(499_999, CONFIG) is Tier.SILVER
    assert tier_for_spend(500_000, CONFIG) is Tier.GOLD


def test_upgrades_only() -> None:
    assert upgraded_tier(Tier.REGULAR, 200_000, CONFIG) is Tier.SILVER
    assert upgraded_tier(Tier.GOLD, 0, CONFIG) is Tier.GOLD
    assert upgraded_tier(Tier.SILVER, 600_000, CONFIG) is Tier.GOLD


def test_bad_config_is_refused() -> None:
    with pytest.raises(LoyaltyError, match="rise with the tier"):
        LoyaltyConfig(tier_spend_fen={Tier.REGULAR: 0, Tier.SILVER: 500_000, Tier.GOLD: 1})
    with pytest.raises(LoyaltyError, match="cap"):
        LoyaltyConfig(redeem_cap_bp=10_001)


def test_expiry_takes_the_oldest_first() -> None:
    ledger = [
        (day(0), earn(100, "a")),
        (day(10), earn(50, "b")),
        (day(20), PointsDelta("M1", -30, PointsReason.REDEEM, "c")),
    ]
    # the redemption used 30 of lot a; a's other 70 expire on day 365, b's 50 on day 375
    assert expire_points(ledger, day(364), CONFIG) == []
    first = expire_points(ledger, day(365), CONFIG)
    assert first == [PointsDelta("M1", -70, PointsReason.EXPIRY, "a")]
    later = [*ledger, (day(365), first[0])]
    assert expire_points(later, day(370), CONFIG) == []  # running again adds nothing
    assert expire_points(later, day(375), CONFIG) == [
        PointsDelta("M1", -50, PointsReason.EXPIRY, "b")
    ]
    assert balance(d for _, d in later) == 50


def test_expiry_after_a_redemption_spanning_lots() -> None:
    ledger = [
        (day(0), earn(100, "a")),
        (day(100), earn(50, "b")),
        (day(200), PointsDelta("M1", -120, PointsReason.REDEEM, "c")),
    ]
    assert expire_points(ledger, day(366), CONFIG) == []
    assert expire_points(ledger, day(470), CONFIG) == [
        PointsDelta("M1", -30, PointsReason.EXPIRY, "b")
    ]


def test_a_deficit_is_paid_before_new_points_count() -> None:
    ledger = [
        (day(0), PointsDelta("M1", -50, PointsReason.ADJUST)),
        (day(1), earn(100, "a")),
    ]
    assert expire_points(ledger, day(400), CONFIG) == [
        PointsDelta("M1", -50, PointsReason.EXPIRY, "a")
    ]


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**9), 10**9), st.sampled_from(list(Tier)), st.integers(0, 50_000))
def test_points_never_negative_and_grow_with_payment(paid: int, tier: Tier, mult: int) -> None:
    config = LoyaltyConfig(multiplier_bp={tier: mult})
    points = points_earned(paid, tier, config)
    assert points >= 0
    assert points_earned(paid + 1000, tier, config) >= points
    if paid > 0:
        # independent check with exact fractions: floor(paid / 1000 * mult / 10000)
        assert points == int(paid * mult // 10_000_000)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**8), st.integers(1, 10**8))
def test_tier_boundaries_hold(silver: int, extra: int) -> None:
    gold = silver + extra
    config = LoyaltyConfig(tier_spend_fen={Tier.REGULAR: 0, Tier.SILVER: silver, Tier.GOLD: gold})
    if silver > 0:
        assert tier_for_spend(silver - 1, config) is Tier.REGULAR
    assert tier_for_spend(silver, config) is Tier.SILVER
    assert tier_for_spend(gold - 1, config) is Tier.SILVER
    assert tier_for_spend(gold, config) is Tier.GOLD


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**7), st.integers(-(10**5), 10**5))
def test_max_redeemable_is_valid_and_one_more_block_is_not(total: int, balance: int) -> None:
    most = max_redeemable_points(total, balance, CONFIG)
    assert most % 100 == 0 and 0 <= most <= max(0, balance)
    if most:
        value = validate_redemption(most, total, balance, CONFIG)
        assert value * 2 <= total
    with pytest.raises(LoyaltyError):
        validate_redemption(most + 100, total, balance, CONFIG)


_rows = st.lists(
    st.tuples(st.integers(0, 1000), st.integers(-300, 300).filter(bool)),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(_rows, st.integers(0, 1500))
def test_expiry_never_takes_more_than_the_balance_and_is_idempotent(
    rows: list[tuple[int, int]], now_day: int
) -> None:
    ledger = [
        (day(d), PointsDelta("M1", p, PointsReason.ADJUST, f"s{i}"))
        for i, (d, p) in enumerate(rows)
    ]
    expired = expire_points(ledger, day(now_day), CONFIG)
    total = balance(d for _, d in ledger)
    taken = -balance(expired)
    assert all(e.delta < 0 for e in expired)
    assert taken <= max(total, 0)
    again = expire_points([*ledger, *((day(now_day), e) for e in expired)], day(now_day), CONFIG)
    assert again == []
