"""State-machine handlers for the session around sales: login, shifts, cash, drawer, feedback."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from device.checkout import events as ev
from device.checkout import shifts
from device.checkout.barcodes import receipt_no_from_scan
from device.checkout.commands import (
    Command,
    OpenDrawer,
    PrintReceipt,
    PrintReport,
    RecordCashMovement,
    RecordFeedback,
    RecordShiftClose,
    RecordShiftOpen,
    ShowOnDisplay,
    SoundAlarm,
)
from device.checkout.context import Context, Refused
from device.checkout.errors import ShiftError
from device.checkout.money import format_fen
from device.checkout.records import CashMovement, Member, Staff
from device.checkout.staff import Permission, require
from device.checkout.state import Phase, State

Result = tuple[State, list[Command]]

# Phases in which no sale or return is open, so drawer and shift work may happen.
_QUIET = (Phase.IDLE, Phase.FEEDBACK, Phase.NO_SHIFT)


def staff_of(state: State) -> Staff:
    if state.staff is None:
        raise Refused("state.logged_out")
    return state.staff


def shift_of(state: State) -> shifts.Shift:
    if state.shift is None:
        raise Refused("state.no_shift")
    return state.shift


def require_quiet(state: State) -> None:
    """Refuse drawer and shift work while a sale or a return is open."""
    if state.phase not in _QUIET:
        raise Refused("state.busy")


def after_sale_phase(state: State) -> Phase:
    """Where the till goes when a sale-like flow ends."""
    return Phase.IDLE if state.shift is not None else Phase.NO_SHIFT


def mask_phone(phone: str) -> str:
    """138****5678: the privacy rule for receipts and the customer display."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def find_member(ctx: Context, by: str, value: str) -> Member:
    value = value.strip()
    lookup = {
        "card": ctx.ports.members.by_card,
        "phone": ctx.ports.members.by_phone,
        "code": ctx.ports.members.by_code,
    }.get(by)
    if lookup is None:
        raise Refused("member.unknown", value=value)
    member = lookup(value) if value else None
    if member is None:
        shown = mask_phone(value) if by == "phone" else value
        raise Refused("member.unknown", value=shown)
    return member


def resolve_receipt(raw: str) -> str:
    """A receipt number from a scanned receipt barcode/QR, or as typed."""
    return receipt_no_from_scan(raw) or raw.strip()


def login(ctx: Context, state: State, event: ev.Login) -> Result:
    if state.staff is not None:
        raise Refused("login.already")
    if event.new_pin is None:
        result = ctx.ports.staff.verify(event.staff_id, event.pin)
    else:
        result = ctx.ports.staff.verify(event.staff_id, event.pin, event.new_pin)
    if result.needs_new_pin:
        raise Refused("login.set_pin")
    if not result.ok or result.staff is None:
        if result.locked_until is not None:
            raise Refused("login.locked", until=ctx.local_time(result.locked_until))
        if result.attempts_left > 0:
            raise Refused("login.wrong_pin", attempts=result.attempts_left)
        raise Refused("login.failed", reason=result.reason or "wrong PIN")
    phase = Phase.IDLE if state.shift is not None else Phase.NO_SHIFT
    new = replace(state, staff=result.staff, phase=phase)
    return new, [ctx.notify("info", "login.ok", name=result.staff.name)]


def _nothing_to_sell(state: State) -> bool:
    """A sale holding no item and no payment (say, only a member just registered)."""
    cart = state.cart
    return (
        state.phase is Phase.SELLING
        and (cart is None or not cart.lines)
        and not state.tenders
        and not state.redeemed_points
    )


def logout(ctx: Context, state: State, event: ev.Logout) -> Result:
    if state.phase not in _QUIET and not _nothing_to_sell(state):
        raise Refused("logout.busy")
    new = replace(state, staff=None, phase=Phase.LOGGED_OUT, last_sale_id=None, cart=None,
                  consulted=None)  # fmt: skip
    # The customer display forgets the last member and total.
    return new, [ShowOnDisplay(ctx.new_id()), ctx.notify("info", "logout.ok")]


def open_shift(ctx: Context, state: State, event: ev.OpenShift) -> Result:
    if state.shift is not None:
        raise Refused("state.shift_open")
    staff = staff_of(state)
    ctx.authorise(staff, Permission.OPEN_SHIFT, event.manager)
    now = ctx.now()
    shift = shifts.open_shift(ctx.new_id(), staff.staff_id, now, event.float_fen)
    commands: list[Command] = [
        RecordShiftOpen(ctx.new_id(), shift.shift_id, staff.staff_id, shift.float_fen, now),
        OpenDrawer(ctx.new_id(), reason="float"),
        ctx.notify("info", "shift.opened", float=format_fen(shift.float_fen)),
    ]
    return replace(state, shift=shift, phase=Phase.IDLE), commands


def _cash_movement(ctx: Context, state: State, amount_fen: int, reason: str) -> Result:
    require_quiet(state)
    staff = staff_of(state)
    require(staff.role, Permission.CASH_MOVEMENT)
    shift = shift_of(state)
    if not reason.strip():
        raise Refused("cash.reason")
    if amount_fen < 0:
        shifts.cash_out_allowed(shift, -amount_fen)
    movement = CashMovement(
        movement_id=ctx.new_id(),
        shift_id=shift.shift_id,
        amount_fen=amount_fen,
        reason=reason.strip(),
        staff_id=staff.staff_id,
        device_time=ctx.now(),
    )
    key = "cash.in" if amount_fen > 0 else "cash.out"
    commands: list[Command] = [
        RecordCashMovement(ctx.new_id(), movement),
        OpenDrawer(ctx.new_id(), reason=key.replace(".", "_")),
        ctx.notify("info", key, amount=format_fen(abs(amount_fen))),
    ]
    return replace(state, shift=shifts.add_movement(shift, movement)), commands


def cash_in(ctx: Context, state: State, event: ev.CashIn) -> Result:
    if event.amount_fen <= 0:
        raise Refused("cash.bad_amount")
    return _cash_movement(ctx, state, event.amount_fen, event.reason)


def cash_out(ctx: Context, state: State, event: ev.CashOut) -> Result:
    if event.amount_fen <= 0:
        raise Refused("cash.bad_amount")
    return _cash_movement(ctx, state, -event.amount_fen, event.reason)


def x_report(ctx: Context, state: State, event: ev.XReport) -> Result:
    require(staff_of(state).role, Permission.X_REPORT)
    report = shifts.report(shift_of(state), "X")
    return state, [PrintReport(ctx.new_id(), report), ctx.notify("info", "shift.x")]


def close_shift(ctx: Context, state: State, event: ev.CloseShift) -> Result:
    require_quiet(state)
    staff = staff_of(state)
    if state.suspended:
        raise Refused("shift.suspended", count=len(state.suspended))
    ctx.authorise(staff, Permission.CLOSE_SHIFT, event.manager)
    other: dict[str, int] = {}
    for tender, amount in event.counted_other:
        if tender.value in other:
            raise ShiftError("{value} is counted twice", value=tender.value)
        other[tender.value] = amount
    report = shifts.report(shift_of(state), "Z", event.counted_cash_fen, other)
    commands: list[Command] = [
        RecordShiftClose(ctx.new_id(), report, staff.staff_id, ctx.now()),
        PrintReport(ctx.new_id(), report),
        ctx.notify(
            "info",
            "shift.closed",
            expected=format_fen(report.expected_cash_fen),
            counted=format_fen(event.counted_cash_fen),
        ),
    ]
    return replace(state, shift=None, phase=Phase.NO_SHIFT, last_sale_id=None), commands


def no_sale(ctx: Context, state: State, event: ev.NoSale) -> Result:
    require_quiet(state)
    staff = staff_of(state)
    shift = shift_of(state)
    manager_id = ctx.authorise(staff, Permission.NO_SALE, event.manager)
    detail = f"no sale; reason: {event.reason.strip() or 'none given'}"
    commands: list[Command] = [
        ctx.audit("no_sale", staff, manager_id, detail),
        OpenDrawer(ctx.new_id(), reason="no_sale"),
        ctx.notify("info", "no_sale.ok"),
    ]
    new = replace(state, shift=shifts.add_no_sale(shift), phase=after_sale_phase(state))
    return new, commands


def reprint(ctx: Context, state: State, event: ev.Reprint) -> Result:
    require_quiet(state)
    require(staff_of(state).role, Permission.REPRINT)
    receipt_no = resolve_receipt(event.receipt)
    found = ctx.ports.journal.sale_by_receipt(receipt_no)
    if found is None:
        raise Refused("return.receipt_unknown", receipt=receipt_no)
    sale, receipt_no = found
    return state, [
        PrintReceipt(ctx.new_id(), sale.sale_id, reprint=True),
        ctx.notify("info", "reprint.ok", receipt=receipt_no),
    ]


def lookup_member(ctx: Context, state: State, event: ev.LookupMember) -> Result:
    require(staff_of(state).role, Permission.MEMBER_LOOKUP)
    member = find_member(ctx, event.by, event.value)
    notice = ctx.notify(
        "info",
        "lookup.found",
        phone=mask_phone(member.phone),
        tier=member.tier.value,
        points=member.points_balance,
        spend=format_fen(member.cumulative_spend_fen),
    )
    return replace(state, consulted=member), [notice]


def feedback(ctx: Context, state: State, event: ev.Feedback) -> Result:
    if state.phase is not Phase.FEEDBACK or state.last_sale_id is None:
        raise Refused("state.illegal")
    if not 1 <= event.rating <= 5:
        raise Refused("feedback.bad")
    command = RecordFeedback(ctx.new_id(), state.last_sale_id, event.rating, ctx.now())
    new = replace(state, phase=after_sale_phase(state), last_sale_id=None)
    return new, [command, ctx.notify("info", "feedback.thanks")]


def skip_feedback(ctx: Context, state: State, event: ev.SkipFeedback) -> Result:
    if state.phase is not Phase.FEEDBACK:
        raise Refused("state.illegal")
    return replace(state, phase=after_sale_phase(state), last_sale_id=None), []


def drawer_opened(ctx: Context, state: State, event: ev.DrawerOpened) -> Result:
    if state.drawer_open:
        return state, []
    return replace(state, drawer_open=True, drawer_opened_at=ctx.now(), drawer_alarmed=False), []


def drawer_closed(ctx: Context, state: State, event: ev.DrawerClosed) -> Result:
    return replace(state, drawer_open=False, drawer_opened_at=None, drawer_alarmed=False), []


def tick(ctx: Context, state: State, event: ev.Tick) -> Result:
    if not state.drawer_open or state.drawer_alarmed or state.drawer_opened_at is None:
        return state, []
    limit = dt.timedelta(seconds=ctx.config.drawer_alarm_s)
    if ctx.now() - state.drawer_opened_at < limit:
        return state, []
    commands: list[Command] = [
        SoundAlarm(ctx.new_id(), reason="drawer_open"),
        ctx.notify("warning", "drawer.alarm"),
    ]
    return replace(state, drawer_alarmed=True), commands
