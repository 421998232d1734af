"""The tier review: what a window's spend or visits keeps, and the grace of one whole window."""

from __future__ import annotations

import datetime as dt

import pytest

from cloud.domain.tier_review import TierPolicy, downgrade_to, earned_tier, upgrade_to

TODAY = dt.date(2027, 3, 1)
LONG_AGO = dt.date(2025, 1, 1)


def test_a_window_of_365_days_ends_today_and_starts_364_days_before() -> None:
    assert TierPolicy(window_days=365).window_start(TODAY) == dt.date(2026, 3, 2)
    assert TierPolicy(window_days=1).window_start(TODAY) == TODAY


@pytest.mark.parametrize(
    ("tier", "spend", "expected"),
    [
        ("gold", 5_000_00, None),  # exactly the gold threshold keeps gold
        ("gold", 4_999_99, "silver"),
        ("gold", 1_999_99, "regular"),  # straight to what the window earns
        ("silver", 2_000_00, None),
        ("silver", 0, "regular"),
        ("regular", 0, None),  # nothing below regular
        ("silver", 9_000_00, None),  # never an upgrade here (ingest upgrades)
    ],
)
def test_spend_in_the_window_decides(tier: str, spend: int, expected: str | None) -> None:
    assert downgrade_to(tier, spend, LONG_AGO, TODAY, TierPolicy()) == expected


def test_a_tier_reached_inside_the_window_holds_until_a_whole_window_has_passed() -> None:
    policy = TierPolicy(window_days=30)
    start = policy.window_start(TODAY)  # 2027-01-31
    assert downgrade_to("gold", 0, start, TODAY, policy) is None
    assert downgrade_to("gold", 0, start - dt.timedelta(days=1), TODAY, policy) == "regular"


def test_a_window_of_0_days_counts_everything_and_never_lowers_a_tier() -> None:
    policy = TierPolicy(window_days=0)
    assert policy.window_start(TODAY) == dt.date.min
    assert downgrade_to("gold", 0, LONG_AGO, TODAY, policy) is None
    assert upgrade_to("silver", 5_000_00, policy) == "gold"


def test_upgrades_use_the_same_thresholds_as_the_review() -> None:
    policy = TierPolicy(window_days=30)
    assert upgrade_to("regular", 1_999_99, policy) is None
    assert upgrade_to("regular", 2_000_00, policy) == "silver"
    assert upgrade_to("silver", 4_999_99, policy) is None
    assert upgrade_to("gold", 9_000_00, policy) is None  # never a downgrade here


def test_visits_count_sales() -> None:
    policy = TierPolicy(basis="visits", window_days=90, silver=4, gold=10)
    assert earned_tier(10, policy) == "gold" and earned_tier(9, policy) == "silver"
    assert downgrade_to("gold", 5, LONG_AGO, TODAY, policy) == "silver"
    assert downgrade_to("gold", 3, LONG_AGO, TODAY, policy) == "regular"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"basis": "age"}, "tier basis must be one of spend, visits"),
        ({"window_days": -1}, "tier window must be 0..3660 days"),
        ({"window_days": 3661}, "tier window must be 0..3660 days"),
        ({"silver": 600_00, "gold": 500_00}, "0 < silver <= gold"),
    ],
)
def test_bad_policies_are_refused_with_the_reason(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TierPolicy(**kwargs)
