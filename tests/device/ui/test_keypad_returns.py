"""A return against a receipt on the keypad: pick lines (part of one with n QTY), see what
comes back to which tenders, confirm, give a reason; a fully returned weighed line is shown so."""

from __future__ import annotations

from device.checkout import events as ev
from device.checkout.cart import Cart
from device.checkout.records import TenderKind, TenderLine
from device.checkout.returns import ReturnRequestLine, preview_return
from device.checkout.state import Phase, ReturnSession, State
from device.i18n import render
from device.runtime import View
from device.ui import panels
from device.ui.keypad import KeypadController
from tests.device.checkout.builders import as_record, make_sale, product
from tests.device.ui.test_keypad import CASHIER, SHIFT, keys

SOAP = product("SOAP", 500)  # ¥5.00 each
APPLES = product("APPLE", 1000, sold_by_weight=True)  # ¥10.00 a kilo
TEA = product("TEA", 800)


def _sale():  # type: ignore[no-untyped-def]
    cart = Cart().add(SOAP, "6900000000014", quantity=3)  # line 1: 3 x 5.00 = 15.00
    cart = cart.add(APPLES, "2000000000000", weight_g=500)  # line 2: 500 g = 5.00
    cart = cart.add(TEA, "6900000000038")  # line 3: 8.00; 28.00 in all
    tenders = [
        TenderLine(TenderKind.CASH, 2000),
        TenderLine(TenderKind.CARD, 800, approval_code="A1"),
    ]
    return make_sale(cart, tenders)


def _view(earlier: tuple = ()) -> View:  # type: ignore[type-arg]
    session = ReturnSession(sale=_sale(), receipt_no="S001-T01-20261120-0001", earlier=earlier)
    state = State(phase=Phase.RETURNING, staff=CASHIER, shift=SHIFT, returning=session)
    return View(state=state)


def test_part_of_a_line_is_chosen_with_qty_then_shown_confirmed_and_given_a_reason() -> None:
    pad = KeypadController("S001-T01")
    v = _view()
    pad.on_view(v)
    # "2 QTY 1 ENTER": two of line 1; "3 ENTER": line 3 (all of it). Nothing is sent yet.
    assert keys(pad, v, "2<QTY>1<ENTER>3<ENTER>") == []
    key, params = pad.prompt(v)
    assert render(key, "en", **params).startswith("Chosen 1×2, 3")
    # ENTER alone: the refund is shown, per tender, before anything happens
    assert keys(pad, v, "<ENTER>") == []
    assert pad.current_mode(v) == "return_confirm"
    # 2 soaps (10.00) + tea (8.00) = 18.00 of 28.00, split over cash 20.00 and card 8.00:
    # highest averages give cash 12.86 and card 5.14
    shown = panels.return_preview(v, pad.preview, "en")  # type: ignore[arg-type]
    assert "Will refund ¥18.00" in shown
    assert "to cash ¥12.86" in shown and "to card ¥5.14" in shown
    key, params = pad.prompt(v)
    assert render(key, "zh", **params) == "退款¥18.00（见明细）：确认键确认，Esc修改"
    # confirm, then the reason is asked; a wrong digit asks again
    assert keys(pad, v, "<ENTER>") == [] and pad.current_mode(v) == "return_reason"
    assert keys(pad, v, "7<ENTER>") == [] and pad.error == "return.pick_reason"
    assert keys(pad, v, "1<ENTER>") == [
        ev.ReturnLines((ev.ReturnItem(1, 2), ev.ReturnItem(3, 1)), reason="faulty")
    ]


def test_clear_goes_back_to_choosing_and_an_over_return_is_refused_before_confirming() -> None:
    pad = KeypadController("S001-T01")
    v = _view()
    pad.on_view(v)
    keys(pad, v, "1<ENTER><ENTER>")
    assert pad.current_mode(v) == "return_confirm"
    assert keys(pad, v, "<CLEAR>") == [] and pad.current_mode(v) == "return_lines"
    assert pad.preview is None and pad.prompt(v)[0] == "prompt.return_lines"
    # four soaps of three: refused at once, in the screen's language
    assert keys(pad, v, "4<QTY>1<ENTER><ENTER>") == []
    assert pad.error == "error.return" and pad.current_mode(v) == "return_lines"
    assert render(pad.error, "zh", **pad.error_params) == "不能退货：第1行只能再退3"
    assert keys(pad, v, "9<ENTER>") == [] and pad.error == "return.no_line"


def test_a_fully_returned_weighed_line_is_not_shown_as_returnable() -> None:
    sale = _sale()
    earlier = as_record(preview_return(sale, (), [ReturnRequestLine(2, 1, None)]), sale)
    v = _view((earlier,))
    rows = {row[0]: row for row in panels.return_rows(v, "en")}
    assert rows["2"][2] == "0" and "(returned)" in rows["2"][1]
    assert rows["1"][2] == "3" and rows["3"][2] == "1"
    # and the keypad says so rather than sending it
    pad = KeypadController("S001-T01")
    pad.on_view(v)
    assert keys(pad, v, "2<ENTER>") == [] and pad.error == "return.line_done"
    # half of the apples only: 250 g
    half = _view()
    assert panels.return_rows(half, "en")[1][2] == "500g"
    pad = KeypadController("S001-T01")
    pad.on_view(half)
    keys(pad, half, "250<QTY>2<ENTER><ENTER><ENTER>")
    assert keys(pad, half, "3<ENTER>") == [
        ev.ReturnLines((ev.ReturnItem(2, 1, 250),), reason="changed_mind")
    ]
