"""Follow-up notes and complaints taken at the till: who may write them, about whom, how long."""

from __future__ import annotations

from typing import Final

from device.checkout import events as ev
from device.checkout.commands import Command, RecordComplaint, RecordMemberNote
from device.checkout.context import Context, Refused
from device.checkout.records import Member
from device.checkout.session import staff_of
from device.checkout.staff import Permission, require
from device.checkout.state import State

Result = tuple[State, list[Command]]

#: The longest note or complaint; the wire protocol's bound on free text (protocol.bounds
#: TEXT_CHARS, which this pure core may not import: a test keeps the two equal).
TEXT_MAX_CHARS: Final = 2000


def current_member(state: State) -> Member | None:
    """The member the staff member is dealing with: the open sale's, else the one last looked
    up while no sale was open (a sale without a member has no current member)."""
    if state.cart is not None:
        return state.cart.member
    return state.consulted


def _text(text: str, empty_key: str, long_key: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise Refused(empty_key)
    if len(cleaned) > TEXT_MAX_CHARS:
        raise Refused(long_key, limit=TEXT_MAX_CHARS, length=len(cleaned))
    return cleaned


def add_member_note(ctx: Context, state: State, event: ev.AddMemberNote) -> Result:
    staff = staff_of(state)
    require(staff.role, Permission.MEMBER_NOTES)
    text = _text(event.note, "member.note_empty", "member.note_too_long")
    member_id = event.member_id.strip()
    if not member_id:
        member = current_member(state)
        if member is None:
            raise Refused("member.none")
        member_id = member.member_id
    command = RecordMemberNote(
        ctx.new_id(), member_id, staff.staff_id, text, ctx.now(), role=staff.role.value
    )
    return state, [command, ctx.notify("info", "member.note")]


def file_complaint(ctx: Context, state: State, event: ev.FileComplaint) -> Result:
    """A complaint against the current member, a receipt of this till, or both."""
    staff = staff_of(state)
    require(staff.role, Permission.COMPLAINTS)
    text = _text(event.text, "complaint.empty", "complaint.too_long")
    member = current_member(state)
    member_id = member.member_id if member is not None else None
    sale_id = None
    receipt = event.receipt.strip()
    if receipt:
        found = ctx.ports.journal.sale_by_receipt(receipt)
        if found is None:
            raise Refused("complaint.receipt_unknown", receipt=receipt)
        sale, receipt = found
        if member_id is not None and sale.member_id not in (None, member_id):
            # Filing it under the member in front of the till would put another member's
            # receipt in their history.
            raise Refused("complaint.other_member", receipt=receipt)
        sale_id = sale.sale_id
        member_id = member_id or sale.member_id
    elif member_id is None:
        raise Refused("complaint.nothing")
    command = RecordComplaint(
        ctx.new_id(), staff.staff_id, text, ctx.now(), member_id=member_id, sale_id=sale_id
    )
    return state, [command, ctx.notify("info", "complaint.recorded")]
