"""HQ's published rule sets as the figures the cloud re-checks sales and returns with.

Every published version stays known for good: a till that was offline for a week still sends
sales priced with the version it held then, and each is checked against exactly that
version's figures (plausibility.RuleSet). Promotion arithmetic is not redone here: the sale's
own lines must add up, which plausibility checks whatever the promotion was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType

from cloud.domain.plausibility import RuleSet
from cloud.domain.tier_review import TierPolicy
from cloud.domain.tiers import TierThresholds
from protocol.rules import DEFAULT_VERSION, PublishedRules, RuleSetBody, default_rules


def rule_set(rules: RuleSetBody) -> RuleSet:
    """The figures plausibility and tier upgrades need from one rule set."""
    levels = {level.tier: level for level in rules.tiers.levels}
    return RuleSet(
        fen_per_point=rules.loyalty.fen_per_point,
        multiplier_bp=MappingProxyType(
            {tier: level.points_multiplier_bp for tier, level in levels.items()}
        ),
        tier_discount_bp=MappingProxyType(
            {tier: level.discount_bp for tier, level in levels.items()}
        ),
        redeem_block_points=rules.loyalty.redeem_block_points,
        redeem_block_value_fen=rules.loyalty.redeem_block_value_fen,
        redeem_cap_bp=rules.loyalty.redeem_cap_bp,
        no_receipt_refund_cap_fen=rules.returns.no_receipt_cap_fen,
        thresholds=TierThresholds(
            silver_fen=levels["silver"].threshold, gold_fen=levels["gold"].threshold
        ),
        tier_basis=rules.tiers.basis,
        tier_window_days=rules.tiers.window_days,
    )


def tier_policy(rules: RuleSetBody | None) -> TierPolicy:
    """How a rule set earns and keeps tiers (None: the built-in defaults)."""
    body = rules if rules is not None else default_rules()
    levels = {level.tier: level.threshold for level in body.tiers.levels}
    return TierPolicy(
        basis=body.tiers.basis, window_days=body.tiers.window_days,
        silver=levels["silver"], gold=levels["gold"],
    )  # fmt: skip


def rule_sets(published: Iterable[PublishedRules]) -> dict[str, RuleSet]:
    """Version -> figures for every published rule set, plus the built-in defaults ("")."""
    # The defaults keep thresholds None: ingest's configured thresholds stay in charge of
    # sales priced before HQ published anything.
    out: dict[str, RuleSet] = {DEFAULT_VERSION: RuleSet()}
    for rules in published:
        out[rules.version] = replace(rule_set(rules), scope=rules.scope)
    return out


def merged(base: Mapping[str, RuleSet], more: Mapping[str, RuleSet]) -> dict[str, RuleSet]:
    """``base`` with ``more`` added (a version once known keeps its figures)."""
    return {**more, **base}
