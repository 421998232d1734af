"""Tier thresholds and upgrade-only detection."""

from __future__ import annotations

import pytest

from cloud.domain.tiers import TierThresholds, tier_for_spend, upgrade_for

DEFAULT = TierThresholds()


def test_mission_thresholds_in_fen() -> None:
    assert tier_for_spend(199_999, DEFAULT) == "regular"
    assert tier_for_spend(200_000, DEFAULT) == "silver"  # 2,000 yuan
    assert tier_for_spend(499_999, DEFAULT) == "silver"
    assert tier_for_spend(500_000, DEFAULT) == "gold"  # 5,000 yuan


def test_upgrade_only_when_spend_lifts_the_tier() -> None:
    assert upgrade_for("regular", 250_000, DEFAULT) == "silver"
    assert upgrade_for("regular", 600_000, DEFAULT) == "gold"
    assert upgrade_for("silver", 250_000, DEFAULT) is None
    # A return lowering spend never downgrades at ingest.
    assert upgrade_for("gold", 10_000, DEFAULT) is None


def test_configurable_thresholds() -> None:
    cheap = TierThresholds(silver_fen=100, gold_fen=200)
    assert upgrade_for("regular", 150, cheap) == "silver"


def test_inverted_thresholds_are_refused() -> None:
    with pytest.raises(ValueError, match="silver <= gold"):
        TierThresholds(silver_fen=5, gold_fen=1)
