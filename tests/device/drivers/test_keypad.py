"""POS keypad: evdev recordings through the documented key map, and a debounced GPIO matrix."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from device.drivers.errors import ConfigError
from device.drivers.events import KeyEvent
from device.drivers.keypad import (
    ALL_KEYS,
    Debouncer,
    EvdevKeypad,
    KeypadConfig,
    MatrixKeypad,
    keys_from_events,
)
from device.drivers.sim.evdev_sim import RecordedDevice, load_recording
from device.drivers.sim.keypad_sim import KeyMatrixSim
from tests.device.drivers.input_helpers import Collector, fast_backoff

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "evdev" / "pos_keypad_sale.json"
ROWS, COLS = (5, 6, 13, 19), (12, 16, 20, 21)


def test_recorded_keypad_session_gives_the_documented_keys() -> None:
    """The fixture presses every programmed key once (by Linux key name), KEY_KP2 with
    auto-repeat; expected names come from the table in the keypad module docstring."""
    data = json.loads(FIXTURE.read_text())
    keys, problems = keys_from_events([tuple(e) for e in data["events"]])
    assert keys == data["expected_keys"]
    assert problems == []
    assert set(keys) == ALL_KEYS - set("0456789")


def test_unmapped_key_is_reported_not_raised() -> None:
    keys, problems = keys_from_events([(1, 30, 1), (1, 79, 1)])  # KEY_A, KEY_KP1
    assert keys == ["1"]
    assert problems == ["keypad: key code 30 is not in the keypad map (ignored)"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(-3, 800), st.integers(-3, 800), st.integers(-3, 3))))
def test_garbage_events_give_only_known_keys(events: list[tuple[int, int, int]]) -> None:
    keys, _ = keys_from_events(events)
    assert set(keys) <= ALL_KEYS


def test_evdev_keypad_emits_keys_and_reconnects() -> None:
    dev = RecordedDevice("keypad")
    out = Collector()
    pad = EvdevKeypad(KeypadConfig(usb_id="1a86:e026"), out, source=dev, backoff=fast_backoff())
    pad.start()
    try:
        out.status("connected")
        dev.push(load_recording(FIXTURE)[:12])
        assert [out.of(KeyEvent).key for _ in range(2)] == ["1", "2"]
        dev.unplug()
        out.status("error")
        dev.replug()
        out.status("connected")
        dev.push([(1, 62, 1), (1, 62, 0)])  # KEY_F4
        assert out.of(KeyEvent) == KeyEvent("CASH")
    finally:
        pad.stop()


def test_debouncer_needs_n_stable_scans() -> None:
    d = Debouncer(3)
    k = frozenset({"5"})
    none: frozenset[str] = frozenset()
    assert [d.update(s) for s in (k, none, k, k)] == [[], [], [], []]  # a bounce restarts the count
    assert d.update(k) == ["5"]
    assert d.update(k) == []  # held: reported once
    assert [d.update(none) for _ in range(3)] == [[], [], []]
    assert d.pressed == frozenset()


@pytest.fixture
def matrix() -> Iterator[tuple[KeyMatrixSim, MatrixKeypad, Collector]]:
    factory = MockFactory()
    sim = KeyMatrixSim(factory, ROWS, COLS)
    out = Collector()
    cfg = KeypadConfig(kind="matrix", row_pins=ROWS, col_pins=COLS, debounce_scans=3)
    pad = MatrixKeypad(cfg, out, pin_factory=factory)
    yield sim, pad, out
    pad.stop()
    factory.reset()


def test_matrix_scan_finds_keys_by_row_and_column(matrix) -> None:
    sim, pad, _ = matrix
    assert pad.scan_once() == frozenset()
    sim.press(1, 3)  # default layout: row 2, column 4 is Qty
    sim.press(3, 1)  # row 4, column 2 is 00
    assert pad.scan_once() == frozenset({"QTY", "00"})


def test_matrix_press_is_debounced_and_reported_once(matrix) -> None:
    sim, pad, out = matrix
    sim.press(3, 3)  # Enter
    sim.bounce(3, 2)  # the first two reads of that column are wrong
    for _ in range(8):
        pad.step()
    sim.release(3, 3)
    for _ in range(8):
        pad.step()
    keys = [e for e in out.drain(0.05) if isinstance(e, KeyEvent)]
    assert keys == [KeyEvent("ENTER")]


def test_matrix_thread_emits_presses_and_self_test_sees_them(matrix) -> None:
    sim, pad, out = matrix
    pad.start()
    sim.press(0, 0)
    assert out.of(KeyEvent) == KeyEvent("7")
    sim.release(0, 0)
    threading.Timer(0.05, sim.press, args=(2, 2)).start()
    assert pad.self_test(3).message == "keypad self-test passed: key pressed"
    assert pad.self_test(0.05).message == "keypad self-test failed: no key pressed"


def test_matrix_config_must_match_wiring() -> None:
    with pytest.raises(ConfigError, match="4 rows; wiring has 3 row"):
        KeypadConfig(kind="matrix", row_pins=(1, 2, 3), col_pins=(4, 5, 6, 7))
    with pytest.raises(ConfigError, match="unknown keys"):
        KeypadConfig(kind="matrix", row_pins=(1,), col_pins=(2,), matrix=(("BOGUS",),))


def test_configuration_picks_usb_keypad_or_gpio_matrix() -> None:
    """kind="evdev" with a USB VID:PID gives the evdev keypad; kind="matrix" with row and
    column pins gives the scanned matrix on those pins."""
    from device.drivers.keypad import make_keypad

    usb = make_keypad(KeypadConfig(usb_id="05e0:1200"), Collector())
    assert isinstance(usb, EvdevKeypad) and usb.reader.source.where == "USB 05e0:1200"
    factory = MockFactory()
    try:
        matrix = make_keypad(
            KeypadConfig(kind="matrix", row_pins=ROWS, col_pins=COLS), Collector(), factory
        )
        assert isinstance(matrix, MatrixKeypad)
        assert matrix.scan_once() == frozenset()
        matrix.stop()
    finally:
        factory.reset()
    with pytest.raises(ConfigError, match="not in the form vvvv:pppp"):
        KeypadConfig(usb_id="keypad")


def test_evdev_keypad_self_test_waits_for_a_key() -> None:
    dev = RecordedDevice("keypad")
    out = Collector()
    pad = EvdevKeypad(KeypadConfig(usb_id="1a86:e026"), out, source=dev, backoff=fast_backoff())
    pad.start()
    try:
        out.status("connected")
        assert pad.self_test(0.05).message == "keypad self-test failed: no key pressed"
        threading.Timer(0.05, dev.push, args=([(1, 96, 1), (1, 96, 0)],)).start()  # KP Enter
        assert pad.self_test(3).message == "keypad self-test passed: key pressed"
        dev.unplug()
        out.status("error", "not found")  # the reconnect attempt has failed
        assert pad.self_test(0.05).message == "keypad self-test failed: sim:keypad not found"
    finally:
        pad.stop()
