"""Tests for the checkout settings bundle: defaults from the requirements, bad values refused."""

from __future__ import annotations

import pytest

from device.checkout.config import CheckoutConfig, default_config
from device.checkout.errors import CheckoutError
from device.checkout.pricing import PricingConfig
from device.checkout.records import Tier


def test_defaults_match_the_requirements() -> None:
    config = default_config()
    assert (config.store_id, config.terminal_id, config.language) == ("S001", "S001-T01", "zh")
    assert config.pricing.tier_discount_bp[Tier.SILVER] == 1000  # 9折
    assert config.pricing.tier_discount_bp[Tier.GOLD] == 2000  # 8折
    assert config.loyalty.tier_spend_fen[Tier.SILVER] == 200_000  # ¥2,000
    assert config.loyalty.tier_spend_fen[Tier.GOLD] == 500_000  # ¥5,000
    assert (config.loyalty.redeem_block_points, config.loyalty.redeem_block_value_fen) == (
        100,
        1000,
    )
    assert config.returns.window_days == 7
    assert config.gs1.flag == "2"


def test_bad_settings_are_refused_with_a_reason() -> None:
    with pytest.raises(CheckoutError, match="language"):
        CheckoutConfig("S001", "S001-T01", language="fr")
    with pytest.raises(CheckoutError, match="required"):
        CheckoutConfig("", "S001-T01")
    with pytest.raises(CheckoutError, match="drawer_alarm_s"):
        CheckoutConfig("S001", "S001-T01", drawer_alarm_s=0)


def test_config_mappings_cannot_be_changed_through_the_callers_dict() -> None:
    rates = {Tier.REGULAR: 0, Tier.SILVER: 500, Tier.GOLD: 1500}
    pricing = PricingConfig(tier_discount_bp=rates)
    rates[Tier.GOLD] = 9000
    assert pricing.tier_discount_bp[Tier.GOLD] == 1500
