"""State-machine handlers for returns: against a receipt, without one, and voiding a sale."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from device.checkout import events as ev
from device.checkout import shifts
from device.checkout.asking import ask
from device.checkout.commands import (
    Command,
    OpenDrawer,
    PrintReturnReceipt,
    RecordAudit,
    RecordReturn,
    ShowOnDisplay,
)
from device.checkout.context import Context, Refused
from device.checkout.hq import Asking, ClaimAsk, ClaimQuery, ReceiptAsk, ReceiptQuery
from device.checkout.money import format_fen
from device.checkout.records import (
    AuditEntry,
    ReturnLine,
    ReturnRecord,
    SaleRecord,
    Staff,
    TenderKind,
)
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


def _member_returns(ctx: Context, sale: SaleRecord, chain_wide: int = 0) -> int:
    """The member's returns in 30 days: the journal port's count, or HQ's if it is higher."""
    if sale.member_id is None:
        return 0
    here = ctx.ports.journal.member_returns_since(sale.member_id, ctx.now() - _ABUSE_WINDOW)
    return max(here, chain_wide)


def _open(
    ctx: Context, state: State, sale: SaleRecord, receipt_no: str,
    earlier: tuple[ReturnRecord, ...], own: bool, chain_wide: int = 0,
) -> Result:  # fmt: skip
    # Refuse a late receipt or a member at the limit before any line is chosen.
    check_return_allowed(sale, ctx.now(), _member_returns(ctx, sale, chain_wide),
                         ctx.config.returns)  # fmt: skip
    if not any(left > 0 for left in returnable_units(sale, earlier).values()):
        raise Refused("void.nothing", receipt=receipt_no)
    session = ReturnSession(sale=sale, receipt_no=receipt_no, earlier=earlier, own=own)
    new = replace(state, phase=Phase.RETURNING, returning=session, last_sale_id=None)
    return new, [ctx.notify("info", "return.started", receipt=receipt_no)]


def start_return(ctx: Context, state: State, event: ev.StartReturn) -> Result:
    require(staff_of(state).role, Permission.RETURN_WITH_RECEIPT)
    require_quiet(state)
    shift_of(state)
    receipt_no = resolve_receipt(event.receipt)
    if not receipt_no:
        raise Refused("return.receipt_unknown", receipt="")
    found = ctx.ports.journal.sale_by_receipt(receipt_no)
    if found is None:
        # Another till's receipt (any store): the cloud has every sale and every return.
        return ask(ctx, state, ReceiptQuery(receipt_no), ReceiptAsk(receipt_no))
    sale, receipt_no = found
    earlier = tuple(ctx.ports.journal.returns_for_sale(sale.sale_id))
    return _open(ctx, state, sale, receipt_no, earlier, own=True)


def _returned_so_far(
    sale: SaleRecord, receipt_no: str, returned: tuple[tuple[int, int], ...]
) -> tuple[ReturnRecord, ...]:
    """What HQ counts as returned (at any till, or reserved right now), as one earlier return."""
    by_no = {line.line_no: line for line in sale.lines}
    lines = []
    for line_no, units in returned:
        line = by_no.get(line_no)
        if line is None or units <= 0:
            continue
        weighed = line.weight_g is not None
        lines.append(ReturnLine(line_no, line.sku, 1 if weighed else units,
                                units if weighed else None, 0))  # fmt: skip
    if not lines:
        return ()
    record = ReturnRecord(
        return_id="", original_sale_id=sale.sale_id, original_receipt_no=receipt_no,
        cashier_id="", shift_id="", member_id=None, lines=tuple(lines), refund_fen=0,
        refunds=(), points=(), authorised_by=None, device_time=sale.device_time,
        clock_synced=sale.clock_synced, reason="returned at any till, as HQ counts it",
    )  # fmt: skip
    return (record,)


def receipt_found(ctx: Context, state: State, asking: Asking, event: ev.HqReceiptFound) -> Result:
    """HQ found another till's sale: open it for return with what HQ counts as returned."""
    require_quiet(state)
    earlier = _returned_so_far(event.sale, event.receipt_no, event.returned)
    return _open(ctx, state, event.sale, event.receipt_no, earlier, own=False,
                 chain_wide=event.member_returns_30d)  # fmt: skip


def receipt_offline(ctx: Context, state: State, asking: Asking, event: ev.HqUnreachable) -> Result:
    """Another till's receipt while HQ is unreachable: refused, or by item under a cap."""
    assert isinstance(asking.purpose, ReceiptAsk)
    receipt_no = asking.purpose.receipt_no
    policy = ctx.config.hq
    if policy.other_receipts_offline != "capped":
        raise Refused("return.other_offline", receipt=receipt_no)
    cap = min(policy.other_receipt_offline_cap_fen, ctx.config.returns.no_receipt_cap_fen)
    notice = ctx.notify("warning", "return.other_offline_capped", receipt=receipt_no,
                        cap=format_fen(cap))  # fmt: skip
    return state, [notice]


def cancel_return(ctx: Context, state: State, event: ev.CancelReturn) -> Result:
    if state.phase is not Phase.RETURNING:
        raise Refused("state.illegal")
    new = replace(state, phase=after_sale_phase(state), returning=None)
    return new, [ctx.notify("info", "return.cancelled")]


def _build(
    ctx: Context, state: State, staff: Staff, plan: ReturnPlan, sale: SaleRecord | None,
    receipt_no: str | None, authorised_by: str | None, reason: str,
) -> ReturnRecord:  # fmt: skip
    return ReturnRecord(
        return_id=ctx.new_id(),
        original_sale_id=sale.sale_id if sale is not None else None,
        original_receipt_no=receipt_no,
        cashier_id=staff.staff_id,
        shift_id=shift_of(state).shift_id,
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


def _record(
    ctx: Context, state: State, ret: ReturnRecord, receipt_no: str | None,
    before: list[Command], key: str = "return.done",
) -> Result:  # fmt: skip
    shift = shift_of(state)
    commands: list[Command] = [
        *before,
        RecordReturn(ctx.new_id(), ret),
        PrintReturnReceipt(ctx.new_id(), ret.return_id),
    ]
    if any(t.kind is TenderKind.CASH and t.amount_fen > 0 for t in ret.refunds):
        commands.append(OpenDrawer(ctx.new_id(), reason="refund"))
    commands.append(
        ShowOnDisplay(
            ctx.new_id(),
            line1="display.refund",
            line2="display.amount",
            params={"amount": format_fen(ret.refund_fen)},
        )
    )
    params: dict[str, object] = {"amount": format_fen(ret.refund_fen)}
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


def _claim(
    ctx: Context, state: State, ret: ReturnRecord, sale: SaleRecord, receipt_no: str,
    *, own: bool, key: str = "return.done", audit: AuditEntry | None = None,
) -> Result:  # fmt: skip
    """Ask HQ to reserve the return's units (no other till may return them meanwhile)."""
    units = tuple(
        (line.original_line_no, line.weight_g if line.weight_g is not None else line.quantity)
        for line in ret.lines
    )
    query = ClaimQuery(ret.return_id, sale.sale_id, receipt_no, units)
    purpose = ClaimAsk(ret, sale, receipt_no, own, key, audit)
    return ask(ctx, state, query, purpose)


def _audited(purpose: ClaimAsk, ctx: Context) -> list[Command]:
    return [] if purpose.audit is None else [RecordAudit(ctx.new_id(), purpose.audit)]


def claim_granted(ctx: Context, state: State, asking: Asking, event: ev.HqClaimGranted) -> Result:
    """HQ reserved the units: record the return (its event settles the claim in the cloud)."""
    purpose = asking.purpose
    assert isinstance(purpose, ClaimAsk)
    return _record(ctx, state, purpose.ret, purpose.receipt_no, _audited(purpose, ctx),
                   purpose.key)  # fmt: skip


def claim_offline(ctx: Context, state: State, asking: Asking, event: ev.HqUnreachable) -> Result:
    """HQ cannot be asked: this till's own sale is returned on what it knows; others wait."""
    purpose = asking.purpose
    assert isinstance(purpose, ClaimAsk)
    if not purpose.own:
        raise Refused("return.claim_unanswered")
    key = "return.offline_own" if purpose.key == "return.done" else purpose.key
    return _record(ctx, state, purpose.ret, purpose.receipt_no, _audited(purpose, ctx), key)


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
    ret = _build(ctx, state, staff, plan, session.sale, session.receipt_no, None, event.reason)
    return _claim(ctx, state, ret, session.sale, session.receipt_no, own=session.own)


def no_receipt_return(ctx: Context, state: State, event: ev.NoReceiptReturn) -> Result:
    require_quiet(state)
    staff = staff_of(state)
    product = ctx.ports.catalogue.by_sku(event.sku.strip())
    if product is None:
        raise Refused("product.unknown", code=event.sku)
    policy, receipt_no = ctx.config.returns, None
    if event.receipt.strip():
        receipt_no = resolve_receipt(event.receipt)
        if ctx.ports.journal.sale_by_receipt(receipt_no) is not None:
            raise Refused("return.use_receipt", receipt=receipt_no)
        if ctx.config.hq.other_receipts_offline != "capped":
            raise Refused("return.other_receipt_refused", receipt=receipt_no)
        cap = min(policy.no_receipt_cap_fen, ctx.config.hq.other_receipt_offline_cap_fen)
        policy = replace(policy, no_receipt_cap_fen=cap)
    plan = plan_no_receipt_return(product, event.quantity, event.unit_price_fen, policy)
    manager_id = ctx.authorise(staff, Permission.NO_RECEIPT_RETURN, event.manager)
    detail = f"{event.quantity} x {product.sku} at {format_fen(event.unit_price_fen)}"
    if receipt_no:
        detail += f" against receipt {receipt_no} (HQ unreachable)"
    audit = ctx.audit("no_receipt_return", staff, manager_id, detail)
    reason = event.reason.strip() or "no receipt"
    ret = _build(ctx, state, staff, plan, None, receipt_no, manager_id, reason)
    return _record(ctx, state, ret, receipt_no, [audit])


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
    assert isinstance(audit, RecordAudit)
    ret = _build(ctx, state, staff, plan, sale, receipt_no, manager_id, "void")
    # Another till may have taken some of it back meanwhile: HQ reserves what is voided.
    return _claim(ctx, state, ret, sale, receipt_no, own=True, key="void.done",
                  audit=audit.entry)  # fmt: skip
