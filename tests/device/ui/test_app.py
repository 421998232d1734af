"""The cashier screen driven through Textual's pilot, on a real terminal with simulated hardware."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from device.checkout.state import Phase
from device.ui.app import CashierApp
from device.wiring import DemoHands
from provisioning import demo_data
from tests.device.harness import Terminal, start_terminal
from tests.device.ui.keys import press, until

WATER = str(demo_data.products()[0]["barcodes"][0])  # 农夫山泉 550ml ¥2.00


@pytest.fixture
def term(tmp_path: Path) -> Terminal:
    t = start_terminal(tmp_path)
    yield t
    t.stop()


def shown(app: CashierApp, widget: str) -> str:
    return str(app.query_one(f"#{widget}", Static).render())


async def settle(
    pilot: Any, app: CashierApp, check: Callable[[], bool], timeout: float = 30
) -> None:
    """Let the runtime answer and the screen redraw until ``check`` holds."""
    await until(pilot, check, "screen never matched", timeout, lambda: shown(app, "notice"))


async def type_keys(pilot: Any, text: str) -> None:
    await press(pilot.app, pilot, text)


async def kicked(term: Terminal) -> None:
    """Wait (off the screen's loop) until the kick has been given and the drawer acted on it."""
    assert await asyncio.to_thread(term.runtime.wait_drawer, 30)
    assert await asyncio.to_thread(term.hw.drawer_sim.wait_idle, 30)


def make_app(t: Terminal) -> CashierApp:
    app = CashierApp(t.runtime.submit, "S001-T01", "测试 S001/S001-T01", DemoHands(t.hw, t.store))
    t.runtime.on_view = app.push_view
    app.push_view(t.runtime.view)
    return app


def on_screen(term: Terminal, scenario: Callable[[CashierApp, Any], Awaitable[None]]) -> None:
    """Run a scenario against the app in Textual's headless test mode."""

    async def run() -> None:
        app = make_app(term)
        async with app.run_test(size=(140, 45)) as pilot:
            await scenario(app, pilot)

    asyncio.run(run())


def test_a_wrong_pin_says_how_many_attempts_are_left(term: Terminal) -> None:
    on_screen(term, _wrong_pin)


async def _wrong_pin(app: CashierApp, pilot: Any) -> None:
    await type_keys(pilot, "2 0 0 1 enter 9 9 9 9 enter")
    await settle(pilot, app, lambda: "密码错误" in shown(app, "notice"))
    assert "还可尝试4次" in shown(app, "notice")
    assert "工号" in shown(app, "prompt")  # back to the staff id prompt


def test_a_whole_member_sale_on_the_keypad_prints_and_shows_the_change(term: Terminal) -> None:
    on_screen(term, lambda app, pilot: _member_sale(app, pilot, term))


async def _member_sale(app: CashierApp, pilot: Any, term: Terminal) -> None:
    await type_keys(pilot, "2 0 0 1 enter 1 2 3 4 enter")
    await settle(pilot, app, lambda: app.view.state.phase is Phase.NO_SHIFT)
    await type_keys(pilot, "5 0 0 enter")  # float; a cashier needs the manager for this
    await settle(pilot, app, lambda: "店长" in shown(app, "prompt"))
    await type_keys(pilot, "1 0 0 1 enter 8 8 8 8 enter")
    await settle(pilot, app, lambda: app.view.state.phase is Phase.IDLE)
    await kicked(term)  # the float opened the drawer; close it
    await settle(pilot, app, lambda: app.view.state.drawer_open)
    await type_keys(pilot, "ctrl+d")
    await type_keys(pilot, " ".join(WATER) + " enter")  # typed barcode
    await type_keys(pilot, "ctrl+s")  # a scan through the simulated scanner
    await settle(pilot, app, lambda: app.view.priced and len(app.view.priced.lines) == 2)
    await type_keys(pilot, "3 f2")  # 3 x the last line
    await type_keys(pilot, "ctrl+k")  # member card swipe
    await settle(pilot, app, lambda: app.view.state.cart.member is not None)
    member = app.view.state.cart.member
    panel = shown(app, "member")
    assert member.name in panel and member.phone[-4:] in panel and member.phone not in panel
    await type_keys(pilot, "f3")
    await settle(pilot, app, lambda: app.view.state.phase is Phase.TENDERING)
    due = app.view.due_fen
    await type_keys(pilot, "1 f5")  # 1 yuan by card: asks for the approval code
    await settle(pilot, app, lambda: "授权码" in shown(app, "prompt"))
    await type_keys(pilot, "5 5 1 2 enter")
    await settle(pilot, app, lambda: app.view.due_fen == due - 100)
    await type_keys(pilot, "1 0 0 0 f4")  # the rest in cash, with change
    await settle(pilot, app, lambda: app.view.state.phase is Phase.FEEDBACK)
    await settle(pilot, app, lambda: ".png" in shown(app, "receipt"))
    receipt_no = app.view.last_receipt_no
    assert receipt_no in shown(app, "receipt")
    assert Path(app.view.last_receipt_path + ".png").exists()
    change = 100_000 - (due - 100)
    assert f"{change // 100}.{change % 100:02d}" in shown(app, "display")
    # the screen shows the customer display in its language; the pole's code page (cp437)
    # has no Chinese, so the pole itself falls back to English
    assert "找零" in shown(app, "display") and "CHANGE" not in shown(app, "display")
    assert term.hw.display_sim.screen()[0].startswith("CHANGE")
    await type_keys(pilot, "5")  # the customer's rating
    await settle(pilot, app, lambda: app.view.state.phase is Phase.IDLE)
    rows = term.store.db.query("SELECT rating FROM feedback")
    assert rows == [(5,)]
    # The customer comes back: the receipt's QR code is scanned and everything is returned.
    await kicked(term)
    await settle(pilot, app, lambda: app.view.state.drawer_open)
    await type_keys(pilot, "ctrl+d")
    app.demo.scan(receipt_no)
    await settle(pilot, app, lambda: app.view.state.phase is Phase.RETURNING)
    assert receipt_no in str(app.query_one("#lines").get_row_at(0))
    await type_keys(pilot, "enter")  # everything: the refund and its tenders are shown first
    await settle(pilot, app, lambda: "将退款" in shown(app, "overlay"))
    assert app.view.state.phase is Phase.RETURNING  # nothing refunded before the confirmation
    assert "现金" in shown(app, "overlay") and "银行卡" in shown(app, "overlay")
    await type_keys(pilot, "enter")  # confirmed: the reason is asked
    await settle(pilot, app, lambda: "退货原因" in shown(app, "prompt"))
    await type_keys(pilot, "1 enter")
    await settle(pilot, app, lambda: app.view.state.phase is Phase.IDLE)
    assert "退款" in shown(app, "notice")
    refund = term.store.db.query("SELECT refund_fen FROM sale_return")
    assert refund == [(due,)]  # the whole sale came back, card part included
    await settle(pilot, app, lambda: len(term.printed()) == 2)


def test_bad_barcodes_get_a_reason_and_language_switches(term: Terminal) -> None:
    on_screen(term, _bad_barcodes)


async def _bad_barcodes(app: CashierApp, pilot: Any) -> None:
    await type_keys(pilot, "2 0 0 2 enter 5 6 7 8 enter")
    await settle(pilot, app, lambda: app.view.state.phase is Phase.NO_SHIFT)
    await type_keys(pilot, "1 0 0 enter")
    await settle(pilot, app, lambda: "店长" in shown(app, "prompt"))
    await type_keys(pilot, "1 0 0 1 enter 8 8 8 8 enter")
    await settle(pilot, app, lambda: app.view.state.phase is Phase.IDLE)
    await type_keys(pilot, "6 9 0 0 0 0 0 0 0 0 0 1 5 enter")  # wrong check digit
    await settle(pilot, app, lambda: "条码无效" in shown(app, "notice"))
    # the domain's reason is in the screen's language too, not English inside Chinese
    assert "校验位错误：应为4，实为5" in shown(app, "notice")
    assert "check digit" not in shown(app, "notice")
    await type_keys(pilot, "4 0 0 6 3 8 1 3 3 3 9 3 1 enter")  # valid EAN-13, not sold here
    await settle(pilot, app, lambda: "未知商品" in shown(app, "notice"))
    await type_keys(pilot, "f12 9")
    await settle(pilot, app, lambda: "F3 subtotal" in shown(app, "keys"))
    await type_keys(pilot, "4 0 0 6 3 8 1 3 3 3 9 3 1 enter")
    await settle(pilot, app, lambda: "unknown product 4006381333931" in shown(app, "notice"))
