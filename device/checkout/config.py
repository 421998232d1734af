"""The checkout core's settings in one frozen value: pricing, loyalty, returns, barcodes, till."""

from __future__ import annotations

from dataclasses import dataclass, field

from device.checkout.barcodes import Gs1Layout
from device.checkout.cart import CartLimits
from device.checkout.errors import CheckoutError
from device.checkout.hq import HqPolicy
from device.checkout.loyalty import LoyaltyConfig
from device.checkout.pricing import PricingConfig
from device.checkout.returns import ReturnPolicy

LANGUAGES = ("zh", "en")


@dataclass(frozen=True, slots=True)
class CheckoutConfig:
    """Everything the checkout core is configured with; HQ can push any of it."""

    store_id: str
    terminal_id: str
    pricing: PricingConfig = field(default_factory=PricingConfig)
    loyalty: LoyaltyConfig = field(default_factory=LoyaltyConfig)
    returns: ReturnPolicy = field(default_factory=ReturnPolicy)
    gs1: Gs1Layout = field(default_factory=Gs1Layout)
    cart_limits: CartLimits = field(default_factory=CartLimits)
    language: str = "zh"  # receipt and screen language
    drawer_alarm_s: int = 30  # alarm when the drawer stays open this long
    timezone: str = "Asia/Shanghai"  # storage is UTC; receipts and day boundaries use this
    # HQ's rules version the pricing, loyalty and returns figures above come from ("" is the
    # built-in defaults); every sale and return records it.
    rules_version: str = ""
    hq: HqPolicy = field(default_factory=HqPolicy)  # asking HQ: timeout and offline policy

    def __post_init__(self) -> None:
        if not self.store_id or not self.terminal_id:
            raise CheckoutError("store_id and terminal_id are required")
        if self.language not in LANGUAGES:
            raise CheckoutError(
                "language must be one of {languages}", languages=", ".join(LANGUAGES)
            )
        if self.drawer_alarm_s < 1:
            raise CheckoutError("drawer_alarm_s must be at least 1 second")


def default_config(store_id: str = "S001", terminal_id: str = "S001-T01") -> CheckoutConfig:
    """The defaults from the requirements (tiers 9折/8折, 7-day returns, ...)."""
    return CheckoutConfig(store_id=store_id, terminal_id=terminal_id)
