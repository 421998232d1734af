"""State-machine handlers for payment: tenders, points redemption, and completing the sale."""

from __future__ import annotations

from dataclasses import replace

from device.checkout import events as ev
from device.checkout import shifts
from device.checkout.asking import ask
from device.checkout.commands import (
    Command,
    OpenDrawer,
    PrintReceipt,
    RecordSale,
    RecordTierChange,
    ShowOnDisplay,
    TellHq,
)
from device.checkout.context import Context, Refused
from device.checkout.errors import TenderError
from device.checkout.hq import Asking, CouponAsk, CouponFree, CouponQuery, request_id
from device.checkout.loyalty import (
    earnable_fen,
    points_earned,
    upgraded_tier,
    validate_redemption,
)
from device.checkout.money import format_fen
from device.checkout.pricing import PricedCart, price_cart
from device.checkout.records import PointsDelta, PointsReason, SaleRecord, TenderKind, TenderLine
from device.checkout.session import shift_of, staff_of
from device.checkout.staff import Permission, require
from device.checkout.state import Phase, State
from device.checkout.tenders import coupon_amount, opens_drawer, remaining_due, settle

Result = tuple[State, list[Command]]

#: A coupon tender's approval code starts with this when HQ confirmed it (and holds the use).
HQ_CONFIRMED = "HQ-"


def _paying(ctx: Context, state: State) -> tuple[State, PricedCart]:
    """The sale being paid; a tender pressed straight from SELLING implies subtotal."""
    require(staff_of(state).role, Permission.SELL)
    if state.phase not in (Phase.SELLING, Phase.TENDERING):
        raise Refused("scan.first")
    if state.cart is None or state.cart.is_empty():
        raise Refused("scan.first")
    return replace(state, phase=Phase.TENDERING), price_cart(state.cart, ctx.config.pricing)


def add_tender(ctx: Context, state: State, event: ev.AddTender) -> Result:
    asked_from = state
    state, priced = _paying(ctx, state)
    if event.kind is TenderKind.POINTS:
        raise TenderError("points are used with the points key, not as an amount")
    if event.kind is TenderKind.COUPON:
        # Asked from the state as it was: a coupon HQ refuses leaves the till where it stood
        # (still selling, if the cashier pressed it there); one it grants moves on to paying.
        return _ask_coupon(ctx, asked_from, priced, event)
    amount = event.amount_fen
    line = TenderLine(
        kind=event.kind,
        amount_fen=amount,
        tendered_fen=event.amount_fen if event.kind is TenderKind.CASH else 0,
        approval_code=event.approval_code.strip(),
        reference=event.reference.strip(),
    )
    tenders = (*state.tenders, line)
    settle(priced.total_fen, tenders)  # refuses overpaying by card, missing approval, ...
    return complete_if_paid(ctx, replace(state, tenders=tenders), [])


# -- coupons: HQ confirms a coupon before it pays; offline the policy and the cache decide ----


def _ask_coupon(ctx: Context, state: State, priced: PricedCart, event: ev.AddTender) -> Result:
    code = event.reference.strip()
    if not code:
        raise Refused("coupon.no_code")
    if any(t.kind is TenderKind.COUPON and t.reference == code for t in state.tenders):
        raise Refused("coupon.on_sale", code=code)
    if event.amount_fen < 0:
        raise TenderError("coupon amount cannot be negative")
    if remaining_due(priced.total_fen, state.tenders) <= 0:
        raise TenderError("the sale is already paid: no coupon needed")
    member = state.cart.member if state.cart is not None else None
    query = CouponQuery(
        code=code,
        member_id=member.member_id if member is not None else None,
        total_fen=priced.total_fen,
        requested_fen=event.amount_fen,
    )
    return ask(ctx, state, query, CouponAsk(code, event.amount_fen))


def _take_coupon(
    ctx: Context, state: State, code: str, amount: int, approval: str, notice: Command
) -> Result:
    state = replace(state, phase=Phase.TENDERING)  # pressed while selling: subtotal implied
    assert state.cart is not None  # a coupon is asked for only with a sale
    priced = price_cart(state.cart, ctx.config.pricing)
    amount = min(amount, remaining_due(priced.total_fen, state.tenders))
    if amount <= 0:
        raise Refused("coupon.worthless", code=code)
    line = TenderLine(TenderKind.COUPON, amount, approval_code=approval, reference=code)
    tenders = (*state.tenders, line)
    settle(priced.total_fen, tenders)
    new, commands = complete_if_paid(ctx, replace(state, tenders=tenders), [])
    if new.phase is Phase.TENDERING:
        # What HQ said (or that it could not be asked) is the news; the panel shows what is due.
        return new, [*commands, notice]
    return new, [notice, *commands]


def coupon_granted(ctx: Context, state: State, asking: Asking, event: ev.HqCouponGranted) -> Result:
    """HQ confirmed the coupon (and holds the use): it pays, marked as confirmed."""
    assert isinstance(asking.purpose, CouponAsk)
    code = asking.purpose.code
    amount = min(event.amount_fen, remaining_due_of(ctx, state))
    notice = ctx.notify("info", "coupon.accepted", code=code, amount=format_fen(amount))
    return _take_coupon(ctx, state, code, amount, f"{HQ_CONFIRMED}{asking.request_id}", notice)


def coupon_offline(ctx: Context, state: State, asking: Asking, event: ev.HqUnreachable) -> Result:
    """HQ cannot be asked: the offline policy and this till's coupon cache decide."""
    assert isinstance(asking.purpose, CouponAsk) and state.cart is not None
    policy = ctx.config.hq
    code = asking.purpose.code
    if policy.coupons_offline == "refuse":
        raise Refused("coupon.offline_refused")
    coupon = ctx.ports.coupons.get(code) if ctx.ports.coupons is not None else None
    if coupon is None:
        raise Refused("coupon.offline_unknown", code=code)
    priced = price_cart(state.cart, ctx.config.pricing)
    member = state.cart.member
    amount = coupon_amount(
        coupon,
        requested_fen=asking.purpose.requested_fen,
        total_fen=priced.total_fen,
        due_fen=remaining_due(priced.total_fen, state.tenders),
        member_id=member.member_id if member is not None else None,
        today=ctx.local_date(ctx.now()),
        store_id=ctx.config.store_id,
    )
    if coupon.offline_uses >= policy.coupon_offline_uses:
        raise Refused("coupon.offline_limit", code=code)
    if policy.coupon_offline_cap_fen:
        amount = min(amount, policy.coupon_offline_cap_fen)
    notice = ctx.notify("warning", "coupon.offline", code=code, amount=format_fen(amount))
    return _take_coupon(ctx, state, code, amount, "", notice)


def remaining_due_of(ctx: Context, state: State) -> int:
    """What the open sale still owes."""
    assert state.cart is not None
    return remaining_due(price_cart(state.cart, ctx.config.pricing).total_fen, state.tenders)


def redeem_points(ctx: Context, state: State, event: ev.RedeemPoints) -> Result:
    state, priced = _paying(ctx, state)
    assert state.cart is not None  # checked by _paying
    member = state.cart.member
    if member is None:
        raise Refused("member.none")
    if state.redeemed_points:
        raise Refused("points.already")
    # The member's balance is the cloud's value plus this till's own events it has not
    # counted yet, redemptions included (docs/loyalty.md): that is all that may be spent here.
    value = validate_redemption(
        event.points, priced.total_fen, member.points_balance, ctx.config.loyalty
    )
    line = TenderLine(TenderKind.POINTS, value, reference=str(event.points))
    tenders = (*state.tenders, line)
    settle(priced.total_fen, tenders)  # points may not pay more than is still due
    notice = ctx.notify("info", "points.redeemed", points=event.points, value=format_fen(value))
    new = replace(state, tenders=tenders, redeemed_points=event.points)
    return complete_if_paid(ctx, new, [notice])


def cancel_tender(ctx: Context, state: State, event: ev.CancelTender) -> Result:
    require(staff_of(state).role, Permission.SELL)
    if state.phase is not Phase.TENDERING or not state.tenders:
        raise Refused("tender.none")
    last = state.tenders[-1]
    redeemed = 0 if last.kind is TenderKind.POINTS else state.redeemed_points
    new = replace(state, tenders=state.tenders[:-1], redeemed_points=redeemed)
    out: list[Command] = []
    if last.kind is TenderKind.COUPON and last.approval_code.startswith(HQ_CONFIRMED):
        # HQ holds a use of it for this till: give it back now, not when the hold lapses.
        out.append(TellHq(ctx.new_id(), request_id(ctx.new_id()), CouponFree(last.reference)))
    return new, [*out, ctx.notify("info", "tender.cancelled")]


def complete_if_paid(ctx: Context, state: State, before: list[Command]) -> Result:
    """Record, print and pay out the sale once its tenders cover the total."""
    assert state.cart is not None
    priced = price_cart(state.cart, ctx.config.pricing)
    due = remaining_due(priced.total_fen, state.tenders)
    if due > 0:
        paid = priced.total_fen - due
        commands: list[Command] = [
            *before,
            ShowOnDisplay(
                ctx.new_id(),
                line1="display.paid",
                line2="display.due",
                params={"paid": format_fen(paid), "due": format_fen(due)},
            ),
            ctx.notify("info", "tender.due", due=format_fen(due)),
        ]
        return state, commands
    staff = staff_of(state)
    shift = shift_of(state)
    applied, change = settle(priced.total_fen, state.tenders, require_full=True)
    member = state.cart.member
    loyalty = ctx.config.loyalty
    sale_id = ctx.new_id()
    paid_money = earnable_fen(priced.total_fen, applied)
    earned = points_earned(paid_money, member.tier, loyalty) if member is not None else 0
    points: list[PointsDelta] = []
    if member is not None:
        if state.redeemed_points:
            points.append(
                PointsDelta(member.member_id, -state.redeemed_points, PointsReason.REDEEM, sale_id)
            )
        if earned:
            points.append(PointsDelta(member.member_id, earned, PointsReason.EARN, sale_id))
    now = ctx.now()
    sale = SaleRecord(
        sale_id=sale_id,
        cashier_id=staff.staff_id,
        shift_id=shift.shift_id,
        member_id=member.member_id if member is not None else None,
        member_tier=priced.tier,
        lines=priced.lines,
        gross_fen=priced.gross_fen,
        discount_fen=priced.discount_fen,
        total_fen=priced.total_fen,
        tenders=applied,
        change_fen=change,
        points_earned=earned,
        points_redeemed=state.redeemed_points,
        points=tuple(points),
        device_time=now,
        clock_synced=ctx.ports.clock.synced(),
        coupon_codes=tuple(t.reference for t in applied if t.kind is TenderKind.COUPON),
        rules_version=ctx.config.rules_version,
    )
    out: list[Command] = [*before, RecordSale(ctx.new_id(), sale)]
    if member is not None:
        new_tier = upgraded_tier(member.tier, member.cumulative_spend_fen + paid_money, loyalty)
        if new_tier is not member.tier:
            out.append(
                RecordTierChange(
                    ctx.new_id(), member.member_id, member.tier, new_tier, sale_id, now
                )
            )
    out.append(PrintReceipt(ctx.new_id(), sale_id))
    if opens_drawer(applied, change):
        out.append(OpenDrawer(ctx.new_id(), reason="sale"))
    out.append(
        ShowOnDisplay(
            ctx.new_id(),
            line1="display.change",
            line2="display.amount",
            params={"amount": format_fen(change)},
        )
    )
    out.append(ctx.notify("info", "sale.complete", change=format_fen(change)))
    new = replace(
        state,
        phase=Phase.FEEDBACK,
        cart=None,
        tenders=(),
        redeemed_points=0,
        last_sale_id=sale_id,
        shift=shifts.add_sale(shift, sale),
    )
    return new, out
