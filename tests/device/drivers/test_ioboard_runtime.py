"""End to end: the firmware (MicroPython under Node) on a pty, the driver, the runtime, the keypad
controller that drives the cashier screen. Keys are pressed on the simulated matrix; the sale's
drawer kick must reach the simulated relay."""

from __future__ import annotations

from pathlib import Path

import msgspec

from device.checkout import events as ev
from device.checkout.state import Phase
from device.config import IoBoardSection
from device.runtime import View
from device.ui.keypad import KeypadController, UiAction
from provisioning import demo_data
from tests.device.drivers.ioboard_helpers import drawer_settled
from tests.device.harness import Terminal, start_terminal, terminal_config

ERROR_TONE = 700  # Hz: device/mcu/buzzer.py's error pattern
WATER = demo_data.products()[0]["barcodes"][0]  # 农夫山泉 550ml, ¥2.00
FULL_LAYOUT = [
    ["7", "8", "9", "CLEAR", "VOID", "FUNC"],
    ["4", "5", "6", "QTY", "MEMBER", "RETURN"],
    ["1", "2", "3", "SUBTOTAL", "CARD", "MOBILE"],
    ["0", "00", ".", "ENTER", "CASH", "NOSALE"],
    ["UP", "DOWN", "POINTS", "COUPON", "", ""],
]


def wire_screen(term: Terminal) -> KeypadController:
    """What CashierApp does with hardware keys, without drawing: key -> controller -> runtime."""
    pad = KeypadController(term.cfg.terminal.terminal_id)

    def on_key(key: str) -> None:
        for item in pad.press(key, term.runtime.view):
            if not isinstance(item, UiAction):
                term.runtime.submit(item)

    term.runtime.on_key = on_key
    return pad


def press(term: Terminal, keys: list[str]) -> None:
    for key in keys:
        term.hw.board_sim.tap(key)


def until(term: Terminal, predicate, timeout: float = 20.0) -> View:  # type: ignore[no-untyped-def]
    return term.wait(predicate, timeout)


def test_board_keys_sell_and_the_sale_kicks_the_board_relay(tmp_path: Path) -> None:
    cfg = terminal_config(tmp_path)
    cfg = msgspec.structs.replace(
        cfg, ioboard=IoBoardSection(enabled=True, port="simulated", layout=FULL_LAYOUT)
    )
    term = start_terminal(tmp_path, cfg=cfg)
    try:
        sim = term.hw.board_sim
        pad = wire_screen(term)
        assert term.hw.board is not None and term.hw.board.link.connected.is_set()
        press(term, [*"2001", "ENTER", *"1234", "ENTER"])
        view = until(term, lambda v: v.state.staff is not None)
        assert view.state.staff.staff_id == "2001"
        if view.state.shift is None:
            term.send(ev.OpenShift(50_000, ev.ManagerCreds("1001", "8888")))
            assert term.runtime.wait_drawer()
        # The board confirms a kick as the relay closes; the pulse ends (and the drawer
        # opens) later. Count from after it, or the float's pulse passes for the sale's.
        board = term.hw.board
        drawer_settled(sim, board)
        pulses = len(sim.pulses)
        if sim.drawer_open:  # the float's kick opened it: the cashier shuts it
            sim.close_drawer()
            # The board refuses to pulse a drawer it still reads open.
            assert board.monitor.wait_for(False, 10)
        # A code no product has: refused on the screen and on the board's buzzer.
        assert ERROR_TONE not in sim.tones
        press(term, [*"6900000000007", "ENTER"])
        until(term, lambda v: v.notice is not None and v.notice.key == "product.unknown")
        # The error pattern is two low tones (device/mcu/buzzer.py).
        assert sim.wait(lambda: sim.tones.count(ERROR_TONE) == 2, 20), sim.tones
        # The barcode typed on the board's keypad, then subtotal and exact cash.
        press(term, [*WATER, "ENTER"])
        view = until(term, lambda v: v.priced is not None and v.priced.total_fen == 200)
        press(term, ["SUBTOTAL"])
        until(term, lambda v: v.state.phase is Phase.TENDERING)
        press(term, ["CASH"])
        view = until(term, lambda v: v.state.phase is Phase.FEEDBACK)
        assert term.runtime.wait_drawer()
        assert sim.wait(lambda: len(sim.pulses) == pulses + 1, 10)
        # The configured 200 ms, timed by the board: never short; a starved machine may stretch
        # it, so the upper bound only catches a relay left on.
        assert 150 <= sim.pulses[-1] <= 2_000
        assert sim.wait(lambda: sim.drawer_open)
        assert pad.error == ""
        # The board has read every request sent so far (a second kick, an error beep: a beep's
        # first tone sounds in the pass that reads it) and has no kick waiting.
        drawer_settled(sim, board)
        assert len(sim.pulses) == pulses + 1  # one kick, one pulse
        assert sim.tones.count(ERROR_TONE) == 2  # the good sale sounded no error
    finally:
        term.stop()
