"""RFM segmentation rules: how scores are cut, which label a member gets, cycles and dormancy.

The scores themselves are computed by the database (cloud.store.segments) over every member at
once; this module holds the rules it applies, written once so the SQL and the tests read the
same figures.

Scores run 1..5, 5 best: recency 5 = bought most recently, frequency 5 = most visits, monetary
5 = most spent. With the ``quintiles`` method a member's score is ``1 + (rank - 1) * 5 // n``
where ``rank`` is the member's rank from the worst (ties share the lowest rank, so equal
members always share a score) and ``n`` the number of members scored. With ``thresholds``
each score counts how many of four ascending edges the member reaches.

Labels, first match wins:

1. **new**: first purchase within ``new_days`` of the scoring day;
2. **one-off**: one visit only (and not new);
3. **at-risk/dormant**: recency score at most ``at_risk_r`` (bought long ago, relative to the
   others), whatever they spent;
4. **high-value**: frequency and monetary scores both at least ``high_value_fm``;
5. **regular**: everyone else who buys.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Final, Literal

NEW: Final = "new"
ONE_OFF: Final = "one-off"
AT_RISK: Final = "at-risk"
HIGH_VALUE: Final = "high-value"
REGULAR: Final = "regular"
#: Every label, in the order the page lists them.
LABELS: Final = (NEW, REGULAR, HIGH_VALUE, AT_RISK, ONE_OFF)
#: The label of a member before their first scoring (the "from" side of a movement).
UNSCORED: Final = "unscored"


class RfmError(ValueError):
    """Segmentation settings that cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Edges for the ``thresholds`` method: four ascending values per score.

    Recency edges are days since the last purchase and count the other way (fewer days is a
    better score): a member 10 days out with edges (30, 60, 90, 180) reaches all four (score 5);
    200 days out, none (score 1).
    """

    recency_days: tuple[int, int, int, int] = (30, 60, 90, 180)
    visits: tuple[int, int, int, int] = (2, 4, 8, 16)
    spend_fen: tuple[int, int, int, int] = (20_000, 50_000, 100_000, 300_000)

    def __post_init__(self) -> None:
        for name in ("recency_days", "visits", "spend_fen"):
            edges = getattr(self, name)
            if len(edges) != 4 or list(edges) != sorted(set(edges)) or edges[0] < 0:
                raise RfmError(f"{name}: four distinct ascending edges >= 0, got {edges!r}")


@dataclass(frozen=True, slots=True)
class RfmPolicy:
    """How members are scored and labelled, and when a high-value member counts as dormant."""

    method: Literal["quintiles", "thresholds"] = "quintiles"
    thresholds: Thresholds = field(default_factory=Thresholds)
    new_days: int = 30
    at_risk_r: int = 2
    high_value_fm: int = 4
    #: Dormant list: monetary score at least this, and no visit within multiple x own cycle.
    dormant_m: int = 4
    dormant_multiple: float = 2.0

    def __post_init__(self) -> None:
        if self.method not in ("quintiles", "thresholds"):
            raise RfmError(f"method: quintiles or thresholds, got {self.method!r}")
        if not 1 <= self.new_days <= 3650:
            raise RfmError(f"new_days: 1..3650, got {self.new_days}")
        for name in ("at_risk_r", "high_value_fm", "dormant_m"):
            if not 1 <= getattr(self, name) <= 5:
                raise RfmError(f"{name}: a score 1..5, got {getattr(self, name)}")
        if not 1.0 <= self.dormant_multiple <= 20.0:
            raise RfmError(f"dormant_multiple: 1..20, got {self.dormant_multiple}")

    def describe(self) -> dict[str, object]:
        """The settings as the page and the run record state them."""
        out: dict[str, object] = {
            "method": self.method,
            "new_days": self.new_days,
            "at_risk_r": self.at_risk_r,
            "high_value_fm": self.high_value_fm,
            "dormant_m": self.dormant_m,
            "dormant_multiple": self.dormant_multiple,
        }
        if self.method == "thresholds":
            t = self.thresholds
            out["thresholds"] = {
                "recency_days": list(t.recency_days),
                "visits": list(t.visits),
                "spend_fen": list(t.spend_fen),
            }
        return out


def quintile(rank: int, n: int) -> int:
    """The score of the member ranked ``rank`` (1 = worst) among ``n``."""
    if not 1 <= rank <= n:
        raise RfmError(f"rank {rank} outside 1..{n}")
    return 1 + (rank - 1) * 5 // n


def threshold_score(value: int, edges: tuple[int, ...], *, lower_is_better: bool = False) -> int:
    """1 + the number of edges ``value`` reaches (for recency: stays within)."""
    if lower_is_better:
        return 1 + sum(1 for e in edges if value <= e)
    return 1 + sum(1 for e in edges if value >= e)


def label(policy: RfmPolicy, *, r: int, f: int, m: int, visits: int, days_since_first: int) -> str:
    """The label of one scored member (rules in the module docstring)."""
    if days_since_first < policy.new_days:
        return NEW
    if visits <= 1:
        return ONE_OFF
    if r <= policy.at_risk_r:
        return AT_RISK
    if f >= policy.high_value_fm and m >= policy.high_value_fm:
        return HIGH_VALUE
    return REGULAR


def purchase_cycle_days(first: dt.date, last: dt.date, visits: int) -> float | None:
    """Average days between visits (None with fewer than two visits)."""
    if visits < 2:
        return None
    return (last - first).days / (visits - 1)


def is_dormant(
    policy: RfmPolicy, *, m: int, cycle_days: float | None, days_since_last: int,
    multiple: float | None = None,
) -> bool:  # fmt: skip
    """A high-value member past ``multiple`` times their own cycle without a visit.

    A member with no cycle (one visit) has no usual rhythm to miss and is never listed; a
    cycle under a day counts as one day, so a shopper who came twice on one day is due back
    the next day, not at once.
    """
    if cycle_days is None or m < policy.dormant_m:
        return False
    times = policy.dormant_multiple if multiple is None else multiple
    return days_since_last > times * max(cycle_days, 1.0)
