"""Notes and complaints taken at the till: about whom, by whom, refused with a reason."""

from __future__ import annotations

from device.checkout import events as ev
from device.checkout import notes
from device.checkout.commands import RecordComplaint, RecordMemberNote
from device.checkout.records import Member, TenderKind
from device.checkout.state import Phase
from protocol.bounds import TEXT_CHARS
from tests.device.checkout.fakes import Till
from tests.device.checkout.test_machine_returns import MILK, RICE, ZHANG, till_with_sale
from tests.device.checkout.test_machine_session import MANAGER

LI = Member(member_id="M7", phone="13900007777")


def _one(commands: list[object], kind: type) -> object:
    found = [c for c in commands if isinstance(c, kind)]
    assert len(found) == 1, commands
    return found[0]


def _selling_to(member: Member) -> Till:
    till = Till([MILK, RICE], members=[ZHANG, LI])
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(20000, MANAGER))
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.IdentifyMember("phone", member.phone))
    assert till.state.phase is Phase.SELLING and till.state.cart.member is not None
    return till


def test_the_core_bound_is_the_wire_bound() -> None:
    assert notes.TEXT_MAX_CHARS == TEXT_CHARS == 2000


def test_a_cashier_notes_the_member_of_the_sale_under_their_own_id_and_role() -> None:
    till = _selling_to(ZHANG)
    done = till.send(ev.AddMemberNote("  wants the 5 kg rice next time  "))
    assert till.errors(done) == []
    note = _one(done, RecordMemberNote)
    assert (note.member_id, note.staff_id, note.role, note.note) == (
        "M2", "c1", "cashier", "wants the 5 kg rice next time",
    )  # fmt: skip
    assert note.device_time == till.clock.now()
    assert till.state.cart is not None and len(till.state.cart.active_lines()) == 1


def test_a_note_needs_a_member_and_text_within_the_bound() -> None:
    till = Till([MILK])
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(20000, MANAGER))
    assert till.errors(till.send(ev.AddMemberNote("prefers mornings"))) == [
        "identify a member first"
    ]
    till.send(ev.LookupMember("phone", "13900007777"))  # unknown here: no member consulted
    assert till.state.consulted is None
    assert till.errors(till.send(ev.AddMemberNote("x" * 2001, member_id="M2"))) == [
        "a note is at most 2000 characters (this one has 2001)"
    ]
    done = till.send(ev.AddMemberNote(" " + "x" * 2000 + " ", member_id="M2"))
    assert len(_one(done, RecordMemberNote).note) == 2000
    assert [type(c) for c in till.log].count(RecordMemberNote) == 1


def test_a_guide_notes_and_complains_about_the_member_looked_up_until_signing_out() -> None:
    till = Till([], members=[LI])
    till.send(ev.Login("g1", "2222"))
    till.send(ev.LookupMember("phone", LI.phone))
    note = _one(till.send(ev.AddMemberNote("asked for boots in size L")), RecordMemberNote)
    assert (note.member_id, note.staff_id, note.role) == ("M7", "g1", "guide")
    done = till.send(ev.FileComplaint("fitting room was locked"))
    complaint = _one(done, RecordComplaint)
    assert (complaint.member_id, complaint.sale_id, complaint.staff_id, complaint.text) == (
        "M7", None, "g1", "fitting room was locked",
    )  # fmt: skip
    assert till.errors(done) == []
    till.send(ev.Logout())
    till.send(ev.Login("g1", "2222"))
    assert till.errors(till.send(ev.AddMemberNote("one more"))) == ["identify a member first"]
    assert till.errors(till.send(ev.FileComplaint("again"))) == [
        "identify the member or type the receipt number first"
    ]


def test_a_complaint_against_a_receipt_names_the_sale_and_its_member() -> None:
    till, sale, receipt = till_with_sale()
    assert till.state.cart is None  # nobody at the till now: the receipt says whose it was
    complaint = _one(till.send(ev.FileComplaint("rice bag torn", receipt=receipt)),
                     RecordComplaint)  # fmt: skip
    assert (complaint.member_id, complaint.sale_id, complaint.staff_id) == (
        "M2", sale.sale_id, "c1",
    )  # fmt: skip


def test_a_complaint_is_refused_for_an_unknown_receipt_or_another_members_one() -> None:
    till, _sale, receipt = till_with_sale()
    unknown = "S001-T01-20261123-0099"
    assert till.errors(till.send(ev.FileComplaint("torn", receipt=unknown))) == [
        f"receipt {unknown} is not in this till's journal"
    ]
    till.members.members[LI.member_id] = LI
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.IdentifyMember("phone", LI.phone))
    assert till.state.cart is not None and till.state.cart.member == LI
    assert till.errors(till.send(ev.FileComplaint("torn", receipt=receipt))) == [
        f"receipt {receipt} belongs to another member"
    ]
    assert not any(isinstance(c, RecordComplaint) for c in till.log)


def test_a_complaint_needs_its_text_within_the_bound() -> None:
    till = _selling_to(ZHANG)
    assert till.errors(till.send(ev.FileComplaint("   "))) == [
        "write what the complaint is about first"
    ]
    assert till.errors(till.send(ev.FileComplaint("y" * 2001))) == [
        "a complaint is at most 2000 characters (this one has 2001)"
    ]
    assert not any(isinstance(c, RecordComplaint) for c in till.log)


def test_a_member_looked_up_before_a_sale_is_not_the_sales_customer() -> None:
    till = Till([MILK], members=[LI])
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(20000, MANAGER))
    till.send(ev.LookupMember("phone", LI.phone))
    assert till.state.consulted == LI
    till.send(ev.Scan(MILK.barcodes[0]))  # another customer, no member named
    assert till.errors(till.send(ev.AddMemberNote("note"))) == ["identify a member first"]
    till.send(ev.Subtotal())
    till.send(ev.AddTender(TenderKind.CASH, 1250))
    till.send(ev.SkipFeedback())
    assert till.state.cart is None and till.state.consulted is None
    assert till.errors(till.send(ev.FileComplaint("rude"))) == [
        "identify the member or type the receipt number first"
    ]
