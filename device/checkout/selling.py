"""State-machine handlers for ringing up a sale: scans, lines, discounts, members, suspend."""

from __future__ import annotations

from dataclasses import replace

from device.checkout import events as ev
from device.checkout import returning
from device.checkout.barcodes import MemberScan, ReceiptScan, classify_scan
from device.checkout.cart import Cart, DiscountSpec
from device.checkout.commands import (
    Command,
    DeleteSuspended,
    RecordMember,
    ShowOnDisplay,
    SuspendSale,
)
from device.checkout.context import Context, Refused
from device.checkout.errors import CartError
from device.checkout.money import format_fen
from device.checkout.pricing import PricedCart, needs_manager, price_cart
from device.checkout.records import Member, Staff
from device.checkout.session import find_member, mask_phone, staff_of
from device.checkout.snapshot import cart_to_plain
from device.checkout.staff import Permission, require
from device.checkout.state import Phase, State, Suspended
from device.checkout.tendering import complete_if_paid

Result = tuple[State, list[Command]]


def price(ctx: Context, cart: Cart) -> PricedCart:
    return price_cart(cart, ctx.config.pricing)


def open_cart(state: State) -> Cart:
    if state.cart is None or state.cart.is_empty():
        raise Refused("scan.first")
    return state.cart


def _reopen(state: State) -> State:
    """Back from payment to the sale while no tender is taken (one more item, a change)."""
    if state.phase is Phase.TENDERING:
        if state.tenders:
            raise Refused("sale.tendered")
        return replace(state, phase=Phase.SELLING)
    return state


def _editable(state: State) -> tuple[State, Cart]:
    """The state back in SELLING and its cart, if lines may still change."""
    state = _reopen(state)
    if state.phase is not Phase.SELLING:
        raise Refused("scan.first")
    return state, open_cart(state)


def _display_total(ctx: Context, priced: PricedCart, line1: str, **params: str) -> ShowOnDisplay:
    """The customer display: ``line1`` (a catalogue key) over the running total."""
    return ShowOnDisplay(
        ctx.new_id(),
        line1=line1,
        line2="display.total",
        params={**params, "total": format_fen(priced.total_fen)},
    )


def _ready_to_sell(ctx: Context, state: State) -> tuple[State, Staff]:
    """Check the staff may sell and the till can start or extend a sale; leave FEEDBACK."""
    staff = staff_of(state)
    require(staff.role, Permission.SELL)
    if state.phase is Phase.FEEDBACK:
        # The next customer is already here: the rating is skipped, not blocked on.
        state = replace(state, phase=Phase.IDLE, last_sale_id=None)
    state = _reopen(state)
    if state.phase not in (Phase.IDLE, Phase.SELLING):
        raise Refused("state.busy")
    return state, staff


def scan(ctx: Context, state: State, event: ev.Scan) -> Result:
    before = state
    state, _ = _ready_to_sell(ctx, state)
    scanned = classify_scan(event.raw, ctx.config.gs1)
    if isinstance(scanned, MemberScan):
        member = find_member(ctx, "code", scanned.member_code)
        return _attach_member(ctx, state, member, [])
    if isinstance(scanned, ReceiptScan):
        if state.phase is not Phase.IDLE:
            raise Refused("state.busy")
        # From the rating prompt too: the prompt is left only when the return opens, so a
        # receipt HQ cannot find leaves the till exactly as it was.
        return returning.start_return(ctx, before, ev.StartReturn(scanned.receipt_no))
    if scanned.is_variable_measure:
        product = ctx.ports.catalogue.by_sku(scanned.item_code)
    else:
        product = ctx.ports.catalogue.by_barcode(scanned.code)
    if product is None:
        raise Refused("product.unknown", code=scanned.code)
    cart = state.cart or ctx.new_cart()
    weight_g = scanned.embedded_weight_g
    if event.weight_g is not None:
        if weight_g is not None or scanned.embedded_price_fen is not None:
            raise CartError("the label already gives this item's weight or price")
        weight_g = event.weight_g
    cart = cart.add(
        product,
        scanned.code,
        weight_g=weight_g,
        embedded_price_fen=scanned.embedded_price_fen,
    )
    line = cart.lines[-1]
    priced = price(ctx, cart)
    # Both names: the screen and the customer display each pick their language's.
    names = {
        "name": product.name_en or product.name_zh or product.sku,
        "name_zh": product.name_zh or product.name_en or product.sku,
        "price": format_fen(line.gross_fen),
    }
    commands: list[Command] = [
        _display_total(ctx, priced, "display.item", **names),
        ctx.notify("info", "scan.added", **names),
    ]
    return replace(state, cart=cart, phase=Phase.SELLING), commands


def _last_line_no(cart: Cart) -> int:
    active = cart.active_lines()
    if not active:
        raise Refused("scan.first")
    return active[-1].line_no


def _changed(ctx: Context, state: State, cart: Cart, key: str, **params: object) -> Result:
    priced = price(ctx, cart)
    commands: list[Command] = [
        _display_total(ctx, priced, "display.store", store=ctx.config.store_id),
        ctx.notify("info", key, **params),
    ]
    return replace(state, cart=cart), commands


def set_quantity(ctx: Context, state: State, event: ev.SetQuantity) -> Result:
    require(staff_of(state).role, Permission.SELL)
    state, cart = _editable(state)
    line_no = event.line_no if event.line_no is not None else _last_line_no(cart)
    cart = cart.set_quantity(line_no, event.quantity)
    return _changed(ctx, state, cart, "line.quantity", quantity=event.quantity)


def void_line(ctx: Context, state: State, event: ev.VoidLine) -> Result:
    require(staff_of(state).role, Permission.SELL)
    state, cart = _editable(state)
    cart = cart.void_line(event.line_no)
    return _changed(ctx, state, cart, "line.voided", line_no=event.line_no)


def override_price(ctx: Context, state: State, event: ev.OverridePrice) -> Result:
    staff = staff_of(state)
    require(staff.role, Permission.SELL)
    state, cart = _editable(state)
    old = cart.line(event.line_no)
    new_cart = cart.override_price(event.line_no, event.price_fen)
    manager_id = ctx.authorise(staff, Permission.PRICE_OVERRIDE, event.manager)
    detail = (
        f"line {event.line_no} {old.product.sku}: "
        f"{format_fen(old.unit_price_fen)} -> {format_fen(event.price_fen)}"
    )
    state, commands = _changed(
        ctx, state, new_cart, "line.price", price=format_fen(event.price_fen)
    )
    return state, [ctx.audit("price_override", staff, manager_id, detail), *commands]


def _discount(
    ctx: Context,
    state: State,
    spec: DiscountSpec,
    gross_fen: int,
    creds: ev.ManagerCreds,
    detail: str,
) -> list[Command]:
    """Authorise a manual discount; return the audit command when one is needed."""
    staff = staff_of(state)
    require(staff.role, Permission.SELL)
    if not needs_manager(spec, gross_fen, ctx.config.pricing) and not creds.manager_id:
        return []
    manager_id = ctx.authorise(staff, Permission.DISCOUNT_OVER_THRESHOLD, creds)
    return [ctx.audit("discount", staff, manager_id, f"{detail} {spec.label()}")]


def discount_line(ctx: Context, state: State, event: ev.DiscountLine) -> Result:
    state, cart = _editable(state)
    spec = DiscountSpec(percent_bp=event.percent_bp, amount_fen=event.amount_fen)
    line = cart.line(event.line_no)
    new_cart = cart.discount_line(event.line_no, spec)
    detail = f"line {event.line_no} {line.product.sku}"
    audit = _discount(ctx, state, spec, line.gross_fen, event.manager, detail)
    state, commands = _changed(ctx, state, new_cart, "line.discount")
    return state, [*audit, *commands]


def discount_sale(ctx: Context, state: State, event: ev.DiscountSale) -> Result:
    state, cart = _editable(state)
    spec = DiscountSpec(percent_bp=event.percent_bp, amount_fen=event.amount_fen)
    new_cart = cart.discount_sale(spec)
    gross = price(ctx, cart).gross_fen
    audit = _discount(ctx, state, spec, gross, event.manager, "sale")
    state, commands = _changed(ctx, state, new_cart, "sale.discount")
    return state, [*audit, *commands]


def _member_allowed(state: State) -> State:
    """Members can be identified at any point before the first tender."""
    staff = staff_of(state)
    require(staff.role, Permission.IDENTIFY_MEMBER)
    if state.phase is Phase.FEEDBACK:
        state = replace(state, phase=Phase.IDLE, last_sale_id=None)
    if state.tenders:
        raise Refused("tender.must_cancel")
    if state.phase not in (Phase.IDLE, Phase.SELLING, Phase.TENDERING):
        raise Refused("state.busy")
    return state


def _attach_member(
    ctx: Context, state: State, member: Member, before: list[Command], key: str = ""
) -> Result:
    state = _member_allowed(state)
    cart = (state.cart or ctx.new_cart()).with_member(member)
    priced = price(ctx, cart)
    commands: list[Command] = [
        *before,
        _display_total(
            ctx,
            priced,
            "display.member" if member.name else "display.member_anonymous",
            name=member.name,
            phone=mask_phone(member.phone),
        ),
        ctx.notify(
            "info",
            key or "member.identified",
            phone=mask_phone(member.phone),
            tier=member.tier.value,
            points=member.points_balance,
        ),
    ]
    phase = Phase.SELLING if state.phase is Phase.IDLE else state.phase
    return replace(state, cart=cart, phase=phase), commands


def identify_member(ctx: Context, state: State, event: ev.IdentifyMember) -> Result:
    _member_allowed(state)
    member = find_member(ctx, event.by, event.value)
    return _attach_member(ctx, state, member, [])


def _valid_phone(phone: str) -> str:
    # protocol.phones.mobile_phone is the same rule for HQ (this package imports no protocol).
    digits = phone.strip().replace(" ", "").replace("-", "")
    if len(digits) != 11 or not digits.isdigit() or not digits.startswith("1"):
        raise Refused("member.bad_phone")
    return digits


def register_member(ctx: Context, state: State, event: ev.RegisterMember) -> Result:
    staff = staff_of(state)
    require(staff.role, Permission.REGISTER_MEMBER)
    _member_allowed(state)
    phone = _valid_phone(event.phone)
    existing = ctx.ports.members.by_phone(phone)
    if existing is not None:
        # Registering twice would make a duplicate for HQ to merge; use the one we have.
        return _attach_member(ctx, state, existing, [], key="member.exists")
    member = Member(
        member_id=ctx.new_id(),
        phone=phone,
        name=event.name.strip(),
        birthday=event.birthday,
    )
    record = RecordMember(ctx.new_id(), member, event.gender.strip(), staff.staff_id, ctx.now())
    return _attach_member(ctx, state, member, [record], key="member.registered")


def clear_member(ctx: Context, state: State, event: ev.ClearMember) -> Result:
    state = _member_allowed(state)
    if state.cart is None or state.cart.member is None:
        raise Refused("member.none")
    cart = state.cart.with_member(None)
    new_state, commands = _changed(ctx, state, cart, "member.cleared")
    if cart.is_empty():
        new_state = replace(new_state, cart=None, phase=Phase.IDLE)
    return new_state, commands


def subtotal(ctx: Context, state: State, event: ev.Subtotal) -> Result:
    require(staff_of(state).role, Permission.SELL)
    if state.phase is Phase.TENDERING and state.tenders:
        return complete_if_paid(ctx, state, [])  # pressed again: show what is still due
    state, cart = _editable(state)
    priced = price(ctx, cart)
    state = replace(state, phase=Phase.TENDERING)
    if priced.total_fen == 0:
        # Nothing to pay (all items free or fully discounted): the sale completes as is.
        return complete_if_paid(ctx, state, [])
    commands: list[Command] = [
        ShowOnDisplay(
            ctx.new_id(),
            line1="display.total_label",
            line2="display.amount",
            params={"amount": format_fen(priced.total_fen)},
        ),
        ctx.notify("info", "sale.total", total=format_fen(priced.total_fen)),
    ]
    return state, commands


def back_to_sale(ctx: Context, state: State, event: ev.BackToSale) -> Result:
    if state.phase is not Phase.TENDERING:
        raise Refused("state.illegal")
    if state.tenders:
        raise Refused("tender.must_cancel")
    return replace(state, phase=Phase.SELLING), [ctx.notify("info", "sale.back")]


def cancel_sale(ctx: Context, state: State, event: ev.CancelSale) -> Result:
    staff = staff_of(state)
    require(staff.role, Permission.SELL)
    if state.phase not in (Phase.SELLING, Phase.TENDERING) or state.cart is None:
        raise Refused("scan.first")
    if state.tenders:
        raise Refused("tender.must_cancel")
    commands: list[Command] = []
    if not state.cart.is_empty():
        total = price(ctx, state.cart).total_fen
        detail = f"{len(state.cart.active_lines())} lines, {format_fen(total)}"
        # Abandoned sales are a known shrinkage pattern, so they are logged like overrides.
        commands.append(ctx.audit("cancel_sale", staff, None, detail))
    commands.append(ShowOnDisplay(ctx.new_id()))  # nothing left for the customer to see
    commands.append(ctx.notify("info", "sale.cancelled"))
    return replace(state, cart=None, phase=Phase.IDLE, redeemed_points=0), commands


def suspend(ctx: Context, state: State, event: ev.Suspend) -> Result:
    require(staff_of(state).role, Permission.SELL)
    if state.phase is Phase.TENDERING and state.tenders:
        raise Refused("tender.must_cancel")
    if state.phase not in (Phase.SELLING, Phase.TENDERING) or state.cart is None:
        raise Refused("suspend.empty")
    if state.cart.is_empty():
        raise Refused("suspend.empty")
    suspend_id = ctx.new_id()
    held = Suspended(suspend_id=suspend_id, cart=state.cart)
    # The cashier recalls by the number the screen lists (1 = the oldest held), not the UUID.
    number = len(state.suspended) + 1
    commands: list[Command] = [
        SuspendSale(ctx.new_id(), suspend_id, cart_to_plain(state.cart)),
        ShowOnDisplay(ctx.new_id()),  # the next customer does not see this one's total
        ctx.notify("info", "sale.suspended", number=number, suspend_id=suspend_id),
    ]
    new = replace(
        state,
        cart=None,
        phase=Phase.IDLE,
        redeemed_points=0,
        suspended=(*state.suspended, held),
    )
    return new, commands


def recall(ctx: Context, state: State, event: ev.Recall) -> Result:
    state, _ = _ready_to_sell(ctx, state)
    if state.phase is not Phase.IDLE:
        raise Refused("state.busy")
    numbered = {s.suspend_id: (n, s) for n, s in enumerate(state.suspended, start=1)}
    if event.suspend_id not in numbered:
        raise Refused("suspend.unknown", suspend_id=event.suspend_id[:8])
    number, held = numbered[event.suspend_id]
    rest = tuple(s for s in state.suspended if s.suspend_id != event.suspend_id)
    cart = held.cart
    if cart.member is not None:
        cart = cart.with_member(_as_cached_now(ctx, cart.member))
    priced = price(ctx, cart)
    commands: list[Command] = [
        DeleteSuspended(ctx.new_id(), event.suspend_id),
        _display_total(ctx, priced, "display.store", store=ctx.config.store_id),
        ctx.notify("info", "sale.recalled", number=number, suspend_id=event.suspend_id),
    ]
    return replace(state, cart=cart, phase=Phase.SELLING, suspended=rest), commands


def _as_cached_now(ctx: Context, member: Member) -> Member:
    """A suspended sale's member as the cache holds them now (by phone, the account key).

    The suspended cart keeps the member as identified, points included: a sale in between
    that redeemed their points would otherwise let the recalled one spend them again at this
    till. A member the cache no longer holds keeps the rest but has no points to spend here.
    """
    now = ctx.ports.members.by_phone(member.phone) if member.phone else None
    return now if now is not None else replace(member, points_balance=min(member.points_balance, 0))
