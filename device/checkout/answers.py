"""HQ's answers, routed to the handler for the question they answer (a read-only table).

An answer that matches no open question (it came after the till gave up, or after a restart)
changes nothing, except that anything HQ granted for it is given back. An answer whose
handler refuses still closes the question, and gives back what was granted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any, Final

from device.checkout import events as ev
from device.checkout import returning, session, tendering
from device.checkout.asking import granted, refusal, release
from device.checkout.commands import Command, TellHq
from device.checkout.context import Context, refusal_notice
from device.checkout.errors import CheckoutError
from device.checkout.hq import Asking, ClaimAsk, ClaimFree, CouponAsk, CouponFree, ReceiptAsk
from device.checkout.hq import request_id as new_request_id
from device.checkout.state import State

Result = tuple[State, list[Command]]
Handler = Callable[[Context, State, Asking, Any], Result]

ANSWERS: Final = (
    ev.HqCouponGranted,
    ev.HqReceiptFound,
    ev.HqClaimGranted,
    ev.HqRefused,
    ev.HqUnreachable,
)


def _refused(ctx: Context, state: State, asking: Asking, event: ev.HqRefused) -> Result:
    raise refusal(event)


_HANDLERS: Final[Mapping[tuple[type[Any], type[Any]], Handler]] = MappingProxyType(
    {
        (CouponAsk, ev.HqCouponGranted): tendering.coupon_granted,
        (CouponAsk, ev.HqRefused): _refused,
        (CouponAsk, ev.HqUnreachable): tendering.coupon_offline,
        (ReceiptAsk, ev.HqReceiptFound): returning.receipt_found,
        (ReceiptAsk, ev.HqRefused): _refused,
        (ReceiptAsk, ev.HqUnreachable): returning.receipt_offline,
        (ClaimAsk, ev.HqClaimGranted): returning.claim_granted,
        (ClaimAsk, ev.HqRefused): _refused,
        (ClaimAsk, ev.HqUnreachable): returning.claim_offline,
    }
)


def _stale(ctx: Context, event: ev.HqAnswer) -> list[Command]:
    """An answer nobody waits for: give back a grant, ignore the rest."""
    freed: CouponFree | ClaimFree | None = None
    if isinstance(event, ev.HqCouponGranted):
        freed = CouponFree(event.code)
    elif isinstance(event, ev.HqClaimGranted):
        freed = ClaimFree(event.return_id)
    if freed is None:
        return []
    return [TellHq(ctx.new_id(), new_request_id(ctx.new_id()), freed)]


def answered(ctx: Context, state: State, event: ev.HqAnswer) -> Result:
    """Close the open question with HQ's answer and do what it allows."""
    asking = state.asking
    if asking is None or asking.request_id != event.request_id:
        return state, _stale(ctx, event)
    closed = replace(state, asking=None)
    handler = _HANDLERS.get((type(asking.purpose), type(event)))
    try:
        if handler is None:  # an answer of the wrong kind: as good as none
            raise refusal(ev.HqRefused(event.request_id, "bad_request", detail="unexpected answer"))
        return handler(ctx, closed, asking, event)
    except CheckoutError as err:
        given_back = release(ctx, asking) if granted(event) else []
        return closed, [*given_back, refusal_notice(ctx.new_id(), err)]


def tick(ctx: Context, state: State, event: ev.Tick) -> Result:
    """Time passes: the drawer alarm, and a question HQ never answered is given up."""
    asking = state.asking
    if asking is not None and ctx.now() - asking.asked_at > ctx.config.hq.give_up_after:
        state, first = answered(ctx, state, ev.HqUnreachable(asking.request_id, "timeout"))
        state, then = session.tick(ctx, state, event)
        return state, [*first, *then]
    return session.tick(ctx, state, event)


def after_failure(state: State, event: object) -> State:
    """The state to keep when a step failed: an answered question stays closed."""
    asking = state.asking
    if isinstance(event, ANSWERS) and asking is not None and asking.request_id == event.request_id:
        return replace(state, asking=None)
    return state
