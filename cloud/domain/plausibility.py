"""Re-check a till's event against the rules it names: sums, signs, tenders, points, time.

A terminal's credentials prove who sent an event, not that its numbers are honest: a forged
or buggy till could send a 1-fen total against a ¥10,000 line, a negative quantity, or a
billion points. Every check here works from the event alone and the rules version it names,
so it runs in ingest's CPU stage before any database work. An event that fails is stored
and held out of the projections until HQ accepts or rejects it; it is never dropped. Each
reason is a Flag (its id in cloud.domain.implausible): English text that keeps its message id
and arguments, so HQ's page can say it in its reader's language.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Final

from cloud.domain.flags import Flag
from cloud.domain.tiers import TierThresholds
from protocol.bodies import (
    EventBody,
    MemberRegisteredBody,
    PointsAdjustmentBody,
    PointsDeltaBody,
    ReturnBody,
    SaleBody,
)
from protocol.topics import ALL_STORES

BP_WHOLE: Final = 10_000
TIERS: Final = ("regular", "silver", "gold")
#: The discount kind a till records for the member tier's rate (device.checkout.pricing).
TIER_DISCOUNT: Final = "tier"
#: Tenders that are not money: they neither count as spend nor earn points.
NON_MONEY_TENDERS: Final = frozenset({"points", "coupon"})
#: Points reasons each kind of event may carry.
SALE_POINTS: Final = frozenset({"earn", "redeem"})
RETURN_POINTS: Final = frozenset({"return_reversal", "return_refund"})


def round_div(numerator: int, denominator: int) -> int:
    """Divide and round half away from zero: the project's one money rounding rule.

    The terminal's core (device.checkout.money.round_div) applies the same rule and must not
    import cloud code; tests/cloud/domain/test_plausibility.py checks the two agree.
    """
    if denominator <= 0:
        raise ValueError("round_div needs a positive denominator")
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The figures a till priced with; one per rules version HQ published."""

    fen_per_point: int = 1000
    multiplier_bp: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType(
            dict.fromkeys(("regular", "silver", "gold"), 10_000)
        )
    )
    # The tier discount rates the till priced with (the till's built-in 9折 / 8折).
    tier_discount_bp: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({"regular": 0, "silver": 1000, "gold": 2000})
    )
    redeem_block_points: int = 100
    redeem_block_value_fen: int = 1000
    redeem_cap_bp: int = 5000
    no_receipt_refund_cap_fen: int = 20_000  # the till's ReturnPolicy default
    # Where the version's tiers start, for upgrades at ingest; None: ingest's own setting.
    thresholds: TierThresholds | None = None
    tier_basis: str = "spend"  # or "visits": the measure tiers are earned and kept by
    tier_window_days: int = 0  # business days the measure counts (0: since joining)
    scope: str = ALL_STORES  # the store whose own rule set this is, or every store

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its multipliers as a plain dict (a mapping proxy cannot be): the
        ingest worker hands its rules to its prepare process."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["multiplier_bp"] = dict(self.multiplier_bp)
        values["tier_discount_bp"] = dict(self.tier_discount_bp)
        return (_rule_set, (values,))


def _rule_set(values: dict[str, Any]) -> RuleSet:
    """A RuleSet from its pickled field values (see RuleSet.__reduce__)."""
    rates = {k: MappingProxyType(values[k]) for k in ("multiplier_bp", "tier_discount_bp")}
    return RuleSet(**{**values, **rates})


@dataclass(frozen=True, slots=True)
class Clock:
    """How far a synchronised device clock may be from the cloud's receive time."""

    future_tolerance: dt.timedelta = dt.timedelta(minutes=10)
    # Generous: a till may sell offline for weeks, and what matters is a clock that claims to
    # be synchronised yet reads decades off (1970 after a lost RTC, 2099 from a forger).
    max_offline: dt.timedelta = dt.timedelta(days=3650)


class _Findings:
    """Collects reasons; each check appends what it found wrong, in words for HQ."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def expect(self, ok: bool, msg_id: str, /, **args: object) -> None:
        # The message is made only when the check fails: most events pass every check.
        if not ok:
            self.reasons.append(Flag(msg_id, **args))


def _lines(body: SaleBody, reasons: list[str], tier_bp: int) -> tuple[int, int, int]:
    gross_sum = discount_sum = net_sum = 0
    for line in body.lines:
        n, qty, weight, unit = line.line_no, line.quantity, line.weight_g, line.unit_price_fen
        if weight is not None:
            if qty != 1:
                reasons.append(Flag("implausible.weighed_quantity", line=n, quantity=qty))
            expected = round_div(unit * weight, 1000)
        else:
            expected = unit * qty
        gross = line.gross_fen
        if gross != expected:
            reasons.append(Flag("implausible.line_gross", line=n, gross=gross, expected=expected))
        discounts = 0
        for d in line.discounts:  # a loop, not sum(): most lines have none
            if d.kind == TIER_DISCOUNT:
                _tier_discount(body, line.line_no, d.amount_fen, gross - discounts, tier_bp,
                               line.price_overridden, reasons)  # fmt: skip
            discounts += d.amount_fen
        if line.net_fen != gross - discounts:
            reasons.append(Flag("implausible.line_net", line=n, net=line.net_fen, gross=gross,
                                discounts=discounts))  # fmt: skip
        gross_sum += gross
        discount_sum += discounts
        net_sum += line.net_fen
    return gross_sum, discount_sum, net_sum


def _tier_discount(
    body: SaleBody, line: int, amount: int, base: int, tier_bp: int, overridden: bool,
    reasons: list[str],
) -> None:  # fmt: skip
    """A tier discount is the claimed tier's rate of the line's net before it, as the till
    takes it (device.checkout.pricing: after the item promotion, before anything else); a
    manager's price override gets none. Without this a sale claiming ``regular`` (so earning
    regular points and passing the tier bound) could still take gold's 20 % off."""
    expected = 0 if overridden else min(base, round_div(base * tier_bp, BP_WHOLE))
    if amount != expected or expected == 0:
        reasons.append(Flag("implausible.tier_discount", line=line, amount=amount,
                            tier=str(body.member_tier), expected=expected))  # fmt: skip


def _tenders(body: SaleBody, reasons: list[str]) -> tuple[int, int, int]:
    """(points tendered, coupons tendered, how many coupon tenders)."""
    applied = change = points_value = coupons = coupon_tenders = 0
    for i, tender in enumerate(body.tenders, start=1):
        amount, handed, kind = tender.amount_fen, tender.tendered_fen, tender.kind
        if not (amount > 0):
            reasons.append(Flag("implausible.tender_amount", tender=i))
        if kind == "cash":
            if not (handed >= amount):
                reasons.append(
                    Flag("implausible.cash_short", tender=i, handed=handed, amount=amount)
                )
            if handed > amount:  # max(0, handed - amount), without a call per tender
                change += handed - amount
        elif kind == "points":
            points_value += amount
        elif kind == "coupon":
            coupons += amount
            coupon_tenders += 1
        applied += amount
    total = body.total_fen
    if applied != total:
        reasons.append(Flag("implausible.tenders_total", applied=applied, total=total))
    if body.change_fen != change:
        reasons.append(Flag("implausible.change", change=body.change_fen, expected=change))
    return points_value, coupons, coupon_tenders


def _points_rows(
    rows: Sequence[PointsDeltaBody], member: str | None, allowed: frozenset[str], found: _Findings
) -> dict[str, int]:
    by_reason: dict[str, int] = {}
    for row in rows:
        if not (member is not None and row.member_id == member):
            found.reasons.append(Flag("implausible.points_member", row_member=repr(row.member_id),
                                      member=repr(member)))  # fmt: skip
        if row.reason not in allowed:
            found.reasons.append(Flag("implausible.points_reason", reason=repr(row.reason)))
        by_reason[row.reason] = by_reason.get(row.reason, 0) + row.delta
    return by_reason


def check_sale(body: SaleBody, rules: RuleSet) -> list[str]:
    """Reasons a sale does not add up under ``rules`` ([] when it does)."""
    reasons: list[str] = []
    tier = body.member_tier if body.member_id is not None else None
    tier_bp = rules.tier_discount_bp.get(tier, 0) if tier is not None else 0
    gross, discounts, net = _lines(body, reasons, tier_bp)
    total = body.total_fen
    if body.gross_fen != gross:
        reasons.append(Flag("implausible.sale_gross", gross=body.gross_fen, lines=gross))
    if body.discount_fen != discounts:
        reasons.append(
            Flag("implausible.sale_discount", discount=body.discount_fen, lines=discounts)
        )
    if total != net:
        reasons.append(Flag("implausible.sale_total", total=total, net=net))
    points_value, coupons, coupon_tenders = _tenders(body, reasons)
    if len(body.coupon_codes) != coupon_tenders:
        reasons.append(Flag("implausible.coupon_codes"))
    member = body.member_id
    earned, redeemed = body.points_earned, body.points_redeemed
    if body.points:
        found = _Findings()
        by_reason = _points_rows(body.points, member, SALE_POINTS, found)
        reasons += found.reasons
    else:
        by_reason = {}
    if by_reason.get("earn", 0) != earned:
        reasons.append(Flag("implausible.earn_rows", earned=earned))
    if -by_reason.get("redeem", 0) != redeemed:
        reasons.append(Flag("implausible.redeem_rows", redeemed=redeemed))
    if member is None:
        if not (earned == 0 and redeemed == 0 and points_value == 0):
            reasons.append(Flag("implausible.points_no_member"))
        return reasons
    block, value = rules.redeem_block_points, rules.redeem_block_value_fen
    if redeemed % block != 0:
        reasons.append(Flag("implausible.redeem_block", redeemed=redeemed, block=block))
    if points_value != redeemed * value // block:
        reasons.append(Flag("implausible.points_value", value=points_value, redeemed=redeemed))
    cap = total * rules.redeem_cap_bp // BP_WHOLE
    if not (points_value <= cap):
        reasons.append(Flag("implausible.points_cap", paid=points_value, cap=cap))
    multiplier = rules.multiplier_bp.get(body.member_tier or "regular", BP_WHOLE)
    earnable = max(0, total - points_value - coupons)
    expected = earnable * multiplier // (rules.fen_per_point * BP_WHOLE)
    if earned != expected:
        reasons.append(Flag("implausible.points_earned", earned=earned, expected=expected))
    return reasons


def check_return(body: ReturnBody, rules: RuleSet) -> list[str]:
    """Reasons a return does not add up under ``rules``."""
    found = _Findings()
    refund = body.refund_fen
    lines = sum(line.refund_fen for line in body.lines)
    found.expect(lines == refund, "implausible.refund_lines", refund=refund, lines=lines)
    paid = sum(t.amount_fen for t in body.refunds)
    found.expect(paid == refund, "implausible.refund_tenders", paid=paid, refund=refund)
    if body.original_sale_id is None:
        found.expect(bool(body.authorised_by), "implausible.no_receipt_manager")
        cap = rules.no_receipt_refund_cap_fen
        found.expect(refund <= cap, "implausible.no_receipt_cap", refund=refund, cap=cap)
        # Points come back only in proportion to a sale's (cloud.domain.return_bounds).
        found.expect(not body.points, "implausible.no_receipt_points")
    by_reason = _points_rows(body.points, body.member_id, RETURN_POINTS, found)
    found.expect(by_reason.get("return_reversal", 0) <= 0, "implausible.reversal_sign")
    found.expect(by_reason.get("return_refund", 0) >= 0, "implausible.refund_sign")
    return found.reasons


def check_points_adjustment(body: PointsAdjustmentBody, rules: RuleSet) -> list[str]:
    """A till never adjusts points by hand: HQ does, with a reason, as a cloud job."""
    return [Flag("implausible.till_adjustment", delta=body.delta, member=repr(body.member_id))]


def check_registration(body: MemberRegisteredBody, rules: RuleSet) -> list[str]:
    """A member registered at a till starts with nothing: no points, spend or tier."""
    found = _Findings()
    found.expect(body.points_balance == 0, "implausible.new_points", points=body.points_balance)
    found.expect(body.cumulative_spend_fen == 0, "implausible.new_spend")
    found.expect(body.tier == "regular", "implausible.new_tier", tier=body.tier)
    return found.reasons


_CHECKS: Final[Mapping[type[Any], Callable[[Any, RuleSet], list[str]]]] = MappingProxyType(
    {
        SaleBody: check_sale,
        ReturnBody: check_return,
        PointsAdjustmentBody: check_points_adjustment,
        MemberRegisteredBody: check_registration,
    }
)


def check_time(
    device_time: dt.datetime, clock_synced: bool, received_at: dt.datetime, clock: Clock
) -> list[str]:
    """A synchronised clock cannot be in the future, nor older than any plausible outage."""
    if not clock_synced:
        return []  # business time comes from the receive time; nothing to trust or doubt
    if device_time > received_at + clock.future_tolerance:
        return [Flag("implausible.time_future", time=device_time.isoformat(),
                     received=received_at.isoformat())]  # fmt: skip
    if device_time < received_at - clock.max_offline:
        return [Flag("implausible.time_ancient", time=device_time.isoformat())]
    return []


def in_scope(rules: RuleSet, store_id: str) -> bool:
    """Whether a till of ``store_id`` can hold this rule set (the chain's, or its store's)."""
    return rules.scope == ALL_STORES or rules.scope == store_id


def check(
    body: EventBody,
    rules: RuleSet | None,
    rules_version: str,
    device_time: dt.datetime,
    clock_synced: bool,
    received_at: dt.datetime,
    clock: Clock = Clock(),
    store_id: str | None = None,
) -> Sequence[str]:
    """Every reason the event is implausible; empty when it may be projected.

    With ``store_id``, a rule set another store's own is a reason too: only that store's
    tills are pushed it.
    """
    reasons = check_time(device_time, clock_synced, received_at, clock)
    checker = _CHECKS.get(type(body))
    if checker is None:
        return reasons
    if rules is None:
        return [*reasons, Flag("implausible.rules_unknown", version=repr(rules_version))]
    if store_id is not None and not in_scope(rules, store_id):
        reasons = [*reasons, Flag("implausible.rules_other_store", version=repr(rules_version),
                                  scope=rules.scope, store=store_id)]  # fmt: skip
    return [*reasons, *checker(body, rules)]
