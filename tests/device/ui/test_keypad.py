"""The keypad controller alone: keys in, the checkout events a cashier would expect out."""

from __future__ import annotations

import datetime as dt

import pytest

from device.checkout import events as ev
from device.checkout import shifts
from device.checkout.records import Role, Staff, TenderKind, TenderLine
from device.checkout.state import Phase, State
from device.drivers.keypad import ALL_KEYS
from device.i18n import render
from device.recovery import Unprinted
from device.runtime import Dismiss, Notice, PrintUnprinted, View
from device.ui.app import SCREEN_ACTIONS
from device.ui.keypad import UI_ACTIONS, KeypadController, UiAction

CASHIER = Staff("2001", "李娜", Role.CASHIER)
SHIFT = shifts.open_shift("s1", "2001", dt.datetime(2026, 11, 23, tzinfo=dt.UTC), 50_000)


def view(phase: Phase, **kw: object) -> View:
    staff = None if phase is Phase.LOGGED_OUT else CASHIER
    shift = SHIFT if phase not in (Phase.LOGGED_OUT, Phase.NO_SHIFT) else None
    state_kw = {k: kw.pop(k) for k in list(kw) if k in ("tenders",)}
    return View(state=State(phase=phase, staff=staff, shift=shift, **state_kw), **kw)  # type: ignore[arg-type]


def keys(pad: KeypadController, v: View, seq: str) -> list[object]:
    """Type a sequence: single characters are keys, words in <> are function keys."""
    out: list[object] = []
    i = 0
    while i < len(seq):
        if seq[i] == "<":
            j = seq.index(">", i)
            out += pad.press(seq[i + 1 : j], v)
            i = j + 1
        else:
            out += pad.press(seq[i], v)
            i += 1
    return out


def test_login_is_staff_id_enter_then_pin_enter_and_the_pin_is_hidden() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.LOGGED_OUT)
    assert keys(pad, v, "2001<ENTER>12") == []
    assert pad.shown_entry(v) == "**"
    assert keys(pad, v, "34<ENTER>") == [ev.Login("2001", "1234")]


def test_digits_then_enter_scan_a_typed_barcode_and_number_then_qty_sets_quantity() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.SELLING)
    assert keys(pad, v, "6900000000014<ENTER>") == [ev.Scan("6900000000014", "keypad")]
    assert keys(pad, v, "3<QTY>") == [ev.SetQuantity(3)]
    assert keys(pad, v, "2<VOID>") == [ev.VoidLine(2)]
    assert keys(pad, v, "<VOID>4<ENTER>") == [ev.VoidLine(4)]


def test_member_key_takes_a_phone_typed_before_or_after() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.SELLING)
    assert keys(pad, v, "13812345678<MEMBER>") == [ev.IdentifyMember("phone", "13812345678")]
    assert keys(pad, v, "<MEMBER>13812345678<ENTER>") == [ev.IdentifyMember("phone", "13812345678")]


def test_tender_amount_then_cash_and_cash_alone_pays_what_is_due() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.TENDERING, due_fen=4_590)
    assert keys(pad, v, "50<CASH>") == [ev.AddTender(TenderKind.CASH, 5_000)]
    assert keys(pad, v, "12.5<CASH>") == [ev.AddTender(TenderKind.CASH, 1_250)]
    assert keys(pad, v, "<CASH>") == [ev.AddTender(TenderKind.CASH, 4_590)]
    assert keys(pad, v, "1.2.3<CASH>") == [] and pad.error == "ui.bad_amount"


def test_a_payment_key_during_the_sale_names_the_key_that_opens_payment() -> None:
    pad = KeypadController("S001-T01")
    selling = view(Phase.SELLING)
    for key in ("CASH", "CARD", "MOBILE", "COUPON", "POINTS"):
        assert keys(pad, selling, f"50<{key}>") == [] and pad.error == "ui.pay_first", key
    assert "press F3 (subtotal) first" in render(pad.error, "en")
    assert "请先按 F3 小计" in render(pad.error, "zh")
    assert keys(pad, view(Phase.IDLE), "<CASH>") == [] and pad.error == "scan.first"
    # Once F3 has opened payment the same key pays.
    assert keys(pad, view(Phase.TENDERING, due_fen=500), "<CASH>") == [
        ev.AddTender(TenderKind.CASH, 500)
    ]


def test_split_tender_card_asks_for_the_approval_code() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.TENDERING, due_fen=10_000)
    assert keys(pad, v, "30<CARD>") == []
    assert pad.current_mode(v) == "approval"
    assert keys(pad, v, "884211<ENTER>") == [
        ev.AddTender(TenderKind.CARD, 3_000, approval_code="884211")
    ]
    assert keys(pad, v, "200<POINTS>") == [ev.RedeemPoints(200)]


def test_a_card_or_mobile_amount_over_what_is_due_is_refused_before_the_code() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.TENDERING, due_fen=5_000)
    for key in ("CARD", "MOBILE"):
        assert keys(pad, v, f"90<{key}>") == []
        assert pad.current_mode(v) != "approval"  # nobody types a code for a refused amount
        assert pad.error == "error.tender"
    assert render(pad.error, "en", **pad.error_params) == (
        "mobile payment ¥90.00 is more than the ¥50.00 still due"
    )
    assert render(pad.error, "zh", **pad.error_params) == "扫码支付¥90.00超过还需支付的¥50.00"
    # exactly what is due (or less) still asks for the code
    assert keys(pad, v, "50<CARD>") == [] and pad.current_mode(v) == "approval"


def test_the_member_key_while_paying_identifies_until_something_is_paid() -> None:
    pad = KeypadController("S001-T01")
    unpaid = view(Phase.TENDERING, due_fen=1_000)
    assert keys(pad, unpaid, "13812345678<MEMBER>") == [ev.IdentifyMember("phone", "13812345678")]
    assert keys(pad, unpaid, "<MEMBER>13900002222<ENTER>") == [
        ev.IdentifyMember("phone", "13900002222")
    ]
    paid = view(Phase.TENDERING, due_fen=100, tenders=(TenderLine(TenderKind.CASH, 500),))
    assert keys(pad, paid, "13812345678<MEMBER>") == []
    assert pad.error == "tender.must_cancel"


def test_clear_on_an_empty_entry_takes_back_a_tender_or_leaves_payment() -> None:
    pad = KeypadController("S001-T01")
    paid = view(Phase.TENDERING, due_fen=100, tenders=(TenderLine(TenderKind.CASH, 500),))
    assert keys(pad, paid, "12<CLEAR>") == []  # first CLEAR only wipes the entry
    assert keys(pad, paid, "<CLEAR>") == [ev.CancelTender()]
    assert keys(pad, view(Phase.TENDERING, due_fen=100), "<CLEAR>") == [ev.BackToSale()]


def test_a_refused_override_asks_for_the_manager_and_resends_with_the_pin() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.IDLE)
    sent = keys(pad, v, "<NOSALE>")
    assert sent == [ev.NoSale(reason="keypad")]
    refused = view(
        Phase.IDLE, notice=Notice("error", "manager.pin_required", "manager PIN required")
    )
    pad.on_view(refused)
    assert pad.current_mode(refused) == "manager_id"
    assert keys(pad, refused, "1001<ENTER>8888") == []
    assert pad.shown_entry(refused) == "****"
    assert keys(pad, refused, "<ENTER>") == [
        ev.NoSale(manager=ev.ManagerCreds("1001", "8888"), reason="keypad")
    ]


def test_function_menu_reaches_suspend_reports_shift_close_and_language() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.SELLING)
    assert keys(pad, v, "<FUNC>1") == [ev.Suspend()]
    assert keys(pad, v, "<FUNC>3") == [ev.XReport()]
    assert keys(pad, view(Phase.IDLE), "<FUNC>4") == []
    assert keys(pad, view(Phase.IDLE), "1234.50<ENTER>") == [ev.CloseShift(123_450)]
    assert keys(pad, v, "<FUNC>9") == [UiAction("language")]
    assert keys(pad, v, "<FUNC>7") == [] and pad.current_mode(v) == "register"
    assert keys(pad, v, "13900001111<ENTER>") == [ev.RegisterMember(phone="13900001111")]


def test_return_by_typed_receipt_number_then_all_lines() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.IDLE)
    assert keys(pad, v, "<RETURN>202611230007<ENTER>") == [ev.StartReturn("S001-T01-20261123-0007")]


def test_feedback_is_one_digit_and_enter_skips() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.FEEDBACK)
    assert keys(pad, v, "5") == [ev.Feedback(5)]
    assert keys(pad, v, "<ENTER>") == [ev.SkipFeedback()]


def test_enter_after_a_restart_prints_the_missing_receipt_or_dismisses_the_lost_sale() -> None:
    pad = KeypadController("S001-T01")
    offer = view(Phase.LOGGED_OUT, unprinted=(Unprinted("sale-1", "S001-T01-20261123-0004"),))
    assert keys(pad, offer, "<ENTER>") == [PrintUnprinted("sale-1")]
    lost = view(Phase.LOGGED_OUT, lost_sale=True)
    assert keys(pad, lost, "<ENTER>") == [Dismiss()]


def test_sale_discount_from_the_menu_in_percent() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.SELLING)
    assert keys(pad, v, "<FUNC><00>") == [] and pad.current_mode(v) == "discount"
    assert keys(pad, v, "10<ENTER>") == [ev.DiscountSale(percent_bp=1000)]


def test_the_first_scan_opening_the_sale_keeps_the_next_code_being_typed() -> None:
    """The runtime's answer to a scan may land while the next code is half typed."""
    pad = KeypadController("S001-T01")
    idle, selling = view(Phase.IDLE), view(Phase.SELLING)
    pad.on_view(idle)
    assert keys(pad, idle, "6901234567892<ENTER>") == [ev.Scan("6901234567892", "keypad")]
    assert keys(pad, idle, "690000") == []
    pad.on_view(selling)  # the first scan's view arrives now
    assert keys(pad, selling, "0000014<ENTER>") == [ev.Scan("6900000000014", "keypad")]
    # signing out still wipes whatever was typed
    keys(pad, selling, "123")
    pad.on_view(view(Phase.LOGGED_OUT))
    assert pad.entry == ""


def test_a_new_phase_drops_a_half_typed_prompt() -> None:
    pad = KeypadController("S001-T01")
    idle = view(Phase.IDLE)
    pad.on_view(idle)
    keys(pad, idle, "<RETURN>")
    returning = view(Phase.RETURNING)  # the receipt was scanned instead of typed
    pad.on_view(returning)
    assert pad.current_mode(returning) == "return_lines"


def test_manager_page_price_override_and_line_discount_act_on_the_last_line() -> None:
    from device.checkout.cart import Cart
    from device.checkout.records import Product

    cart = Cart().add(Product("P1", "水", "Water", "Drinks", 200), "6900000000014")
    cart = cart.add(Product("P2", "可乐", "Cola", "Drinks", 350), "6900000000038")
    v = View(state=State(phase=Phase.SELLING, staff=CASHIER, shift=SHIFT, cart=cart))
    pad = KeypadController("S001-T01")
    assert keys(pad, v, "<FUNC><FUNC>1") == [] and pad.current_mode(v) == "price"
    assert keys(pad, v, "2.80<ENTER>") == [ev.OverridePrice(2, 280)]
    assert keys(pad, v, "<FUNC><FUNC>2") == []
    assert keys(pad, v, "15<ENTER>") == [ev.DiscountLine(2, percent_bp=1500)]
    assert keys(pad, v, "<FUNC><FUNC>3202611230007<ENTER>") == [
        ev.VoidSale("S001-T01-20261123-0007")
    ]


def test_first_sign_in_asks_for_a_new_pin_twice_and_sends_it_with_the_code() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.LOGGED_OUT)
    pad.on_view(v)  # the screen shows the sign-in prompt
    assert keys(pad, v, "2003<ENTER>31415926<ENTER>") == [ev.Login("2003", "31415926")]
    # The till answers "first sign-in: choose your PIN".
    pad.on_view(view(Phase.LOGGED_OUT, notice=Notice("warn", "login.set_pin", "choose")))
    assert keys(pad, v, "2468<ENTER>") == []
    assert pad.shown_entry(v) == ""
    assert keys(pad, v, "24") == [] and pad.shown_entry(v) == "**"  # hidden like a PIN
    assert keys(pad, v, "69<ENTER>") == []  # not the same: asked again
    assert pad.error == "ui.pin_mismatch"
    assert keys(pad, v, "2468<ENTER>2468<ENTER>") == [ev.Login("2003", "31415926", "2468")]


def test_func_twice_then_6_takes_a_complaint_against_a_typed_receipt() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.IDLE)
    assert keys(pad, v, "<FUNC><FUNC>6") == []
    assert pad.prompt(v)[0] == "prompt.complaint_receipt" and not pad.wants_text(v)
    assert keys(pad, v, "202611230007<ENTER>") == []
    assert pad.prompt(v)[0] == "prompt.complaint_text" and pad.wants_text(v)
    pad.type_text("bag torn, ", v)
    pad.type_text("cashierX", v)
    pad.backspace(v)
    assert keys(pad, v, "<ENTER>") == [
        ev.FileComplaint("bag torn, cashier", receipt="S001-T01-20261123-0007")
    ]
    assert pad.current_mode(v) == "sale" and not pad.wants_text(v)


def test_a_complaint_without_a_receipt_is_the_members_and_empty_text_is_refused_here() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.SELLING)
    keys(pad, v, "<FUNC><FUNC>6<ENTER>")
    assert keys(pad, v, "<ENTER>") == [] and pad.error == "complaint.empty"
    assert pad.wants_text(v)  # still asking for the text, the receipt (none) kept
    pad.type_text("rude at the deli counter", v)
    assert keys(pad, v, "<ENTER>") == [ev.FileComplaint("rude at the deli counter")]


def test_func_twice_then_7_takes_a_note_on_the_member_and_clear_leaves_it() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.IDLE)
    keys(pad, v, "<FUNC><FUNC>7")
    assert pad.prompt(v)[0] == "prompt.note_text" and pad.wants_text(v)
    assert keys(pad, v, "<ENTER>") == [] and pad.error == "member.note_empty"
    pad.type_text("likes 2% milk", v)
    assert keys(pad, v, "<ENTER>") == [ev.AddMemberNote("likes 2% milk")]
    keys(pad, v, "<FUNC><FUNC>7")
    pad.type_text("never mind", v)
    keys(pad, v, "<CLEAR><CLEAR>")  # the first clears the text, the second leaves the prompt
    assert not pad.wants_text(v) and pad.entry == ""
    pad.type_text("ignored outside a text prompt", v)
    assert pad.entry == ""


def test_a_long_note_is_kept_whole_up_to_the_bound_but_shown_by_its_end() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.IDLE)
    keys(pad, v, "<FUNC><FUNC>7")
    pad.type_text("a" * 1990 + "0123456789" + "overflow", v)
    assert len(pad.entry) == 2000
    assert pad.shown_entry(v) == "…" + "a" * 29 + "0123456789"
    [note] = keys(pad, v, "<ENTER>")
    assert note == ev.AddMemberNote("a" * 1990 + "0123456789")


def test_no_key_quits_the_till_and_func_0_signs_out() -> None:
    # A till is stopped by its service manager (or Ctrl+Q on a keyboard), never from the
    # keypad; what the keypad asks of the screen is only what the screen does.
    with pytest.raises(ValueError, match="quit"):
        UiAction("quit")
    assert set(SCREEN_ACTIONS) == UI_ACTIONS
    asked: set[str] = set()
    for phase in Phase:
        for prefix in ("", "<FUNC>", "<FUNC><FUNC>"):
            for key in sorted(ALL_KEYS | {"HELP"}):
                sent = keys(KeypadController("S001-T01"), view(phase), f"{prefix}<{key}>")
                asked |= {item.name for item in sent if isinstance(item, UiAction)}
    assert asked == UI_ACTIONS
    assert keys(KeypadController("S001-T01"), view(Phase.IDLE), "<FUNC>0") == [ev.Logout()]
