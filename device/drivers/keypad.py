"""The cashier's keypad: a USB POS keypad read through evdev, or a GPIO key matrix; emits KeyEvent.

USB POS keypads are programmable: each key is set (with the vendor's tool) to send one Linux key
code. This is the programming the terminal expects; plain numeric-keypad keys work unprogrammed.

=============  ===================================  ===========
Key label      Linux key code(s) sent               KeyEvent.key
=============  ===================================  ===========
0 .. 9         KEY_KP0..KEY_KP9 or KEY_0..KEY_9      "0".."9"
00             KEY_F13                              "00"
.              KEY_KPDOT or KEY_DOT                 "."
Enter          KEY_KPENTER or KEY_ENTER             "ENTER"
Clear          KEY_ESC or KEY_BACKSPACE             "CLEAR"
Void           KEY_F1 or KEY_DELETE                 "VOID"
Qty (x)        KEY_F2 or KEY_KPASTERISK             "QTY"
Subtotal       KEY_F3 or KEY_KPPLUS                 "SUBTOTAL"
Cash           KEY_F4                               "CASH"
Card           KEY_F5                               "CARD"
Mobile pay     KEY_F6                               "MOBILE"
Points         KEY_F7                               "POINTS"
Coupon         KEY_F8                               "COUPON"
Member         KEY_F9                               "MEMBER"
Return         KEY_F10                              "RETURN"
No Sale        KEY_F11                              "NOSALE"
Function       KEY_F12 or KEY_KPSLASH               "FUNC"
Up / Down      KEY_UP / KEY_DOWN (KEY_KPMINUS=Down)  "UP" / "DOWN"
=============  ===================================  ===========

A key produces one KeyEvent on key-down; auto-repeat is ignored so a held key never enters a
quantity twice. Any other code is dropped with a status note. The GPIO matrix (rows driven
low one at a time through gpiozero outputs, columns read through inputs with pull-ups) is
debounced by requiring a key to read the same for `debounce_scans` consecutive scans.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from device.drivers.errors import ConfigError, DeviceStatus, KeypadError
from device.drivers.evdev_input import EvdevSource, InputEvent, UsbId
from device.drivers.events import Emit, KeyEvent
from device.drivers.link import Backoff, ReaderThread, Reporter, Source

DIGITS = tuple("0123456789")
DOUBLE_ZERO, DOT, ENTER, CLEAR, VOID, QTY, SUBTOTAL = (
    "00",
    ".",
    "ENTER",
    "CLEAR",
    "VOID",
    "QTY",
    "SUBTOTAL",
)
CASH, CARD, MOBILE, POINTS, COUPON = "CASH", "CARD", "MOBILE", "POINTS", "COUPON"
MEMBER, RETURN, NOSALE, FUNC, UP, DOWN = "MEMBER", "RETURN", "NOSALE", "FUNC", "UP", "DOWN"
TENDERS = (CASH, CARD, MOBILE, POINTS, COUPON)
ALL_KEYS = frozenset({
    *DIGITS, DOUBLE_ZERO, DOT, ENTER, CLEAR, VOID, QTY, SUBTOTAL, *TENDERS,
    MEMBER, RETURN, NOSALE, FUNC, UP, DOWN,
})  # fmt: skip

EV_KEY, KEY_DOWN = 1, 1
# Codes from linux/input-event-codes.h (the table above, as numbers).
EVDEV_KEYMAP: Mapping[int, str] = MappingProxyType({
    82: "0", 79: "1", 80: "2", 81: "3", 75: "4", 76: "5", 77: "6", 71: "7", 72: "8", 73: "9",
    11: "0", 2: "1", 3: "2", 4: "3", 5: "4", 6: "5", 7: "6", 8: "7", 9: "8", 10: "9",
    183: DOUBLE_ZERO, 83: DOT, 52: DOT, 96: ENTER, 28: ENTER, 1: CLEAR, 14: CLEAR,
    59: VOID, 111: VOID, 60: QTY, 55: QTY, 61: SUBTOTAL, 78: SUBTOTAL,
    62: CASH, 63: CARD, 64: MOBILE, 65: POINTS, 66: COUPON, 67: MEMBER, 68: RETURN,
    87: NOSALE, 88: FUNC, 98: FUNC, 103: UP, 108: DOWN, 74: DOWN,
})  # fmt: skip

DEFAULT_MATRIX = (
    ("7", "8", "9", CLEAR),
    ("4", "5", "6", QTY),
    ("1", "2", "3", SUBTOTAL),
    ("0", DOUBLE_ZERO, DOT, ENTER),
)


def keys_from_events(
    events: Iterable[InputEvent], keymap: Mapping[int, str] = EVDEV_KEYMAP
) -> tuple[list[str], list[str]]:
    """Key-down events -> logical key names, plus notes on codes that are not mapped."""
    keys: list[str] = []
    problems: list[str] = []
    for ev in events:
        try:
            etype, code, value = int(ev[0]), int(ev[1]), int(ev[2])
        except (TypeError, ValueError, IndexError, OverflowError):
            problems.append(f"keypad: ignored malformed input event {ev!r}")
            continue
        if etype != EV_KEY or value != KEY_DOWN:
            continue
        key = keymap.get(code)
        if key is None:
            problems.append(f"keypad: key code {code} is not in the keypad map (ignored)")
        else:
            keys.append(key)
    return keys, problems


@dataclass(frozen=True)
class KeypadConfig:
    """A USB keypad by VID:PID, or a GPIO matrix by row and column pins."""

    kind: str = "evdev"  # "evdev" or "matrix"
    usb_id: str = ""
    row_pins: tuple[int | str, ...] = ()
    col_pins: tuple[int | str, ...] = ()
    matrix: tuple[tuple[str, ...], ...] = DEFAULT_MATRIX
    scan_interval_s: float = 0.005
    debounce_scans: int = 4

    def __post_init__(self) -> None:
        if self.kind == "evdev":
            UsbId.parse(self.usb_id)
        elif self.kind == "matrix":
            if len(self.matrix) != len(self.row_pins) or any(
                len(row) != len(self.col_pins) for row in self.matrix
            ):
                raise ConfigError(
                    f"keypad matrix is {len(self.matrix)} rows; wiring has"
                    f" {len(self.row_pins)} row and {len(self.col_pins)} column pins"
                )
            unknown = {k for row in self.matrix for k in row} - ALL_KEYS
            if unknown:
                raise ConfigError(f"keypad matrix names unknown keys: {sorted(unknown)}")
        else:
            raise ConfigError(f"keypad kind must be 'evdev' or 'matrix', not {self.kind!r}")
        if not 1 <= self.debounce_scans <= 50:
            raise ConfigError(f"keypad debounce_scans {self.debounce_scans} is outside 1..50")


class EvdevKeypad:
    """A USB POS keypad, grabbed so its keys go only to the till."""

    label = "keypad"

    def __init__(
        self,
        config: KeypadConfig,
        emit: Emit,
        source: Source[list[InputEvent]] | None = None,
        backoff: Backoff | None = None,
        keymap: Mapping[int, str] = EVDEV_KEYMAP,
    ) -> None:
        self._emit = emit
        self._keymap = keymap
        self.reporter = Reporter("keypad", emit)
        self._pressed = threading.Event()
        src = source or EvdevSource(UsbId.parse(config.usb_id), self.label)
        self.reader = ReaderThread(self.label, src, self._on_events, self.reporter, backoff)

    @property
    def status(self) -> DeviceStatus:
        """The latest device status."""
        return self.reporter.status

    def start(self) -> None:
        """Find and grab the keypad (retrying in the background), start emitting keys."""
        self.reader.start()

    def stop(self) -> None:
        """Release the keypad."""
        self.reader.stop()

    def _on_events(self, events: list[InputEvent]) -> None:
        keys, problems = keys_from_events(events, self._keymap)
        for problem in problems:
            self.reporter.report("connected", problem)
        for key in keys:
            self._pressed.set()
            self._emit(KeyEvent(key))

    def self_test(self, timeout: float) -> DeviceStatus:
        """Wait up to `timeout` s for the technician to press any key."""
        return _key_self_test(self._pressed, timeout, self.reporter.status)


def _key_self_test(pressed: threading.Event, timeout: float, status: DeviceStatus) -> DeviceStatus:
    pressed.clear()
    if pressed.wait(timeout):
        return DeviceStatus("keypad", "connected", "keypad self-test passed: key pressed")
    reason = status.message if not status.ok else "no key pressed"
    return DeviceStatus("keypad", "error", f"keypad self-test failed: {reason}")


class Debouncer:
    """A key counts as pressed (or released) once it has read so for `scans` scans in a row."""

    def __init__(self, scans: int) -> None:
        self.scans = scans
        self.pressed: frozenset[str] = frozenset()
        self._candidate: dict[str, int] = {}

    def update(self, raw: frozenset[str]) -> list[str]:
        """Feed one scan's raw pressed set; return keys that just became pressed."""
        newly: list[str] = []
        changed = raw ^ self.pressed
        self._candidate = {k: self._candidate.get(k, 0) + 1 for k in changed}
        for key, count in self._candidate.items():
            if count >= self.scans:
                if key in raw:
                    newly.append(key)
                self.pressed = self.pressed ^ {key}
        self._candidate = {k: c for k, c in self._candidate.items() if c < self.scans}
        return sorted(newly)


class MatrixKeypad:
    """A key matrix on GPIO: each row driven low in turn, pulled-up columns read low if pressed."""

    def __init__(self, config: KeypadConfig, emit: Emit, pin_factory: Any = None) -> None:
        from gpiozero import DigitalInputDevice, DigitalOutputDevice  # type: ignore[import-untyped]

        self._emit = emit
        self._matrix = config.matrix
        self._interval = config.scan_interval_s
        self.reporter = Reporter("keypad", emit)
        self.debouncer = Debouncer(config.debounce_scans)
        self._pressed = threading.Event()
        try:
            # active_high=False: "on" pulls the row to ground; idle rows float high.
            self._rows = [
                DigitalOutputDevice(
                    p, active_high=False, initial_value=False, pin_factory=pin_factory
                )
                for p in config.row_pins
            ]
            self._cols = [
                DigitalInputDevice(p, pull_up=True, pin_factory=pin_factory)
                for p in config.col_pins
            ]
        except Exception as exc:
            raise KeypadError(f"keypad matrix GPIO pins unusable: {exc}") from exc
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def scan_once(self) -> frozenset[str]:
        """Drive each row in turn and read the columns: the raw (bouncy) pressed set."""
        pressed = set()
        for r, row in enumerate(self._rows):
            row.on()
            try:
                for c, col in enumerate(self._cols):
                    if col.is_active:
                        pressed.add(self._matrix[r][c])
            finally:
                row.off()
        return frozenset(pressed)

    def step(self) -> None:
        """One scan + debounce + emit; errors become a status, never an exception."""
        try:
            newly = self.debouncer.update(self.scan_once())
        except Exception as exc:
            self.reporter.report("error", f"keypad matrix could not be scanned: {exc}")
            return
        self.reporter.report("connected", "keypad matrix scanning")
        for key in newly:
            self._pressed.set()
            self._emit(KeyEvent(key))

    def self_test(self, timeout: float) -> DeviceStatus:
        """Wait up to `timeout` s for the technician to press any key."""
        return _key_self_test(self._pressed, timeout, self.reporter.status)

    def start(self) -> None:
        """Scan on a daemon thread every scan_interval_s."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="keypad-matrix", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop scanning and release the pins."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        for dev in (*self._rows, *self._cols):
            dev.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._stop.wait(self._interval)


def make_keypad(
    config: KeypadConfig, emit: Emit, pin_factory: Any = None
) -> EvdevKeypad | MatrixKeypad:
    """The keypad the configuration describes: by USB VID:PID (evdev) or by GPIO pins."""
    if config.kind == "matrix":
        return MatrixKeypad(config, emit, pin_factory)
    return EvdevKeypad(config, emit)
