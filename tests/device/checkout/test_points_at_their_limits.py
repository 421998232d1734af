"""Points at their exact limits: the whole available balance, the cap, a negative balance."""

from __future__ import annotations

import datetime as dt

import pytest

from device.checkout.errors import LoyaltyError
from device.checkout.loyalty import (
    LoyaltyConfig,
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

# 100 points are worth ¥10.00; at most half of a sale may be paid with points.
CONFIG = LoyaltyConfig()
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def day(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def earn(points: int, sale: str) -> PointsDelta:
    return PointsDelta("M1", points, PointsReason.EARN, sale)


def test_the_whole_available_balance_can_be_redeemed() -> None:
    # 300 points, a ¥100.00 sale: the cap is ¥50.00, 300 points are ¥30.00.
    assert validate_redemption(300, 10_000, 300, CONFIG) == 3000
    assert max_redeemable_points(10_000, 300, CONFIG) == 300
    with pytest.raises(LoyaltyError):
        validate_redemption(400, 10_000, 399, CONFIG)  # one point short of the fourth block


def test_exactly_the_cap_can_be_paid_with_points_and_a_block_more_cannot() -> None:
    # ¥60.00 sale: half is ¥30.00 = 300 points exactly.
    assert validate_redemption(300, 6000, 1000, CONFIG) == 3000
    assert max_redeemable_points(6000, 1000, CONFIG) == 300
    with pytest.raises(LoyaltyError):
        validate_redemption(400, 6000, 1000, CONFIG)
    # ¥59.99: half is ¥29.995, rounded down to ¥29.99, so only two blocks fit.
    assert max_redeemable_points(5999, 1000, CONFIG) == 200
    with pytest.raises(LoyaltyError):
        validate_redemption(300, 5999, 1000, CONFIG)


def test_a_negative_balance_allows_no_redemption() -> None:
    assert max_redeemable_points(10_000, -50, CONFIG) == 0
    with pytest.raises(LoyaltyError):
        validate_redemption(100, 10_000, -50, CONFIG)


def test_a_cap_of_the_whole_sale_lets_points_pay_all_of_it() -> None:
    whole = LoyaltyConfig(redeem_cap_bp=10_000)
    assert validate_redemption(500, 5000, 500, whole) == 5000
    assert max_redeemable_points(5000, 10_000, whole) == 500
    assert max_redeemable_points(-100, 10_000, whole) == 0  # a refund total allows nothing


def test_a_part_block_is_worth_its_share_rounded_down() -> None:
    # 150 points at ¥10.00 per 100: ¥15.00; 99 points: ¥9.90; 1 point: ¥0.10.
    assert points_value_fen(150, CONFIG) == 1500
    assert points_value_fen(99, CONFIG) == 990
    odd = LoyaltyConfig(redeem_block_points=3, redeem_block_value_fen=100)
    assert points_value_fen(4, odd) == 133  # 4 * 100 / 3 = 133.3


def test_points_earned_at_the_edges() -> None:
    assert points_earned(0, Tier.REGULAR, CONFIG) == 0
    assert points_earned(-5000, Tier.GOLD, CONFIG) == 0
    assert points_earned(999, Tier.REGULAR, CONFIG) == 0
    assert points_earned(1000, Tier.REGULAR, CONFIG) == 1
    assert points_earned(1, Tier.REGULAR, LoyaltyConfig(fen_per_point=1)) == 1  # one fen
    # a tier missing from the multipliers earns at 1x
    silver_only = LoyaltyConfig(multiplier_bp={Tier.SILVER: 20_000})
    assert points_earned(5000, Tier.GOLD, silver_only) == 5
    assert points_earned(5000, Tier.SILVER, silver_only) == 10


def test_only_points_and_coupons_do_not_earn() -> None:
    tenders = [
        TenderLine(TenderKind.POINTS, 1000, reference="100"),
        TenderLine(TenderKind.COUPON, 500, reference="C1"),
        TenderLine(TenderKind.CARD, 2000, approval_code="A1"),
        TenderLine(TenderKind.MOBILE, 700, approval_code="W1"),
        TenderLine(TenderKind.CASH, 800),
    ]
    assert earnable_fen(5000, tenders) == 3500
    assert earnable_fen(1200, tenders) == 0  # never negative


def test_tier_thresholds_exactly_and_one_fen_below() -> None:
    assert tier_for_spend(199_999, CONFIG) is Tier.REGULAR
    assert tier_for_spend(200_000, CONFIG) is Tier.SILVER
    assert tier_for_spend(499_999, CONFIG) is Tier.SILVER
    assert tier_for_spend(500_000, CONFIG) is Tier.GOLD
    assert upgraded_tier(Tier.REGULAR, 200_000, CONFIG) is Tier.SILVER
    assert upgraded_tier(Tier.GOLD, 0, CONFIG) is Tier.GOLD  # the till never downgrades
    visits = LoyaltyConfig(tier_basis="visits")
    assert upgraded_tier(Tier.REGULAR, 900_000, visits) is Tier.REGULAR  # the cloud upgrades


def test_a_single_point_is_a_lot_that_expires() -> None:
    ledger = [(day(0), earn(1, "a"))]
    assert expire_points(ledger, day(365), CONFIG) == [
        PointsDelta("M1", -1, PointsReason.EXPIRY, "a")
    ]


def test_points_expire_exactly_at_the_horizon_not_a_moment_before() -> None:
    ledger = [(day(0), earn(40, "a"))]
    just_before = day(365) - dt.timedelta(microseconds=1)
    assert expire_points(ledger, just_before, CONFIG) == []
    assert expire_points(ledger, day(365), CONFIG) == [
        PointsDelta("M1", -40, PointsReason.EXPIRY, "a")
    ]


def test_a_negative_balance_is_paid_off_by_the_next_lots_in_order() -> None:
    # -120 (reconciled elsewhere), then +50 (a: all of it pays the debt), then +100
    # (b: 70 pay the rest, 30 left), then +20 (c, whole). On day 400 a, b and c are all
    # older than a year, so b's 30 and c's 20 expire; a left nothing to expire.
    ledger = [
        (day(0), PointsDelta("M1", -120, PointsReason.ADJUST)),
        (day(1), earn(50, "a")),
        (day(2), earn(100, "b")),
        (day(3), earn(20, "c")),
    ]
    assert expire_points(ledger, day(400), CONFIG) == [
        PointsDelta("M1", -30, PointsReason.EXPIRY, "b"),
        PointsDelta("M1", -20, PointsReason.EXPIRY, "c"),
    ]


def test_a_debt_paid_off_exactly_leaves_no_empty_lot() -> None:
    ledger = [
        (day(0), PointsDelta("M1", -60, PointsReason.ADJUST)),
        (day(1), earn(60, "a")),
        (day(2), earn(10, "b")),
    ]
    assert expire_points(ledger, day(400), CONFIG) == [
        PointsDelta("M1", -10, PointsReason.EXPIRY, "b")
    ]


def test_a_spend_bigger_than_all_lots_becomes_debt_for_later_lots() -> None:
    # +30 (a), -50 takes a's 30 and leaves 20 owed; +100 (b) pays 20, 80 expire.
    ledger = [
        (day(0), earn(30, "a")),
        (day(1), PointsDelta("M1", -50, PointsReason.REDEEM, "r")),
        (day(2), earn(100, "b")),
    ]
    assert expire_points(ledger, day(500), CONFIG) == [
        PointsDelta("M1", -80, PointsReason.EXPIRY, "b")
    ]


def test_a_redemption_stops_at_the_lots_it_needs() -> None:
    # -40 takes all of a (40) and nothing of b or c; on day 366 b and c are a year old.
    ledger = [
        (day(0), earn(40, "a")),
        (day(1), earn(25, "b")),
        (day(1), earn(35, "c")),
        (day(2), PointsDelta("M1", -40, PointsReason.REDEEM, "r")),
    ]
    assert expire_points(ledger, day(366), CONFIG) == [
        PointsDelta("M1", -25, PointsReason.EXPIRY, "b"),
        PointsDelta("M1", -35, PointsReason.EXPIRY, "c"),
    ]


def test_the_ledger_is_read_in_time_order_whatever_its_row_order() -> None:
    rows = [
        (day(5), PointsDelta("M1", -30, PointsReason.REDEEM, "r")),
        (day(0), earn(100, "a")),
        (day(3), earn(50, "b")),
    ]
    # the redemption on day 5 takes 30 of a (the oldest): a's 70 expire on day 365
    assert expire_points(rows, day(365), CONFIG) == [
        PointsDelta("M1", -70, PointsReason.EXPIRY, "a")
    ]


def test_a_zero_row_neither_adds_a_lot_nor_spends() -> None:
    ledger = [
        (day(0), earn(10, "a")),
        (day(1), PointsDelta("M1", 0, PointsReason.ADJUST)),
    ]
    assert expire_points(ledger, day(365), CONFIG) == [
        PointsDelta("M1", -10, PointsReason.EXPIRY, "a")
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fen_per_point": 0},
        {"redeem_block_points": 0},
        {"redeem_block_value_fen": 0},
        {"redeem_cap_bp": -1},
        {"expiry_days": 0},
        {"tier_basis": "age"},
        {"multiplier_bp": {Tier.GOLD: -1}},
        {"tier_spend_fen": {Tier.REGULAR: -1, Tier.SILVER: 0, Tier.GOLD: 1}},
        {"tier_spend_fen": {Tier.REGULAR: 0, Tier.SILVER: 600_000, Tier.GOLD: 500_000}},
    ],
)
def test_impossible_rules_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(LoyaltyError):
        LoyaltyConfig(**kwargs)  # type: ignore[arg-type]


def test_the_limits_themselves_are_allowed() -> None:
    edge = LoyaltyConfig(
        fen_per_point=1,
        redeem_block_points=1,
        redeem_block_value_fen=1,
        redeem_cap_bp=0,
        expiry_days=1,
        multiplier_bp={Tier.GOLD: 0},
        tier_spend_fen={Tier.REGULAR: 0, Tier.SILVER: 0, Tier.GOLD: 0},
    )
    assert points_earned(500, Tier.GOLD, edge) == 0
    assert max_redeemable_points(10_000, 10_000, edge) == 0
    assert tier_for_spend(0, edge) is Tier.GOLD
    assert LoyaltyConfig(redeem_cap_bp=10_000).redeem_cap_bp == 10_000


def test_single_point_blocks_down_to_one_point_and_nothing_on_a_zero_sale() -> None:
    # one point is worth one fen and may pay all of a sale
    fine = LoyaltyConfig(redeem_block_points=1, redeem_block_value_fen=1, redeem_cap_bp=10_000)
    assert validate_redemption(1, 1000, 10, fine) == 1
    assert max_redeemable_points(3, 10, fine) == 3
    assert max_redeemable_points(0, 10, fine) == 0
    with pytest.raises(LoyaltyError):
        validate_redemption(1, 0, 10, fine)
    with pytest.raises(LoyaltyError):
        validate_redemption(0, 1000, 10, fine)


def test_a_tier_without_a_threshold_is_open_from_nothing_spent() -> None:
    no_silver = LoyaltyConfig(tier_spend_fen={Tier.REGULAR: 0, Tier.GOLD: 500_000})
    assert tier_for_spend(0, no_silver) is Tier.SILVER
    assert tier_for_spend(500_000, no_silver) is Tier.GOLD
    only_gold = LoyaltyConfig(tier_spend_fen={Tier.GOLD: 100})
    everyone_gold = LoyaltyConfig(tier_spend_fen={Tier.SILVER: 0, Tier.GOLD: 0})
    assert tier_for_spend(0, everyone_gold) is Tier.GOLD  # regular's missing threshold is 0
    assert tier_for_spend(99, only_gold) is Tier.SILVER
    # a member whose returns took their spend below zero is still a regular member
    assert tier_for_spend(-100, CONFIG) is Tier.REGULAR
