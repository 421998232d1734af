"""Whether a coupon may pay a sale and for how much, and what is wrong with a use already made.

The cloud is the authority on coupons: a till asks it before a coupon pays (protocol.remote
CouponCheck) and applies the same rules to its cache only when the cloud cannot be reached
(device.checkout.tenders.coupon_amount; tests/cloud/domain/test_coupons.py checks the two
agree). Money: an amount coupon is worth its value; a percentage coupon its basis points of
the sale's total, rounded half away from zero (the project's one money rounding rule); it
never pays more than asked for, and a share above 100 % is worth the whole total.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from cloud.domain.plausibility import round_div

BP_WHOLE: Final = 10_000
KINDS: Final = ("amount", "percent", "gift")


@dataclass(frozen=True, slots=True)
class CouponFacts:
    """A coupon as HQ issued it."""

    code: str
    kind: str  # "amount" (value in fen) | "percent" (value in basis points) | "gift"
    value: int
    min_spend_fen: int = 0
    member_id: str | None = None
    valid_from: dt.date | None = None  # inclusive, in the store's time zone
    valid_until: dt.date | None = None  # inclusive
    stores: tuple[str, ...] = ()  # empty: every store
    max_uses: int = 1
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class UseRequest:
    """One sale asking to use a coupon."""

    store_id: str
    member_id: str | None
    total_fen: int
    requested_fen: int  # 0: all of its worth
    today: dt.date  # the store's local date


@dataclass(frozen=True, slots=True)
class Verdict:
    """Granted with ``amount_fen`` (``reason`` empty), or refused with a protocol reason."""

    amount_fen: int = 0
    reason: str = ""
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def granted(self) -> bool:
        """True when the coupon may pay."""
        return not self.reason


def worth(kind: str, value: int, total_fen: int) -> int:
    """What a coupon is worth on a sale of ``total_fen`` (0 for a gift coupon)."""
    if kind == "amount":
        return value
    if kind == "percent":
        return round_div(total_fen * min(value, BP_WHOLE), BP_WHOLE)
    return 0


def _no(reason: str, **params: str) -> Verdict:
    return Verdict(reason=reason, params=MappingProxyType(dict(params)))


def _standing(coupon: CouponFacts, store_id: str, member_id: str | None, day: dt.date) -> Verdict:
    """Refused for who, where or when it is used; granted (amount 0) otherwise."""
    code = coupon.code
    if coupon.revoked:
        return _no("coupon_revoked", code=code)
    if coupon.kind not in ("amount", "percent"):
        return _no("coupon_not_tender", code=code)
    if coupon.stores and store_id not in coupon.stores:
        return _no("coupon_other_store", code=code)
    if coupon.member_id:
        if member_id is None:
            return _no("coupon_needs_member", code=code)
        if coupon.member_id != member_id:
            return _no("coupon_other_member", code=code)
    if coupon.valid_from is not None and day < coupon.valid_from:
        return _no("coupon_not_yet", code=code, date=coupon.valid_from.isoformat())
    if coupon.valid_until is not None and day > coupon.valid_until:
        return _no("coupon_expired", code=code, date=coupon.valid_until.isoformat())
    return Verdict()


def check(coupon: CouponFacts | None, code: str, taken: int, use: UseRequest) -> Verdict:
    """May ``use`` spend this coupon, ``taken`` of its uses being gone or held by other tills?"""
    if coupon is None:
        return _no("coupon_unknown", code=code)
    standing = _standing(coupon, use.store_id, use.member_id, use.today)
    if not standing.granted:
        return standing
    if taken >= coupon.max_uses:
        return _no("coupon_used_up", code=code)
    if use.total_fen < coupon.min_spend_fen:
        return _no("coupon_min_spend", code=code, amount_fen=str(coupon.min_spend_fen))
    value = worth(coupon.kind, coupon.value, use.total_fen)
    if use.requested_fen > 0:
        value = min(value, use.requested_fen)
    if value <= 0:
        return _no("coupon_worthless", code=code)
    return Verdict(amount_fen=value)


def use_problems(
    coupon: CouponFacts | None, uses_before: int, store_id: str, member_id: str | None,
    day: dt.date, *, paid_fen: int = 0, total_fen: int | None = None, times: int = 1,
) -> tuple[str, ...]:  # fmt: skip
    """What is wrong with a use a sale already made (taken offline, or forged): for HQ.

    ``uses_before`` counts the coupon's uses recorded before this one; a use beyond
    ``max_uses`` is a double use. With the sale's ``total_fen``, the coupon tenders'
    ``paid_fen`` (``times`` tenders of this code on the one sale) are checked against what the
    coupon is worth and its minimum spend, as a till's offline check applies them. An empty
    tuple: the use was in order.
    """
    if coupon is None:
        return ("unknown_coupon",)
    problems = []
    if uses_before + times > coupon.max_uses:
        problems.append("over_limit")
    standing = _standing(coupon, store_id, member_id, day)
    if not standing.granted:
        problems.append(standing.reason.removeprefix("coupon_"))
    if total_fen is not None:
        if total_fen < coupon.min_spend_fen:
            problems.append("min_spend")
        if paid_fen > times * worth(coupon.kind, coupon.value, total_fen):
            problems.append("over_value")
    if times > 1:
        problems.append("repeated")  # a till refuses a code already on the sale
    return tuple(problems)
