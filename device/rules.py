"""The till's rules from HQ: which rule set is in force, and the checkout settings it gives.

HQ's rule sets reach the till on the config stream (protocol.rules) and sync keeps them in the
store's meta table. The runtime asks :class:`RulesInForce` for news between sales only, so a
sale or return in progress keeps the rules it started with, and the next one uses the newest
version without a restart. A rule set that cannot be loaded (sync refuses bad ones, so this
means a damaged or foreign store file) is reported and the last good version stays in force.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

import msgspec

from device.checkout.config import CheckoutConfig
from device.checkout.errors import CheckoutError
from device.checkout.loyalty import LoyaltyConfig
from device.checkout.pricing import PricingConfig
from device.checkout.promotions import Promotion, Schedule
from device.checkout.records import Tier
from device.checkout.returns import ReturnPolicy
from device.store.db import Database
from device.sync.storage import CONFIG_PREFIX
from protocol import rules as wire
from protocol.errors import ProtocolError
from protocol.rules_check import decode_published

log = logging.getLogger(__name__)


def _local(text: str | None, end: bool = False) -> dt.datetime | None:
    if text is None:
        return None
    moment = dt.datetime.fromisoformat(text)
    if end and "T" not in text:
        moment += dt.timedelta(days=1)  # a bare date runs to the end of that day
    return moment


def _minutes(text: str | None, default: int) -> int:
    return default if text is None else int(text[:2]) * 60 + int(text[3:])


def promotion(promo: wire.Promotion, language: str) -> Promotion:
    """One of HQ's promotions as the pricing engine takes it (labelled in the till's language)."""
    label = promo.label_en if language == "en" and promo.label_en else promo.label_zh
    common: dict[str, Any] = {
        "promo_id": promo.id,
        "label": label,
        "tiers": frozenset(Tier(t) for t in promo.tiers),
        "schedule": Schedule(
            starts=_local(promo.valid_from),
            ends=_local(promo.valid_until, end=True),
            weekdays=frozenset(promo.weekdays),
            from_minute=_minutes(promo.from_time, 0),
            until_minute=_minutes(promo.until_time, 24 * 60),
        ),
    }
    if isinstance(promo, wire.MemberPrice):
        return Promotion(kind="member_price", prices=dict(promo.prices),
                         with_tier_discount=promo.with_tier_discount, **common)  # fmt: skip
    scope = {"skus": frozenset(promo.scope.skus), "categories": frozenset(promo.scope.categories)}
    if isinstance(promo, wire.SpendOff):
        return Promotion(kind="spend_get_off", threshold_fen=promo.threshold_fen,
                         off_fen=promo.off_fen, repeat=promo.repeat, **scope, **common)  # fmt: skip
    if isinstance(promo, wire.PercentOff):
        return Promotion(kind="item_percent", percent_bp=promo.percent_bp,
                         with_tier_discount=promo.with_tier_discount,
                         **scope, **common)  # fmt: skip
    return Promotion(kind="buy_x_get_y", buy_qty=promo.buy, get_qty=promo.get,
                     percent_bp=promo.get_percent_bp, repeat=promo.repeat,
                     with_tier_discount=promo.with_tier_discount, **scope, **common)  # fmt: skip


def checkout_rules(base: CheckoutConfig, rules: wire.PublishedRules | None) -> CheckoutConfig:
    """``base`` (the terminal file's settings) with HQ's figures from ``rules`` in place.

    ``None`` means the built-in defaults (version ""). Raises CheckoutError if the figures
    do not make a valid checkout configuration.
    """
    body = rules if rules is not None else wire.default_rules()
    levels = {Tier(level.tier): level for level in body.tiers.levels}
    loyalty = LoyaltyConfig(
        fen_per_point=body.loyalty.fen_per_point,
        multiplier_bp={t: level.points_multiplier_bp for t, level in levels.items()},
        redeem_block_points=body.loyalty.redeem_block_points,
        redeem_block_value_fen=body.loyalty.redeem_block_value_fen,
        redeem_cap_bp=body.loyalty.redeem_cap_bp,
        tier_spend_fen={t: level.threshold for t, level in levels.items()},
        expiry_days=body.loyalty.expiry_days,
        tier_basis=body.tiers.basis,
    )
    pricing = PricingConfig(
        tier_discount_bp={t: level.discount_bp for t, level in levels.items()},
        promotions=tuple(promotion(p, base.language) for p in body.promotions),
        manager_discount_threshold_bp=base.pricing.manager_discount_threshold_bp,
    )
    returns = ReturnPolicy(
        window_days=body.returns.window_days,
        no_receipt_cap_fen=body.returns.no_receipt_cap_fen,
        max_returns_per_30_days=body.returns.max_returns_per_30_days,
    )
    version = rules.version if rules is not None else wire.DEFAULT_VERSION
    return dataclasses.replace(base, pricing=pricing, loyalty=loyalty, returns=returns,
                               rules_version=version)  # fmt: skip


def read_rules(db: Database, store_id: str) -> wire.PublishedRules | None:
    """The rule set in force for this store as the store file holds it (None: defaults).

    The store's own rule set wins over the chain's. Raises ProtocolError when the one in
    force cannot be read.
    """
    for key in (wire.store_rules_key(store_id), wire.RULES_KEY):
        row = db.row("SELECT value FROM meta WHERE key = ?", (CONFIG_PREFIX + key,))
        if row is None:
            continue
        try:
            value = msgspec.json.decode(row[0])
        except msgspec.DecodeError as err:
            raise ProtocolError(f"rules {key!r}: not JSON: {err}") from None
        return decode_published(value, key)
    return None


class RulesInForce:
    """Hands out the checkout settings of the newest loadable rule set, checking cheaply.

    Only the config stream's version is read on each check; the rule set is read and
    rebuilt when that version moves. Call it from the thread that owns ``db``.
    """

    def __init__(self, db: Database, base: CheckoutConfig) -> None:
        self._db = db
        self._base = base
        self._seen = -1
        self.config = base
        self.problem = ""  # why the newest rule set is not in force ("" when it is)

    def refresh(self) -> CheckoutConfig | None:
        """The new settings if the rules in force changed since the last call, else None."""
        row = self._db.row("SELECT version FROM stream_version WHERE stream = 'config'")
        version = int(row[0]) if row else 0
        if version == self._seen:
            return None
        self._seen = version
        try:
            rules = read_rules(self._db, self._base.store_id)
            config = checkout_rules(self._base, rules)
        except (ProtocolError, CheckoutError, ValueError) as err:
            kept = self.config.rules_version or "built-in defaults"
            self.problem = f"rules not loaded, {kept} kept: {err}"
            log.error("%s", self.problem)
            return None
        self.problem = ""
        if config == self.config:
            return None
        log.info("rules %s in force from the next sale", config.rules_version or "(defaults)")
        self.config = config
        return config
