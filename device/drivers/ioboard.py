"""The optional I/O board (device/mcu) as the keypad, drawer, buzzer and display of the terminal.

One serial link (USB CDC or a UART) carries everything; device.drivers.ioboard_link keeps it up.
The parts are presented exactly like the drivers they replace, so the runtime cannot tell:
- keys arrive as KeyEvent (repeats only for the keys configured to repeat, e.g. UP/DOWN);
- the drawer is a CashDrawer whose kicker asks the board for a pulse and waits for the board's
  word that it pulsed, and whose monitor emits DrawerEvent and DrawerAlarm from the board;
- the pole display is a PoleDisplay over a transport that wraps its bytes in DISPLAY frames;
- the buzzer plays the board's patterns (scan, error, alarm, key).
Stuck keys and link trouble become DeviceStatus messages; nothing here raises into the runtime
except a drawer kick that the board did not confirm (as any drawer driver does).
"""

from __future__ import annotations

import itertools
import os
import struct
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from device.drivers.display import DisplayConfig, PoleDisplay
from device.drivers.drawer import CashDrawer
from device.drivers.errors import ConfigError, DeviceStatus, DeviceUnavailable, DrawerError
from device.drivers.events import DrawerAlarm, DrawerEvent, Emit, KeyEvent
from device.drivers.ioboard_link import Handler, IoBoardLink
from device.drivers.keypad import ALL_KEYS, DEFAULT_MATRIX, DOWN, UP
from device.drivers.link import Reporter
from device.drivers.transport import SerialTransport, Transport
from device.mcu import frames as F

MAX_ROWS, MAX_COLS = 6, 8  # the board's matrix pins (device/mcu/pins.py)


@dataclass(frozen=True)
class IoBoardConfig:
    """The board's port, its keypad layout and timings, and the drawer's."""

    port: str = "/dev/ttyACM0"
    baudrate: int = 115200
    layout: tuple[tuple[str, ...], ...] = DEFAULT_MATRIX
    repeat_keys: tuple[str, ...] = (UP, DOWN)
    debounce_ms: int = 20
    repeat_delay_ms: int = 500
    repeat_ms: int = 100
    stuck_s: int = 20
    pulse_ms: int = 200
    switch_ms: int = 30
    alarm_after_s: int = 30
    kick_timeout_s: float = 3.0
    display: DisplayConfig = field(default_factory=DisplayConfig)

    def __post_init__(self) -> None:
        rows, cols = len(self.layout), len(self.layout[0]) if self.layout else 0
        if not (1 <= rows <= MAX_ROWS and 1 <= cols <= MAX_COLS):
            raise ConfigError(f"ioboard layout is {rows}x{cols}; the board scans up to 6x8")
        if any(len(row) != cols for row in self.layout):
            raise ConfigError("ioboard layout rows must all have the same number of keys")
        unknown = {k for row in self.layout for k in row if k} | set(self.repeat_keys)
        unknown -= ALL_KEYS
        if unknown:
            raise ConfigError(f"ioboard layout names unknown keys: {sorted(unknown)}")
        checks = (("debounce_ms", 5, 100), ("repeat_delay_ms", 100, 5000),
                  ("repeat_ms", 20, 2000), ("stuck_s", 1, 255), ("pulse_ms", 20, 300),
                  ("switch_ms", 5, 500), ("alarm_after_s", 1, 3600))  # fmt: skip
        for name, low, high in checks:
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigError(f"ioboard {name} {value} is outside {low}..{high}")

    def payload(self) -> bytes:
        """The CONFIG frame the board takes at every new boot."""
        return F.pack_config({
            "debounce_ms": self.debounce_ms, "repeat_delay_ms": self.repeat_delay_ms,
            "repeat_ms": self.repeat_ms, "stuck_s": self.stuck_s,
            "alarm_after_s": self.alarm_after_s, "pulse_ms": self.pulse_ms,
            "switch_ms": self.switch_ms,
            "layout": [[F.KEY_NAMES.index(k) if k else F.NO_KEY for k in row]
                       for row in self.layout],
            "repeat": [F.KEY_NAMES.index(k) for k in self.repeat_keys],
        })  # fmt: skip


class BoardDisplayTransport:
    """A Transport whose bytes go to the pole display on the board, in DISPLAY frames."""

    bidirectional = False

    def __init__(self, link: IoBoardLink) -> None:
        self._link = link
        self.where = f"I/O board on {link.where}"
        self._open = False

    def open(self) -> None:
        if not self._link.connected.is_set():
            raise DeviceUnavailable(f"I/O board on {self._link.where} is not connected")
        self._open = True

    def close(self) -> None:
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open and self._link.connected.is_set()

    def write(self, data: bytes) -> None:
        if not self.is_open:
            raise DeviceUnavailable(f"I/O board on {self._link.where} is not connected")
        for i in range(0, len(data), F.MAX_PAYLOAD):
            if not self._link.send(F.DISPLAY, data[i : i + F.MAX_PAYLOAD]):
                raise DeviceUnavailable("I/O board request queue is full")

    def read(self, n: int, timeout: float) -> bytes:
        return b""

    def discard_input(self) -> None:
        return None


class BoardDrawerMonitor:
    """The drawer switch as the board reports it; the DrawerMonitor surface CashDrawer uses."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self.reporter = Reporter("drawer", emit)
        self.is_open: bool | None = None
        self._changed = threading.Condition()

    def seen(self, is_open: bool) -> None:
        """The board saw the switch change (DRAWER frame)."""
        with self._changed:
            if is_open == self.is_open:
                return  # the board repeats the state at each session
            first = self.is_open is None
            self.is_open = is_open
            self._changed.notify_all()
        if not first or is_open:
            self._emit(DrawerEvent(open=is_open))

    def wait_for(self, want_open: bool, timeout: float) -> bool:
        """Block until the board has reported the drawer in this state, or timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self.is_open == want_open, timeout)

    def start(self) -> None:
        """Nothing to poll: the board reports changes."""

    def stop(self) -> None:
        """Nothing to stop."""


class BoardKicker:
    """Asks the board for a pulse and waits for its KICKED answer (the DrawerKicker surface)."""

    def __init__(self, link: IoBoardLink, pulse_ms: int, timeout_s: float) -> None:
        self._link = link
        self._pulse_ms = pulse_ms
        self._timeout = timeout_s
        self._ids = itertools.count(int.from_bytes(os.urandom(4), "big"))
        self._cond = threading.Condition()
        self._outcomes: dict[int, int] = {}

    def answered(self, payload: bytes) -> None:
        """The board's KICKED frame."""
        kick_id, outcome = struct.unpack(">IB", payload)
        with self._cond:
            self._outcomes[kick_id] = outcome
            self._cond.notify_all()

    def kick(self) -> None:
        """One pulse; DrawerError when the board does not confirm it in time."""
        kick_id = next(self._ids) & 0xFFFFFFFF
        payload = struct.pack(">IH", kick_id, self._pulse_ms)
        if not self._link.send(F.KICK, payload):
            raise DrawerError("I/O board request queue is full")
        with self._cond:
            answered = self._cond.wait_for(lambda: kick_id in self._outcomes, self._timeout)
            outcome = self._outcomes.pop(kick_id, None)
        if answered and outcome is not None:
            return
        # Never let a kick that timed out open the drawer later, when nobody expects it.
        self._link.withdraw(F.KICK, payload)
        state = "is not connected" if not self._link.connected.is_set() else "did not answer"
        raise DrawerError(f"I/O board on {self._link.where} {state}: drawer kick not confirmed")


class BoardBuzzer:
    """The board's buzzer: beep('scan' | 'error' | 'alarm' | 'key')."""

    def __init__(self, link: IoBoardLink) -> None:
        self._link = link

    def beep(self, pattern: str = "scan") -> bool:
        """Queue a pattern; False when the board cannot take it now."""
        code = F.BEEP_NAMES.get(pattern)
        if code is None:
            raise ConfigError(f"no buzzer pattern {pattern!r}; known: {sorted(F.BEEP_NAMES)}")
        return self._link.connected.is_set() and self._link.send(F.BEEP, bytes((code,)))


class IoBoard:
    """The board and its parts: `keypad_status`, `drawer`, `display`, `buzzer`, `link`."""

    label = "I/O board"

    def __init__(self, config: IoBoardConfig, emit: Emit, transport: Transport | None = None):
        self.config = config
        self._emit = emit
        self._repeat = frozenset(config.repeat_keys)
        self.keypad = Reporter("keypad", emit)
        self._pressed = threading.Event()
        handlers: Mapping[int, Handler] = MappingProxyType({
            F.KEY: self._on_key, F.STUCK: self._on_stuck, F.DRAWER: self._on_drawer,
            F.ALARM: self._on_alarm, F.KICKED: self._on_kicked,
        })  # fmt: skip
        self.link = IoBoardLink(
            transport or SerialTransport(config.port, config.baudrate),
            emit, handlers, self._on_session,
        )  # fmt: skip
        self.monitor = BoardDrawerMonitor(emit)
        self.kicker = BoardKicker(self.link, config.pulse_ms, config.kick_timeout_s)
        self.drawer = CashDrawer(self.kicker, self.monitor)
        self.display = PoleDisplay(config.display, emit, BoardDisplayTransport(self.link))
        self.buzzer = BoardBuzzer(self.link)
        self._configured_boot: int | None = None
        self.keys_received = 0

    @property
    def status(self) -> DeviceStatus:
        """The link's status (the parts report their own)."""
        return self.link.reporter.status

    def start(self) -> None:
        """Open the link (retrying in the background)."""
        self.link.start()

    def stop(self) -> None:
        """Close the link."""
        self.link.stop()

    def faults(self) -> dict[str, int]:
        """Link faults counted on both ends (see IoBoardLink.faults)."""
        return self.link.faults()

    # -- from the board ---------------------------------------------------------------------

    def _on_session(self, fresh: bool) -> None:
        if fresh and self._configured_boot != self.link.board_boot:
            self.link.send(F.CONFIG, self.config.payload())
            self._configured_boot = self.link.board_boot
        self.keypad.report("connected", f"keypad on the I/O board ({self.link.where})")
        self.monitor.reporter.report("connected", "drawer on the I/O board")
        if fresh:
            self.display.refresh()  # a board that restarted may have powered the display down

    def _on_key(self, payload: bytes) -> None:
        code, repeat = payload[0], payload[1]
        name = F.KEY_NAMES[code]
        if repeat and name not in self._repeat:
            return
        self.keys_received += 1
        self._pressed.set()
        self._emit(KeyEvent(name, source="ioboard"))

    def _on_stuck(self, payload: bytes) -> None:
        name = F.KEY_NAMES[payload[0]]
        if payload[1]:
            self.keypad.report("error", f"keypad key {name} is stuck down: free it or check the"
                                        " keypad cable")  # fmt: skip
        else:
            self.keypad.report("connected", f"keypad key {name} released; keypad ok")

    def _on_drawer(self, payload: bytes) -> None:
        self.monitor.seen(bool(payload[0]))

    def _on_alarm(self, payload: bytes) -> None:
        (seconds,) = struct.unpack(">H", payload)
        self._emit(DrawerAlarm(open_s=float(seconds)))

    def _on_kicked(self, payload: bytes) -> None:
        self.kicker.answered(payload)

    # -- self-test --------------------------------------------------------------------------

    def self_test(
        self, key_timeout: float = 10.0, drawer_timeout: float = 3.0
    ) -> list[DeviceStatus]:
        """Link and firmware, buzzer, display, drawer (kick and watch the switch), a key press."""
        if not self.link.connected.wait(5.0):
            reason = self.link.problem or self.link.reporter.status.message
            return [DeviceStatus("ioboard", "error", f"I/O board self-test failed: {reason}")]
        self._pressed.clear()  # any key pressed from here on passes the keypad part
        results = []
        try:
            stats = self.link.query_stats()
            text = f"I/O board answers on {self.link.where}, firmware {self.link.firmware}"
            if self.link.problem:
                text += f" ({self.link.problem})"
            state = "error" if self.link.problem else "connected"
            text += f"; {len(stats)} counters read"
            results.append(DeviceStatus("ioboard", state, text))
        except DeviceUnavailable as exc:
            results.append(DeviceStatus("ioboard", "error", f"I/O board self-test failed: {exc}"))
        beeped = self.buzzer.beep("scan")
        beep_text = "buzzer beeped" if beeped else "buzzer: board busy"
        results.append(DeviceStatus("buzzer", "connected" if beeped else "error", beep_text))
        results.append(self.display.self_test())
        results.append(self.drawer.self_test(drawer_timeout))
        if self._pressed.wait(key_timeout):
            results.append(DeviceStatus("keypad", "connected", "keypad self-test passed"))
        else:
            reason = "keypad self-test failed: no key pressed on the I/O board"
            results.append(DeviceStatus("keypad", "error", reason))
        return results
