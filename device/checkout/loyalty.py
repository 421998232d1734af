"""Loyalty points and tiers: earning, redemption limits, tier upgrades and FIFO expiry.

Points are a ledger of signed deltas (records.PointsDelta); a balance is always a sum,
never stored. Earning is 1 point per ``fen_per_point`` fen paid after discounts, times
the tier multiplier, rounded down once at the end (so gold's 1.5x on ¥15 paid gives
floor(2.25) = 2 points). Only money earns: the points-tender and coupon portions of a
sale do not (see :func:`earnable_fen`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from device.checkout.errors import LoyaltyError
from device.checkout.money import BP_WHOLE, format_fen
from device.checkout.records import PointsDelta, PointsReason, TenderKind, TenderLine, Tier

TIER_ORDER: tuple[Tier, ...] = (Tier.REGULAR, Tier.SILVER, Tier.GOLD)

_DEFAULT_MULTIPLIER: Mapping[Tier, int] = MappingProxyType(
    {Tier.REGULAR: BP_WHOLE, Tier.SILVER: BP_WHOLE, Tier.GOLD: BP_WHOLE}
)
_DEFAULT_TIER_SPEND: Mapping[Tier, int] = MappingProxyType(
    {Tier.REGULAR: 0, Tier.SILVER: 200_000, Tier.GOLD: 500_000}
)


@dataclass(frozen=True, slots=True)
class LoyaltyConfig:
    """Earning, redemption, tier and expiry rules; every figure is configurable."""

    fen_per_point: int = 1000
    multiplier_bp: Mapping[Tier, int] = field(
        default_factory=lambda: _DEFAULT_MULTIPLIER, hash=False
    )
    redeem_block_points: int = 100
    redeem_block_value_fen: int = 1000
    redeem_cap_bp: int = 5000  # at most this share of a sale's total may be paid in points
    tier_spend_fen: Mapping[Tier, int] = field(
        default_factory=lambda: _DEFAULT_TIER_SPEND, hash=False
    )
    expiry_days: int = 365
    # "spend": the till upgrades a member as soon as a sale takes their spend over a
    # threshold; "visits": tiers count visits, which only the cloud knows, so it upgrades.
    tier_basis: str = "spend"

    def __post_init__(self) -> None:
        # Read-only copies, so a caller's dict changed later cannot change the rules.
        object.__setattr__(self, "multiplier_bp", MappingProxyType(dict(self.multiplier_bp)))
        object.__setattr__(self, "tier_spend_fen", MappingProxyType(dict(self.tier_spend_fen)))
        if self.fen_per_point <= 0:
            raise LoyaltyError("fen_per_point must be positive")
        if self.redeem_block_points <= 0 or self.redeem_block_value_fen <= 0:
            raise LoyaltyError("redemption block must be positive points and value")
        if not 0 <= self.redeem_cap_bp <= BP_WHOLE:
            raise LoyaltyError("redemption cap must be 0..10000 bp")
        if self.expiry_days <= 0:
            raise LoyaltyError("expiry_days must be positive")
        if self.tier_basis not in ("spend", "visits"):
            raise LoyaltyError("tiers are by spend or by visits")
        if any(bp < 0 for bp in self.multiplier_bp.values()):
            raise LoyaltyError("points multipliers cannot be negative")
        spends = [self.tier_spend_fen.get(t, 0) for t in TIER_ORDER]
        if spends != sorted(spends) or spends[0] < 0:
            raise LoyaltyError("tier spend thresholds must rise with the tier")


def earnable_fen(total_fen: int, tenders: Iterable[TenderLine]) -> int:
    """The part of a sale's total paid with money (not points, not coupons), which earns points."""
    unearning = sum(
        t.amount_fen for t in tenders if t.kind in (TenderKind.POINTS, TenderKind.COUPON)
    )
    return max(0, total_fen - unearning)


def points_earned(paid_fen: int, tier: Tier, config: LoyaltyConfig) -> int:
    """Points for ``paid_fen`` of money paid after discounts; never negative."""
    if paid_fen <= 0:
        return 0
    multiplier = config.multiplier_bp.get(tier, BP_WHOLE)
    return paid_fen * multiplier // (config.fen_per_point * BP_WHOLE)


def points_value_fen(points: int, config: LoyaltyConfig) -> int:
    """What ``points`` are worth in fen (whole blocks are exact; a part block rounds down)."""
    return points * config.redeem_block_value_fen // config.redeem_block_points


def _available(balance: int) -> int:
    # The till's balance is the cloud's value plus its own events the cloud has not counted
    # (its unconfirmed redemptions included), so two of its own sales cannot spend the same
    # points twice; a negative balance (over-redeemed elsewhere) allows nothing.
    return max(0, balance)


def _cap_fen(total_fen: int, config: LoyaltyConfig) -> int:
    return max(0, total_fen) * config.redeem_cap_bp // BP_WHOLE


def max_redeemable_points(total_fen: int, balance: int, config: LoyaltyConfig) -> int:
    """The most points (whole blocks) that may pay for this sale, within cap and balance."""
    by_balance = _available(balance) // config.redeem_block_points
    by_cap = _cap_fen(total_fen, config) // config.redeem_block_value_fen
    return min(by_balance, by_cap) * config.redeem_block_points


def validate_redemption(points: int, total_fen: int, balance: int, config: LoyaltyConfig) -> int:
    """Return the fen value of redeeming ``points`` on this sale, or raise LoyaltyError."""
    block = config.redeem_block_points
    if points <= 0:
        raise LoyaltyError("enter the number of points to redeem")
    if points % block:
        raise LoyaltyError("redeem in blocks of {block}", block=block)
    available = _available(balance)
    if points > available:
        raise LoyaltyError("only {available} points available", available=available)
    value = points_value_fen(points, config)
    cap = _cap_fen(total_fen, config)
    if value > cap:
        raise LoyaltyError(
            "at most {cap} of this sale can be paid with points", cap=format_fen(cap)
        )
    return value


def tier_for_spend(cumulative_spend_fen: int, config: LoyaltyConfig) -> Tier:
    """The highest tier whose spend threshold is reached (at the threshold counts)."""
    reached = Tier.REGULAR
    for tier in TIER_ORDER:
        if cumulative_spend_fen >= config.tier_spend_fen.get(tier, 0):
            reached = tier
    return reached


def upgraded_tier(current: Tier, cumulative_spend_fen: int, config: LoyaltyConfig) -> Tier:
    """The tier after a sale: upgrades apply at once; downgrades are left to HQ."""
    if config.tier_basis != "spend":
        return current
    earned = tier_for_spend(cumulative_spend_fen, config)
    return max(current, earned, key=TIER_ORDER.index)


def balance(deltas: Iterable[PointsDelta]) -> int:
    """The balance a ledger adds up to."""
    return sum(d.delta for d in deltas)


@dataclass(slots=True)
class _Lot:
    """Unspent points from one positive ledger row (working state of expire_points)."""

    when: dt.datetime
    left: int
    delta: PointsDelta


def expire_points(
    ledger: Sequence[tuple[dt.datetime, PointsDelta]],
    now: dt.datetime,
    config: LoyaltyConfig,
) -> list[PointsDelta]:
    """Expiry deltas for points older than ``expiry_days`` that are still unspent, oldest first.

    Every positive delta is a lot; every negative delta (redemption, return reversal,
    earlier expiry, negative adjustment) uses up the oldest lots first (FIFO). A lot
    expires when ``now`` is at or past its time plus ``expiry_days``. Earlier expiry
    rows in the ledger count, so running this again adds nothing. A deficit (a balance
    driven negative by reconciliation) is paid off by the next lots before they count.
    """
    horizon = dt.timedelta(days=config.expiry_days)
    lots: list[_Lot] = []
    debt = 0
    for when, delta in sorted(ledger, key=lambda row: row[0]):
        if delta.delta > 0:
            paid = min(debt, delta.delta)
            debt -= paid
            if delta.delta - paid:
                lots.append(_Lot(when, delta.delta - paid, delta))
        elif delta.delta < 0:
            need = -delta.delta
            for lot in lots:
                take = min(lot.left, need)
                lot.left -= take
                need -= take
                if need == 0:
                    break
            lots = [lot for lot in lots if lot.left]
            debt += need
    return [
        PointsDelta(lot.delta.member_id, -lot.left, PointsReason.EXPIRY, lot.delta.origin_sale_id)
        for lot in lots
        if lot.when + horizon <= now
    ]
