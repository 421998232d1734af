"""The highest tier a till may rightly price a member at: one held lately, or one earned.

A sale names the tier the till priced it at (``member_tier``). That tier sets the tier discount
and the points multiplier, so a till claiming gold for a regular member hands out money that
every sum-and-points check would pass. The cloud is the authority on tiers, but a till may
rightly disagree with it in two ways:

- behind: its member cache still holds a tier the cloud has since lowered (the periodic
  review, HQ), because it was offline. So any tier the member held at some moment from
  ``lag`` before the sale until now is plausible;
- ahead: it upgraded the member on its own sales (upgrades apply at once) before the cloud's
  push came back. Ingest applies a till's events in seq order and never past a gap, so what
  the cloud holds plus the till's earlier events of the same batch is at least what the till
  counted; the tier that measure earns under the sale's rules version is plausible too.

A claim above both is held for HQ like every other implausible sale. A claim below the truth
(the customer got less than the tier gives) is not: it is what every till whose cache has not
heard of an upgrade at another till yet does, and it moves no money the member did not earn.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from cloud.domain.tier_review import TierPolicy, earned_tier
from cloud.domain.tiers import TIER_ORDER, tier_rank


@dataclass(frozen=True, slots=True)
class TierHistory:
    """What the cloud holds of one member id's tier: now, and each change as (when, from, to)."""

    current: str = TIER_ORDER[0]
    changes: tuple[tuple[dt.datetime, str, str], ...] = ()


def held_since(histories: Iterable[TierHistory], since: dt.datetime) -> str:
    """The highest tier any of these ids held at some moment from ``since`` until now.

    A tier held at a moment after ``since`` is either the tier now or the one a later change
    left, so the current tiers and both sides of every change since ``since`` are enough.
    """
    best = 0
    for history in histories:
        best = max(best, tier_rank(history.current))
        for when, old, new in history.changes:
            if when >= since:
                best = max(best, tier_rank(old), tier_rank(new))
    return TIER_ORDER[best]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a claimed tier is within the bound, and the two halves of the bound."""

    ok: bool
    held: str
    earned: str


def judge_claim(claimed: str, held: str, measure: int | None, policy: TierPolicy) -> Verdict:
    """Judge a claimed tier against the tier held lately and, when ``measure`` is given, the
    tier it earns (None: not looked up yet; the claim is then judged by ``held`` alone)."""
    rank = tier_rank(claimed)
    earned = earned_tier(measure, policy) if measure is not None else TIER_ORDER[0]
    return Verdict(rank <= max(tier_rank(held), tier_rank(earned)), held, earned)
