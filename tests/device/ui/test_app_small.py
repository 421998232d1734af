"""The cashier screen on an 80x24 terminal (a small terminal's size): the F12 menu, the help
and every amount are on the screen, whole, in both languages."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len

from device.checkout.money import format_fen
from device.checkout.state import Phase
from device.i18n import render
from device.ui.app import CashierApp
from device.ui.keypad import MENU, MENU2
from provisioning import demo_data
from tests.device.harness import Terminal, start_terminal
from tests.device.ui.test_app import kicked, make_app, settle, shown, type_keys

SIZE = (80, 24)
# nine products with long English names among them ("Dove chocolate 43g family pack")
PRODUCTS = demo_data.products()[:60:7]


@pytest.fixture
def term(tmp_path: Path) -> Terminal:
    t = start_terminal(tmp_path)
    yield t
    t.stop()


def screen(app: CashierApp) -> list[str]:
    """The terminal's 24 rows as the cashier sees them (Textual's composited screen)."""
    strips = app.screen._compositor.render_strips()  # the frame the driver would draw
    rows = ["".join(segment.text for segment in strip) for strip in strips]
    assert len(rows) == SIZE[1] and all(len(row) <= SIZE[0] for row in rows)
    return rows


def _squeezed(rows: list[str]) -> str:
    return "".join("".join(rows).split())


def _left(rows: list[str], width: int) -> list[str]:
    """The first ``width`` cells of each row (a Chinese character takes two)."""
    out = []
    for row in rows:
        kept, used = "", 0
        for ch in row:
            used += cell_len(ch)
            if used > width:
                break
            kept += ch
        out.append(kept)
    return out


async def _signed_in_with_a_long_sale(app: CashierApp, pilot: Any, term: Terminal) -> None:
    await type_keys(pilot, "2 0 0 1 enter 1 2 3 4 enter")
    await settle(pilot, app, lambda: app.view.state.phase is Phase.NO_SHIFT)
    await type_keys(pilot, "5 0 0 enter")
    await settle(pilot, app, lambda: "店长" in shown(app, "prompt"))
    await type_keys(pilot, "1 0 0 1 enter 8 8 8 8 enter")
    await settle(pilot, app, lambda: app.view.state.phase is Phase.IDLE)
    await kicked(term)
    await type_keys(pilot, "ctrl+d")
    for product in PRODUCTS:
        await type_keys(pilot, " ".join(str(product["barcodes"][0])) + " enter")
    await settle(pilot, app, lambda: bool(app.view.priced) and len(app.view.priced.lines) == 9)
    ((phone,),) = term.store.db.query(
        "SELECT phone FROM member WHERE tier != 'regular' ORDER BY phone LIMIT 1"
    )
    # a silver or gold member: the tier discount gives every line a discount
    await type_keys(pilot, " ".join(phone) + " f9")
    await settle(pilot, app, lambda: app.view.state.cart.member is not None)


def _check_menus_help_and_amounts(term: Terminal, lang: str) -> None:
    async def scenario(app: CashierApp, pilot: Any) -> None:
        await _signed_in_with_a_long_sale(app, pilot, term)
        if lang == "en":
            await type_keys(pilot, "f12 9")
            await settle(pilot, app, lambda: "F3 subtotal" in shown(app, "keys"))
        await pilot.pause()
        rows = screen(app)
        # every line's amount, whole, on the line's own row
        for line in app.view.priced.lines:
            row = next(r for r in rows if r.startswith(f" {line.line_no} "))
            assert f" {format_fen(line.net_fen)}" in row, row
        # the F12 menu, both pages, every entry
        await type_keys(pilot, "f12")
        await pilot.pause()
        text = _squeezed(screen(app))
        for _digit, _action, label in MENU:
            assert "".join(render(label, lang).split()) in text, label
        await type_keys(pilot, "f12")
        await pilot.pause()
        text = _squeezed(screen(app))
        for _digit, _action, label in MENU2:
            assert "".join(render(label, lang).split()) in text, label
        await type_keys(pilot, "escape escape question_mark")
        await pilot.pause()
        region = app.query_one("#overlay").region  # where the sale table was
        assert region.bottom <= SIZE[1] and region.right <= SIZE[0]
        help_area = _left(screen(app)[region.y : region.bottom], region.right)
        assert "".join(render("label.help", lang).split()) in _squeezed(help_area)
        await type_keys(pilot, "escape")
        # cash before payment is open: the screen says which key opens it
        await type_keys(pilot, "f4")
        await pilot.pause()
        assert "".join(render("ui.pay_first", lang).split()) in _squeezed(screen(app))
        # paying: the total, what is due and the entry line stay on the screen
        await type_keys(pilot, "f3")
        await settle(pilot, app, lambda: app.view.state.phase is Phase.TENDERING)
        await type_keys(pilot, "1 f4")
        await settle(pilot, app, lambda: bool(app.view.state.tenders))
        await pilot.pause()
        rows = screen(app)
        text = _squeezed(rows)
        assert format_fen(app.view.priced.total_fen) in text
        assert f"{render('label.due', lang)}{format_fen(app.view.due_fen)}" in text
        assert any(row.rstrip().endswith("▌") for row in rows)  # the prompt is whole

    async def run() -> None:
        app = make_app(term)
        async with app.run_test(size=SIZE) as pilot:
            await scenario(app, pilot)

    asyncio.run(run())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_80x24_terminal_shows_the_menu_the_help_and_whole_amounts(
    term: Terminal, lang: str
) -> None:
    _check_menus_help_and_amounts(term, lang)


def _text_keys(text: str) -> str:
    """Keys that type ``text`` on the keyboard (a space is the space key)."""
    return " ".join("space" if ch == " " else ch for ch in text)


def test_an_80x24_terminal_takes_a_typed_note_and_complaint_about_the_member(
    term: Terminal,
) -> None:
    note = "请6点后回电 call back"  # letters such as c are text here, not the CASH key
    complaint = "cashier was rude"

    async def scenario(app: CashierApp, pilot: Any) -> None:
        await _signed_in_with_a_long_sale(app, pilot, term)
        member_id = app.view.state.cart.member.member_id
        await type_keys(pilot, "f12 f12")
        await pilot.pause()
        assert render("menu.note", "zh") in "".join(screen(app))
        await type_keys(pilot, "7 " + _text_keys(note + "x") + " backspace")
        await pilot.pause()
        rows = screen(app)
        assert any(render("prompt.note_text", "zh") in r and r.rstrip().endswith(f"{note}▌")
                   for r in rows), rows  # fmt: skip
        await type_keys(pilot, "enter")
        await settle(pilot, app, lambda: any(e.type == "member_note"
                                             for e in term.store.outbox_pending()))  # fmt: skip
        [body] = [json.loads(e.body) for e in term.store.outbox_pending()
                  if e.type == "member_note"]  # fmt: skip
        assert (body["member_id"], body["staff_id"], body["role"], body["text"]) == (
            member_id, "2001", "cashier", note)  # fmt: skip
        assert app.view.state.phase is Phase.SELLING and len(app.view.priced.lines) == 9
        # ENTER with no receipt number: the complaint is the member's.
        await type_keys(pilot, "f12 f12 6 enter " + _text_keys(complaint) + " enter")
        await settle(pilot, app, lambda: bool(term.store.db.query("SELECT 1 FROM complaint")))
        assert term.store.db.query("SELECT member_id, sale_id, staff_id, text FROM complaint") == [
            (member_id, None, "2001", complaint)
        ]
        assert app.keypad.current_mode(app.view) == "sale"

    async def run() -> None:
        app = make_app(term)
        async with app.run_test(size=SIZE) as pilot:
            await scenario(app, pilot)

    asyncio.run(run())
