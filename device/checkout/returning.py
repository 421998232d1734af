"""State-machine handlers for returns: against a receipt, without one, and voiding a sale."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from device.checkout import events as ev
from device.checkout import shifts
from device.checkout.commands import (
    Command,
    OpenDrawer,
    PrintReturnReceipt,
    RecordReturn,
    ShowOnDisplay,
)
from device.checkout.context import Context, Refused
from device.checkout.money import format_fen
from device.checkout.records import ReturnRecord, SaleRecord, Staff
from device.checkout.returns import (
    ReturnPlan,
    ReturnRequestLine,
    check_return_allowed,
    plan_no_receipt_return,
    plan_return,
    returnable_units,
)
from device.checkout.session import (
    after_sale_phase,
    require_quiet,
    resolve_receipt,
    shift_of,
    staff_of,
)
from device.checkout.staff import Permission, require
from device.checkout.state import Phase, ReturnSession, State

Result = tuple[State, list[Command]]

_ABUSE_WINDOW = dt.timedelta(days=30)


def _find_sale(ctx: Context, raw: str) -> tuple[SaleRecord, str]:
    receipt_no = resolve_receipt(raw)
    if not receipt_no:
        raise Refused("return.receipt_unknown", receipt="")
    found = ctx.ports.journal.sale_by_receipt(receipt_no)
    if found is None:
        raise Refused("return.receipt_unknown", receipt=receipt_no)
    return found


def _member_returns(ctx: Context, sale: SaleRecord) -> int:
    if sale.member_id is None:
        return 0
    return ctx.ports.journal.member_returns_since(sale.member_id, ctx.now() - _ABUSE_WINDOW)


def start_return(ctx: Context, state: State, event: ev.StartReturn) -> Result:
    require(staff_of(state).role, Permission.RETURN_WITH_RECEIPT)
    require_quiet(state)
    shift_of(state)
    sale, receipt_no = _find_sale(ctx, event.receipt)
    # Refuse a late receipt or a member at the limit before any line is chosen.
    check_return_allowed(sale, ctx.now(), _member_returns(ctx, sale), ctx.config.returns)
    earlier = tuple(ctx.ports.journal.returns_for_sale(sale.sale_id))
    if not any(left > 0 for left in returnable_units(sale, earlier).values()):
        raise Refused("void.nothing", receipt=receipt_no)
    session = ReturnSession(sale=sale, receipt_no=receipt_no, earlier=earlier)
    new = replace(state, phase=Phase.RETURNING, returning=session, last_sale_id=None)
    return new, [ctx.notify("info", "return.started", receipt=receipt_no)]


def cancel_return(ctx: Context, state: State, event: ev.CancelReturn) -> Result:
    if state.phase is not Phase.RETURNING:
        raise Refused("state.illegal")
    new = replace(state, phase=after_sale_phase(state), returning=None)
    return new, [ctx.notify("info", "return.cancelled")]


def _record(
    ctx: Context,
    state: State,
    staff: Staff,
    plan: ReturnPlan,
    sale: SaleRecord | None,
    receipt_no: str | None,
    authorised_by: str | None,
    reason: str,
    before: list[Command],
    key: str = "return.done",
) -> Result:
    shift = shift_of(state)
    ret = ReturnRecord(
        return_id=ctx.new_id(),
        original_sale_id=sale.sale_id if sale is not None else None,
        original_receipt_no=receipt_no,
        cashier_id=staff.staff_id,
        shift_id=shift.shift_id,
        member_id=sale.member_id if sale is not None else None,
        lines=plan.lines,
        refund_fen=plan.refund_fen,
        refunds=plan.refunds,
        points=plan.points,
        authorised_by=authorised_by,
        device_time=ctx.now(),
        clock_synced=ctx.ports.clock.synced(),
        reason=reason,
        rules_version=ctx.config.rules_version,
    )
    commands: list[Command] = [
        *before,
        RecordReturn(ctx.new_id(), ret),
        PrintReturnReceipt(ctx.new_id(), ret.return_id),
    ]
    if plan.cash_refund_fen > 0:
        commands.append(OpenDrawer(ctx.new_id(), reason="refund"))
    commands.append(ShowOnDisplay(ctx.new_id(), line1="REFUND", line2=format_fen(plan.refund_fen)))
    params: dict[str, object] = {"amount": format_fen(plan.refund_fen)}
    if key == "void.done":
        params["receipt"] = receipt_no or ""
    commands.append(ctx.notify("info", key, **params))
    new = replace(
        state,
        phase=after_sale_phase(state),
        returning=None,
        shift=shifts.add_return(shift, ret),
    )
    return new, commands


def return_lines(ctx: Context, state: State, event: ev.ReturnLines) -> Result:
    if state.phase is not Phase.RETURNING or state.returning is None:
        raise Refused("state.illegal")
    staff = staff_of(state)
    require(staff.role, Permission.RETURN_WITH_RECEIPT)
    if not event.lines:
        raise Refused("return.nothing")
    session = state.returning
    request = [ReturnRequestLine(i.line_no, i.quantity, i.weight_g) for i in event.lines]
    plan = plan_return(
        session.sale,
        session.earlier,
        request,
        ctx.now(),
        _member_returns(ctx, session.sale),
        ctx.config.returns,
        ctx.config.loyalty,
    )
    return _record(
        ctx, state, staff, plan, session.sale, session.receipt_no, None, event.reason, []
    )


def no_receipt_return(ctx: Context, state: State, event: ev.NoReceiptReturn) -> Result:
    require_quiet(state)
    staff = staff_of(state)
    product = ctx.ports.catalogue.by_sku(event.sku.strip())
    if product is None:
        raise Refused("product.unknown", code=event.sku)
    plan = plan_no_receipt_return(product, event.quantity, event.unit_price_fen, ctx.config.returns)
    manager_id = ctx.authorise(staff, Permission.NO_RECEIPT_RETURN, event.manager)
    detail = f"{event.quantity} x {product.sku} at {format_fen(event.unit_price_fen)}"
    audit = ctx.audit("no_receipt_return", staff, manager_id, detail)
    reason = event.reason.strip() or "no receipt"
    return _record(ctx, state, staff, plan, None, None, manager_id, reason, [audit])


def void_sale(ctx: Context, state: State, event: ev.VoidSale) -> Result:
    """Reverse everything left of a sale of this shift, as one authorised return."""
    require_quiet(state)
    staff = staff_of(state)
    shift = shift_of(state)
    sale, receipt_no = _find_sale(ctx, event.receipt)
    if sale.shift_id != shift.shift_id:
        raise Refused("void.other_shift")
    manager_id = ctx.authorise(staff, Permission.VOID_SALE, event.manager)
    # A void takes back every line, including ones a customer could not return.
    whole = replace(sale, lines=tuple(replace(line, returnable=True) for line in sale.lines))
    earlier = ctx.ports.journal.returns_for_sale(sale.sale_id)
    left = returnable_units(whole, earlier)
    by_no = {line.line_no: line for line in whole.lines}
    request = [
        ReturnRequestLine(no, 1, None)
        if by_no[no].weight_g is not None
        else ReturnRequestLine(no, units, None)
        for no, units in left.items()
        if units > 0
    ]
    if not request:
        raise Refused("void.nothing", receipt=receipt_no)
    plan = plan_return(
        whole,
        earlier,
        request,
        ctx.now(),
        0,
        ctx.config.returns,
        ctx.config.loyalty,
        check_policy=False,
    )
    detail = f"receipt {receipt_no}, refund {format_fen(plan.refund_fen)}"
    audit = ctx.audit("void_sale", staff, manager_id, detail)
    return _record(
        ctx, state, staff, plan, sale, receipt_no, manager_id, "void", [audit], key="void.done"
    )
