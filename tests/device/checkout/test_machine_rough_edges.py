"""The cashier's rough edges found by a new user: short suspend numbers, the customer display
cleared between customers, sign-out after registering a member, a member changed while paying."""

from __future__ import annotations

from device.checkout import events as ev
from device.checkout.commands import Notify, ShowOnDisplay, SuspendSale
from device.checkout.records import Member, TenderKind, Tier
from device.checkout.state import Phase
from device.i18n import english, render
from tests.device.checkout.fakes import Till
from tests.device.checkout.test_machine_sale import MANAGER, MILK, RICE, selling_till

OTHER = Member("M2", "13900002222", "Wang", Tier.REGULAR, 40, 1000)


def _said(commands: list[object]) -> list[str]:
    return [english(c.message_key, **c.params) for c in commands if isinstance(c, Notify)]


def _shown(commands: list[object]) -> list[tuple[str, str]]:
    return [
        (english(c.line1, **c.params), english(c.line2, **c.params))
        for c in commands
        if isinstance(c, ShowOnDisplay)
    ]


def test_suspend_and_recall_speak_of_a_short_number_not_the_uuid() -> None:
    till = selling_till()
    till.send(ev.Scan(MILK.barcodes[0]))
    first = till.send(ev.Suspend())
    till.send(ev.Scan(RICE.barcodes[0]))
    second = till.send(ev.Suspend())
    ids = [c.suspend_id for c in (*first, *second) if isinstance(c, SuspendSale)]
    assert _said(first) == ["sale suspended as No. 1"]
    assert _said(second) == ["sale suspended as No. 2"]
    assert all(suspend_id not in " ".join(_said(first + second)) for suspend_id in ids)
    recalled = till.send(ev.Recall(ids[1]))
    assert _said(recalled) == ["suspended sale No. 2 recalled"]
    note = next(c for c in recalled if isinstance(c, Notify))
    assert render(note.message_key, "zh", **note.params) == "已取回挂单 2"


def test_the_customer_display_is_cleared_after_suspend_and_sign_out() -> None:
    till = selling_till([Member("M1", "13812345678", "Chen", Tier.GOLD, 500, 9000)])
    till.send(ev.IdentifyMember("phone", "13812345678"))
    shown = till.send(ev.Scan(MILK.barcodes[0]))
    assert _shown(shown) == [("Milk ¥12.50", "TOTAL ¥10.00")]  # gold: 20 % off
    assert _shown(till.send(ev.Suspend())) == [("", "")]
    till.send(ev.Scan(RICE.barcodes[0]))
    assert _shown(till.send(ev.CancelSale())) == [("", "")]
    assert _shown(till.send(ev.Logout())) == [("", "")]


def test_a_newly_registered_member_on_an_empty_sale_does_not_block_sign_out() -> None:
    till = selling_till()
    till.send(ev.RegisterMember("13900001111", name="Liu"))
    assert till.state.cart is not None and till.state.cart.member is not None
    done = till.send(ev.Logout())
    assert _said(done) == ["signed out"]
    assert till.state.phase is Phase.LOGGED_OUT and till.state.cart is None
    assert _shown(done) == [("", "")]
    # a sale with an item still needs finishing first
    till.send(ev.Login("c1", "1111"))
    till.send(ev.Scan(MILK.barcodes[0]))
    assert till.errors(till.send(ev.Logout())) == ["finish or suspend the sale first"]


def test_the_member_can_change_while_paying_until_something_is_paid() -> None:
    chen = Member("M1", "13812345678", "Chen", Tier.GOLD, 500, 9000)
    till = Till([MILK, RICE], members=[chen, OTHER])
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(20000, MANAGER))
    till.send(ev.IdentifyMember("phone", chen.phone))
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.Subtotal())
    assert till.state.phase is Phase.TENDERING
    done = till.send(ev.IdentifyMember("phone", OTHER.phone))
    assert till.errors(done) == []
    assert till.state.cart is not None and till.state.cart.member == OTHER
    assert till.state.phase is Phase.TENDERING
    till.send(ev.AddTender(TenderKind.CARD, 500, approval_code="A1"))
    assert till.errors(till.send(ev.IdentifyMember("phone", chen.phone))) == [
        "remove the tenders first"
    ]
