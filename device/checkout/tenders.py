"""Settling a sale's tenders: split payment in any order, change from cash only.

Rules, applied to the tenders in the order the cashier entered them:

* every tender is a positive amount, and nothing may be tendered once the sale is paid;
* card and mobile need the approval code from the external payment terminal and may
  not exceed what is still due (a card cannot overpay, so it never gives change);
* points and coupons may not exceed what is still due either, and never give change
  (:func:`coupon_amount` checks a coupon against the till's coupon cache first);
* cash may exceed what is due: the applied amount is what was due and the excess is
  the change. A cash tender's ``tendered_fen`` is the cash handed over (when it is 0,
  ``amount_fen`` is taken as handed over).

:func:`settle` returns the tenders as applied (cash ``amount_fen`` after change) and
the change. The sale is complete when :func:`remaining_due` is 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Final

from device.checkout.context import Refused
from device.checkout.errors import TenderError
from device.checkout.money import BP_WHOLE, apply_bp, format_fen
from device.checkout.ports import CouponInfo
from device.checkout.records import TenderKind, TenderLine

_NEEDS_APPROVAL = (TenderKind.CARD, TenderKind.MOBILE)
TENDER_NAMES: Final = MappingProxyType(
    {
        TenderKind.CASH: "cash",
        TenderKind.CARD: "card",
        TenderKind.MOBILE: "mobile payment",
        TenderKind.POINTS: "points",
        TenderKind.COUPON: "coupon",
    }
)


def _handed(tender: TenderLine) -> int:
    if tender.kind is TenderKind.CASH and tender.tendered_fen:
        return tender.tendered_fen
    return tender.amount_fen


def settle(
    total_fen: int, tenders: Sequence[TenderLine], *, require_full: bool = False
) -> tuple[tuple[TenderLine, ...], int]:
    """Apply tenders to a total; return (applied tenders, change) or raise TenderError.

    With ``require_full`` an underpaid sale is an error too (use it when completing).
    """
    if total_fen < 0:
        raise TenderError(
            "cannot take payment for a negative total {total}", total=format_fen(total_fen)
        )
    due = total_fen
    change = 0
    applied: list[TenderLine] = []
    for tender in tenders:
        name = TENDER_NAMES[tender.kind]
        handed = _handed(tender)
        if handed <= 0:
            raise TenderError("{tender} amount must be more than ¥0.00", tender=name)
        if due == 0:
            raise TenderError(
                "the sale is already paid: {tender} {handed} not needed",
                tender=name,
                handed=format_fen(handed),
            )
        if tender.kind in _NEEDS_APPROVAL and not tender.approval_code.strip():
            raise TenderError(
                "{tender} needs the approval code from the payment terminal", tender=name
            )
        if tender.kind is TenderKind.CASH:
            used = min(handed, due)
            change += handed - used
            applied.append(replace(tender, amount_fen=used, tendered_fen=handed))
        else:
            if handed > due:
                raise TenderError(
                    "{tender} {handed} is more than the {due} still due",
                    tender=name,
                    handed=format_fen(handed),
                    due=format_fen(due),
                )
            used = handed
            applied.append(tender)
        due -= used
    if require_full and due:
        raise TenderError("{due} still due", due=format_fen(due))
    return tuple(applied), change


def remaining_due(total_fen: int, tenders: Sequence[TenderLine]) -> int:
    """What is still to pay after these tenders (0 once paid; never negative)."""
    paid = sum(_handed(t) for t in tenders if _handed(t) > 0)
    return max(0, total_fen - paid)


def cash_in_drawer(tenders: Sequence[TenderLine]) -> int:
    """Cash that stays in the drawer for a settled sale (handed over minus change)."""
    return sum(t.amount_fen for t in tenders if t.kind is TenderKind.CASH)


def opens_drawer(tenders: Sequence[TenderLine], change_fen: int) -> bool:
    """The drawer opens on a cash tender or when change is due."""
    return change_fen > 0 or any(t.kind is TenderKind.CASH for t in tenders)


def _iso_date(text: str | None, code: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError as err:
        raise TenderError(
            "coupon {code} has an unreadable date {text!r}", code=code, text=text
        ) from err


def coupon_worth(kind: str, value: int, total_fen: int) -> int:
    """What a coupon is worth on a sale: its value in fen, or its share (basis points) of the
    total rounded half up; a share above 100 % is worth the whole total."""
    if kind == "amount":
        return value
    return apply_bp(total_fen, min(value, BP_WHOLE))


def coupon_amount(
    coupon: CouponInfo,
    *,
    requested_fen: int,
    total_fen: int,
    due_fen: int,
    member_id: str | None,
    today: dt.date,
    store_id: str,
) -> int:
    """What a coupon pays on this sale, or raise Refused saying why it cannot be used.

    The same rules as the cloud's (cloud.domain.coupons), applied to the till's cache when
    HQ cannot be asked. The coupon pays the smallest of its worth, the amount the cashier
    asked for (0: all of its worth) and what is still due; a coupon never gives change.
    """
    code = coupon.code
    if coupon.revoked:
        raise Refused("coupon.revoked", code=code)
    if coupon.kind == "gift":
        raise Refused("coupon.not_tender", code=code)
    if coupon.kind not in ("amount", "percent"):
        raise TenderError(
            "coupon {code} is of an unknown kind {kind!r}", code=code, kind=coupon.kind
        )
    if coupon.stores and store_id not in coupon.stores:
        raise Refused("coupon.other_store", code=code)
    if coupon.member_id:
        if member_id is None:
            raise Refused("coupon.needs_member", code=code)
        if coupon.member_id != member_id:
            raise Refused("coupon.other_member", code=code)
    starts = _iso_date(coupon.valid_from, code)
    ends = _iso_date(coupon.valid_until, code)
    if starts is not None and today < starts:
        raise Refused("coupon.not_yet", code=code, date=starts.isoformat())
    if ends is not None and today > ends:
        raise Refused("coupon.expired", code=code, date=ends.isoformat())
    if coupon.used >= coupon.max_uses:
        raise Refused("coupon.used_up", code=code)
    if total_fen < coupon.min_spend_fen:
        raise Refused("coupon.min_spend", code=code, amount=format_fen(coupon.min_spend_fen))
    if requested_fen < 0:
        raise TenderError("coupon amount cannot be negative")
    worth = coupon_worth(coupon.kind, coupon.value, total_fen)
    if worth <= 0:
        raise Refused("coupon.worthless", code=code)
    return min(worth, requested_fen or worth, due_fen)
