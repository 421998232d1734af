"""Putting a question to HQ, giving back what HQ granted, and HQ's refusals as cashier messages."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Final

from device.checkout import events as ev
from device.checkout.commands import AskHq, Command, TellHq
from device.checkout.context import Context, Refused
from device.checkout.hq import (
    Asking,
    ClaimFree,
    ClaimQuery,
    CouponFree,
    CouponQuery,
    Purpose,
    Query,
    request_id,
)
from device.checkout.money import format_fen
from device.checkout.state import State

Result = tuple[State, list[Command]]

#: HQ's refusal reasons (protocol.remote.REFUSALS) -> the cashier's message keys.
REASON_KEYS: Final = MappingProxyType(
    {
        "coupon_unknown": "coupon.unknown",
        "coupon_revoked": "coupon.revoked",
        "coupon_not_yet": "coupon.not_yet",
        "coupon_expired": "coupon.expired",
        "coupon_other_store": "coupon.other_store",
        "coupon_needs_member": "coupon.needs_member",
        "coupon_other_member": "coupon.other_member",
        "coupon_min_spend": "coupon.min_spend",
        "coupon_used_up": "coupon.used_up",
        "coupon_not_tender": "coupon.not_tender",
        "coupon_worthless": "coupon.worthless",
        "receipt_unknown": "return.receipt_nowhere",
        "receipt_held": "return.receipt_held",
        "receipt_ambiguous": "return.receipt_ambiguous",
        "return_over": "return.over",
        "return_unknown_line": "return.unknown_line",
        "bad_request": "hq.bad_request",
    }
)


def ask(ctx: Context, state: State, query: Query, purpose: Purpose) -> Result:
    """Send ``query`` to HQ and wait (in the state, never blocking) for the answer."""
    rid = request_id(ctx.new_id())
    asking = Asking(request_id=rid, query=query, purpose=purpose, asked_at=ctx.now())
    commands: list[Command] = [
        AskHq(ctx.new_id(), rid, query, ctx.config.hq.timeout_s),
        ctx.notify("info", "hq.asking"),
    ]
    return replace(state, asking=asking), commands


def _free(query: Query) -> Query | None:
    if isinstance(query, CouponQuery):
        return CouponFree(query.code)
    if isinstance(query, ClaimQuery):
        return ClaimFree(query.return_id)
    return None


def release(ctx: Context, asking: Asking) -> list[Command]:
    """Give back whatever HQ may have granted for this question (a coupon hold, a claim)."""
    freed = _free(asking.query)
    if freed is None:
        return []
    return [TellHq(ctx.new_id(), request_id(ctx.new_id()), freed)]


def granted(event: ev.HqAnswer) -> bool:
    """Whether HQ may hold something for this answer's question (so an unused one is freed)."""
    if isinstance(event, ev.HqUnreachable):
        return event.why != "offline"  # "offline": the question never left the till
    return isinstance(event, ev.HqCouponGranted | ev.HqClaimGranted)


def refusal(event: ev.HqRefused) -> Refused:
    """HQ's no, in the cashier's words (either language)."""
    params = dict(event.params)
    if "amount_fen" in params and params["amount_fen"].isdigit():
        params["amount"] = format_fen(int(params.pop("amount_fen")))
    key = REASON_KEYS.get(event.reason)
    if key is None:
        key, params = "hq.refused", {"detail": event.detail or event.reason}
    elif key == "hq.bad_request":
        params = {"detail": event.detail or event.reason}
    return Refused(key, **params)  # a field HQ left out shows as "?"
