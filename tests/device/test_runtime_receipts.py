"""What the receipts say, printed by the runtime on a real store and the simulated printer:
a price override is marked, and a return slip names its items, prices, member and points."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from device.checkout import events as ev
from device.checkout.records import TenderKind
from device.checkout.state import Phase
from provisioning import demo_data
from tests.device.harness import Terminal, start_terminal

WATER = demo_data.products()[0]  # 农夫山泉 550ml, ¥2.00
COLA = demo_data.products()[2]  # 可口可乐 330ml, ¥3.50
MANAGER = ev.ManagerCreds("1001", "8888")


@pytest.fixture
def term(tmp_path: Path) -> Iterator[Terminal]:
    t = start_terminal(tmp_path)
    yield t
    t.stop()


def _flat(text: str) -> str:
    return "".join(text.split())


def _pay_cash(t: Terminal) -> str:
    view = t.send(ev.Subtotal())
    view = t.send(ev.AddTender(TenderKind.CASH, view.due_fen))
    assert view.state.phase is Phase.FEEDBACK, view.notice
    receipt_no = view.last_receipt_no
    t.wait(lambda v: bool(v.last_receipt_no), timeout=20)
    return receipt_no or t.view.last_receipt_no


def test_a_price_override_is_marked_on_the_receipt_with_the_list_price(term: Terminal) -> None:
    assert (WATER["price_fen"], COLA["price_fen"]) == (200, 350)
    term.login_and_open()
    term.scan(WATER["barcodes"][0])
    term.scan(COLA["barcodes"][0])
    view = term.send(ev.OverridePrice(2, 300, MANAGER))
    assert view.state.cart.lines[1].price_overridden, view.notice
    _pay_cash(term)
    term.wait(lambda v: len(term.printed()) == 1, timeout=20)
    text = _flat(term.printed()[0].text())
    # the receipt is Chinese (the till's language): the mark and the list price ¥3.50
    assert "已改价，原价￥3.50" in text
    assert text.count("已改价") == 1  # the water kept its price: no mark


def test_a_return_slip_names_items_with_prices_the_member_and_the_points(
    term: Terminal,
) -> None:
    ((member_id, phone),) = term.store.db.query(
        "SELECT member_id, phone FROM member ORDER BY member_id LIMIT 1"
    )
    term.login_and_open()
    term.send(ev.IdentifyMember("phone", phone))
    juice = next(p for p in demo_data.products() if p["sku"] == "P00024")  # juice pack ¥35.80
    term.scan(str(juice["barcodes"][0]))
    term.scan(COLA["barcodes"][0])
    receipt_no = _pay_cash(term)
    term.wait(lambda v: len(term.printed()) == 1, timeout=20)
    earned = term.store.db.query("SELECT points_earned FROM sale")[0][0]
    assert earned > 0
    # the sale receipt's balance is the member's balance after this sale, counted once
    ((balance,),) = term.store.db.query(
        "SELECT points_balance FROM member WHERE member_id = ?", (member_id,)
    )
    assert f"积分余额{balance}" in _flat(term.printed()[0].text())
    view = term.send(ev.StartReturn(receipt_no))
    assert view.state.phase is Phase.RETURNING, view.notice
    term.send(ev.ReturnLines((ev.ReturnItem(1, 1),), reason="damaged"))
    # no HQ here: the till checks against its own records once the question goes unanswered
    view = term.wait(lambda v: v.state.phase is Phase.IDLE, timeout=60)
    assert view.notice is not None and view.notice.key == "return.offline_own", view.notice
    term.wait(lambda v: len(term.printed()) == 2, timeout=20)
    slip = _flat(term.printed()[1].text())
    juice_price = int(juice["price_fen"])
    # the item by its name and unit price, not its product code
    assert str(juice["name_zh"]).replace(" ", "") in slip
    assert f"￥{juice_price // 100}.{juice_price % 100:02d}" in slip
    assert str(juice["sku"]) not in slip
    # the member (masked phone) and the points taken back with the item
    assert f"{phone[:3]}****{phone[-4:]}" in slip
    reversed_points = term.store.db.query(
        "SELECT sum(delta) FROM return_points WHERE member_id = ?", (member_id,)
    )[0][0]
    assert reversed_points < 0
    assert f"扣回积分{reversed_points}" in slip


def test_the_customer_display_speaks_chinese_where_its_code_page_has_it(term: Terminal) -> None:
    from device.drivers.display import DisplayConfig, PoleDisplay
    from tests.device.drivers.input_helpers import Collector
    from tests.device.drivers.test_display import Recorder

    gb, ascii_only = Recorder(), Recorder()
    term.login_and_open()
    term.runtime.dev.display = PoleDisplay(DisplayConfig(encoding="gb2312"), Collector(), gb)
    term.scan(WATER["barcodes"][0])
    shown = bytes(gb.data).decode("gb2312", "replace")
    assert "农夫山泉" in shown and "合计 ￥2.00" in shown and "TOTAL" not in shown
    # a display without Chinese (cp437) gets the English words instead of question marks
    term.runtime.dev.display = PoleDisplay(DisplayConfig(), Collector(), ascii_only)
    term.scan(COLA["barcodes"][0])
    shown = bytes(ascii_only.data).decode("cp437")
    assert "TOTAL" in shown and "?" not in shown
    # after a suspend the display is blank for the next customer
    before = len(ascii_only.data)
    view = term.send(ev.Suspend())
    assert view.display is not None and (view.display.line1, view.display.line2) == ("", "")
    blank = bytes(ascii_only.data[before:]).decode("cp437")
    assert "TOTAL" not in blank and "Cola" not in blank and blank.count(" ") >= 40
