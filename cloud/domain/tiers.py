"""Member tiers by cumulative spend: thresholds, the tier a spend earns, and upgrade detection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

TIER_ORDER: Final = ("regular", "silver", "gold")


@dataclass(frozen=True, slots=True)
class TierThresholds:
    """Cumulative spend (fen) at which a member reaches each tier; defaults from the mission."""

    silver_fen: int = 2_000_00
    gold_fen: int = 5_000_00

    def __post_init__(self) -> None:
        if not 0 < self.silver_fen <= self.gold_fen:
            raise ValueError(
                f"tier thresholds must satisfy 0 < silver <= gold, got "
                f"silver={self.silver_fen} gold={self.gold_fen}"
            )


def tier_rank(tier: str) -> int:
    """Position of ``tier`` in the upgrade order; an unknown tier ranks as regular."""
    return TIER_ORDER.index(tier) if tier in TIER_ORDER else 0


def tier_for_spend(spend_fen: int, thresholds: TierThresholds) -> str:
    """The tier that a cumulative spend earns on its own."""
    if spend_fen >= thresholds.gold_fen:
        return "gold"
    if spend_fen >= thresholds.silver_fen:
        return "silver"
    return "regular"


def upgrade_for(current_tier: str, spend_fen: int, thresholds: TierThresholds) -> str | None:
    """Return the new tier if ``spend_fen`` lifts the member above ``current_tier``, else None.

    Only upgrades happen at ingest (they apply immediately); downgrades are an HQ batch job,
    so a return that lowers spend never lowers the tier here.
    """
    earned = tier_for_spend(spend_fen, thresholds)
    return earned if tier_rank(earned) > tier_rank(current_tier) else None
