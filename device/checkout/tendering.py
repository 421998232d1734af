"""State-machine handlers for payment: tenders, points redemption, and completing the sale."""

from __future__ import annotations

from dataclasses import replace

from device.checkout import events as ev
from device.checkout import shifts
from device.checkout.commands import (
    Command,
    OpenDrawer,
    PrintReceipt,
    RecordSale,
    RecordTierChange,
    ShowOnDisplay,
)
from device.checkout.context import Context, Refused
from device.checkout.errors import TenderError
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


def _paying(ctx: Context, state: State) -> tuple[State, PricedCart]:
    """The sale being paid; a tender pressed straight from SELLING implies subtotal."""
    require(staff_of(state).role, Permission.SELL)
    if state.phase not in (Phase.SELLING, Phase.TENDERING):
        raise Refused("scan.first")
    if state.cart is None or state.cart.is_empty():
        raise Refused("scan.first")
    return replace(state, phase=Phase.TENDERING), price_cart(state.cart, ctx.config.pricing)


def add_tender(ctx: Context, state: State, event: ev.AddTender) -> Result:
    state, priced = _paying(ctx, state)
    if event.kind is TenderKind.POINTS:
        raise TenderError("points are used with the points key, not as an amount")
    amount = event.amount_fen
    if event.kind is TenderKind.COUPON:
        amount = _coupon(ctx, state, priced, event)
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


def _coupon(ctx: Context, state: State, priced: PricedCart, event: ev.AddTender) -> int:
    """What the coupon in ``event`` pays, checked against the till's coupon cache."""
    code = event.reference.strip()
    if not code:
        raise TenderError("a coupon tender needs the coupon code")
    if ctx.ports.coupons is None:
        raise TenderError("coupons cannot be checked on this till")
    if any(t.kind is TenderKind.COUPON and t.reference == code for t in state.tenders):
        raise TenderError(f"coupon {code} is already on this sale")
    coupon = ctx.ports.coupons.get(code)
    if coupon is None:
        raise TenderError(f"unknown coupon {code}")
    member = state.cart.member if state.cart is not None else None
    return coupon_amount(
        coupon,
        requested_fen=event.amount_fen,
        total_fen=priced.total_fen,
        due_fen=remaining_due(priced.total_fen, state.tenders),
        member_id=member.member_id if member is not None else None,
        today=ctx.local_date(ctx.now()),
    )


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
    return new, [ctx.notify("info", "tender.cancelled")]


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
                ctx.new_id(), line1=f"PAID {format_fen(paid)}", line2=f"DUE {format_fen(due)}"
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
    out.append(ShowOnDisplay(ctx.new_id(), line1="CHANGE", line2=format_fen(change)))
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
