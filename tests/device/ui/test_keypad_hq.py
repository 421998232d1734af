"""The keypad while the till asks HQ, and returning by item against a receipt HQ could not open."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from device.checkout import events as ev
from device.checkout.hq import Asking, CouponAsk, CouponQuery
from device.checkout.state import Phase
from device.i18n import render
from device.runtime import Notice
from device.ui.keypad import KeypadController
from tests.device.ui.test_keypad import keys, view

ASKING = Asking(
    "00000000000000aa",
    CouponQuery("BDAY20", None, 5000, 0),
    CouponAsk("BDAY20", 0),
    dt.datetime(2026, 11, 23, tzinfo=dt.UTC),
)


def test_the_prompt_says_hq_is_being_asked_in_both_languages() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.TENDERING)
    waiting = replace(v, state=replace(v.state, asking=ASKING))
    key, params = pad.prompt(waiting)
    assert render(key, "zh", **params) == "正在向总部核实，请稍候……"
    assert render(key, "en", **params) == "Checking with HQ, please wait..."
    assert pad.prompt(v)[0] == "prompt.tender"  # answered: back to the tender prompt


def test_hq_unreachable_under_the_capped_policy_leads_to_an_item_return() -> None:
    pad = KeypadController("S001-T01")
    notice = Notice(
        "warning",
        "return.other_offline_capped",
        "...",
        {"receipt": "S002-T01-20261123-0007", "cap": "¥100.00"},
    )
    v = view(Phase.IDLE, notice=notice)
    pad.on_view(v)
    assert pad.prompt(v)[0] == "prompt.item_sku"
    assert keys(pad, v, "6901234<ENTER>2<ENTER>") == []
    assert pad.prompt(v)[0] == "prompt.item_price"
    assert keys(pad, v, "12.5<ENTER>") == []
    assert pad.prompt(v)[0] == "prompt.return_reason"  # why it comes back, then it is sent
    assert keys(pad, v, "2<ENTER>") == [
        ev.NoReceiptReturn(
            "6901234", 2, 1250, reason="wrong_item", receipt="S002-T01-20261123-0007"
        )
    ]


def test_an_item_return_from_the_manager_page_names_no_receipt() -> None:
    pad = KeypadController("S001-T01")
    v = view(Phase.IDLE)
    assert keys(pad, v, "<FUNC><FUNC>5") == []
    assert keys(pad, v, "42<ENTER>0<ENTER>") == []  # a quantity of 0 is refused, asked again
    assert pad.error == "ui.bad_number"
    assert keys(pad, v, "1<ENTER>3<ENTER>") == []
    assert keys(pad, v, "9<ENTER>") == [] and pad.error == "return.pick_reason"
    assert keys(pad, v, "4<ENTER>") == [ev.NoReceiptReturn("42", 1, 300, reason="other")]
