"""The periodic tier review: which members fall to a lower tier, by spend or visits in a window.

Upgrades happen at ingest, at once; only this review lowers a tier (MISSION: "downgrades are
evaluated periodically at HQ"). A tier, once reached, holds for one whole window: a member
is only reviewed on a window that lies entirely after the day the tier was reached, so a
member upgraded last week (or imported as gold yesterday) keeps the tier until a full
window of their own buying can be judged.

Ingest upgrades by exactly the same measure (``upgrade_to``): spend or visits in the window
ending on the current business day, read from the members' daily spend, under the thresholds
of the rules version. A member this review lowered is therefore lifted again only by buying
enough inside the window, never by the spend the review already judged too old to count.
A window of 0 days counts everything since joining: that measure never falls except by
refunds, which never lower a tier, so such a tier holds for good.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

from cloud.domain.tiers import TIER_ORDER, tier_rank

Basis = Literal["spend", "visits"]
BASES: Final = ("spend", "visits")
MAX_WINDOW_DAYS: Final = 3660


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """What earns and keeps a tier: spend (fen paid in money, net of refunds) or visits, in a
    window of ``window_days`` business days (0: since joining)."""

    basis: Basis = "spend"
    window_days: int = 365
    silver: int = 2_000_00  # fen, or visits
    gold: int = 5_000_00

    def __post_init__(self) -> None:
        if self.basis not in BASES:
            raise ValueError(f"tier basis must be one of {', '.join(BASES)}, got {self.basis!r}")
        if not 0 <= self.window_days <= MAX_WINDOW_DAYS:
            raise ValueError(
                f"tier window must be 0..{MAX_WINDOW_DAYS} days, got {self.window_days}"
            )
        if not 0 < self.silver <= self.gold:
            raise ValueError(
                f"tier thresholds must satisfy 0 < silver <= gold, got silver={self.silver} "
                f"gold={self.gold}"
            )

    def window_start(self, today: dt.date) -> dt.date:
        """The first business day the window counts (today is the last); the earliest date
        when the window is everything since joining."""
        if self.window_days == 0:
            return dt.date.min
        return today - dt.timedelta(days=self.window_days - 1)


def earned_tier(measure: int, policy: TierPolicy) -> str:
    """The tier a window's spend or visits earns on its own."""
    if measure >= policy.gold:
        return "gold"
    if measure >= policy.silver:
        return "silver"
    return TIER_ORDER[0]


def upgrade_to(current: str, measure: int, policy: TierPolicy) -> str | None:
    """The higher tier the window's measure lifts a member to at once, or None."""
    target = earned_tier(measure, policy)
    return target if tier_rank(target) > tier_rank(current) else None


def downgrade_to(
    current: str, measure: int, reached: dt.date, today: dt.date, policy: TierPolicy
) -> str | None:
    """The lower tier a member falls to, or None when the tier holds.

    ``reached`` is the business day the member reached ``current``; the tier holds until
    the window no longer includes that day.
    """
    if tier_rank(current) == 0 or reached >= policy.window_start(today):
        return None
    target = earned_tier(measure, policy)
    return target if tier_rank(target) < tier_rank(current) else None
