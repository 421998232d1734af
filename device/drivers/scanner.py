"""Barcode scanner drivers, serial (pyserial) and USB HID keyboard wedge (evdev): ScanEvents.

The scanner is set to append CR (or Tab) to each code. What arrives is cut at that suffix:
a code split across reads is joined, CR LF counts once, bytes that are not printable ASCII
are dropped with a status message, and text that runs past `max_len` without a suffix is
thrown away as junk, up to the next suffix. The AIM symbology identifier (']E0', ']C1',
']Q1' ...) is passed on untouched; the checkout core strips it. GS (0x1D) is kept because
GS1-128 and GS1 QR use it to separate fields. A member QR code is just another ScanEvent:
the checkout core recognises it (barcodes.member_code_from_scan), so the scanner knows
nothing about members.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from device.drivers.errors import ConfigError, DeviceStatus
from device.drivers.evdev_input import EvdevSource, InputEvent, UsbId
from device.drivers.events import Emit, ScanEvent
from device.drivers.keymap import WedgeState, decode_keys, layout
from device.drivers.link import (
    Backoff,
    ReaderDevice,
    ReaderThread,
    SerialSource,
    Source,
)
from device.drivers.transport import SerialTransport

GS = 0x1D
TERMINATOR_BYTES = frozenset(b"\r\n\t")
DEFAULT_MAX_LEN = 512


def check_input_device(label: str, kind: str, usb_id: str, layout_name: str) -> None:
    """Validate a serial-or-wedge input device's settings, naming the device in the error."""
    if kind not in ("serial", "wedge"):
        raise ConfigError(f"{label} kind must be 'serial' or 'wedge', not {kind!r}")
    if kind == "wedge":
        UsbId.parse(usb_id)
        try:
            layout(layout_name)
        except KeyError as exc:
            raise ConfigError(f"{label}: {exc.args[0]}") from None


@dataclass(frozen=True)
class ScannerConfig:
    """Where the scanner is: a serial port, or a USB VID:PID for a keyboard-wedge scanner."""

    kind: str = "serial"  # "serial" or "wedge"
    port: str = "/dev/ttyACM0"
    baudrate: int = 9600
    usb_id: str = ""
    layout: str = "us"
    max_len: int = DEFAULT_MAX_LEN

    def __post_init__(self) -> None:
        check_input_device("scanner", self.kind, self.usb_id, self.layout)
        if not 8 <= self.max_len <= 65536:
            raise ConfigError(f"scanner max_len {self.max_len} is outside 8..65536")


class ScanAssembler:
    """Turns serial bytes into complete scans; keeps the unfinished tail between reads."""

    def __init__(self, max_len: int = DEFAULT_MAX_LEN) -> None:
        self.max_len = max_len
        self._buf = bytearray()
        # After an overflow everything up to the next suffix belongs to the junk: a code glued
        # to its tail would be wrong, so it is thrown away too (the cashier just rescans).
        self._skipping = False

    def feed(self, data: bytes) -> tuple[list[str], list[str]]:
        """Return (complete scans, problems) for this chunk; never raises on any input."""
        scans: list[str] = []
        problems: list[str] = []
        dropped = 0
        for b in data:
            if b in TERMINATOR_BYTES:
                if self._buf and not self._skipping:
                    scans.append(self._buf.decode("ascii"))
                self._buf.clear()
                self._skipping = False
            elif 0x20 <= b <= 0x7E or b == GS:
                if self._skipping:
                    continue
                self._buf.append(b)
                if len(self._buf) > self.max_len:
                    problems.append(
                        f"scanner: discarded more than {self.max_len} bytes received without a"
                        " CR/Tab suffix (check the scanner's suffix setting)"
                    )
                    self._buf.clear()
                    self._skipping = True
            else:
                dropped += 1
        if dropped:
            problems.append(f"scanner: dropped {dropped} unprintable byte(s) from the serial line")
        return scans, problems


def scans_from_keys(
    events: list[InputEvent],
    layout_name: str,
    state: WedgeState | None = None,
    max_len: int = DEFAULT_MAX_LEN,
) -> tuple[list[str], WedgeState, list[str]]:
    """Key events from a wedge scanner -> (complete scans without suffix, state, problems)."""
    result = decode_keys(events, layout(layout_name), state, max_len)
    scans = [line[:-1] for line in result.lines if len(line) > 1]
    return scans, result.state, [f"scanner: {p}" for p in result.problems]


class _ScannerBase(ReaderDevice):
    """A scanner's life cycle plus a scan counter for the self-test."""

    label = "scanner"

    def __init__(self, emit: Emit, name: str) -> None:
        super().__init__(emit, name)
        self._scanned = threading.Event()

    def _deliver(self, scans: list[str], problems: list[str]) -> None:
        for problem in problems:
            # Garbage is worth telling the technician, but the scanner still works.
            self.reporter.report("connected", problem)
        for text in scans:
            self._scanned.set()
            self._emit(ScanEvent(text=text, source=self.name))

    def self_test(self, timeout: float) -> DeviceStatus:
        """Wait up to `timeout` s for one scan (the technician scans any code)."""
        self._scanned.clear()
        if self._scanned.wait(timeout):
            return DeviceStatus(self.name, "connected", "scanner self-test passed: scan received")
        current = self.status
        reason = current.message if not current.ok else "no scan received"
        return DeviceStatus(self.name, "error", f"scanner self-test failed: {reason}")


class SerialScanner(_ScannerBase):
    """A scanner in serial (or USB CDC-ACM virtual COM) mode."""

    def __init__(
        self,
        config: ScannerConfig,
        emit: Emit,
        name: str = "scanner",
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(emit, name)
        self._max_len = config.max_len
        self._assembler = ScanAssembler(config.max_len)
        source = SerialSource(SerialTransport(config.port, config.baudrate))
        self.reader = ReaderThread(
            self.label, source, self._on_bytes, self.reporter, backoff, on_connect=self._reset
        )

    def _reset(self) -> None:
        # Half a code from before an unplug must not be glued to the next scan.
        self._assembler = ScanAssembler(self._max_len)

    def _on_bytes(self, data: object) -> None:
        assert isinstance(data, bytes)
        self._deliver(*self._assembler.feed(data))


class WedgeScanner(_ScannerBase):
    """A USB HID keyboard-wedge scanner read (and grabbed) through evdev."""

    def __init__(
        self,
        config: ScannerConfig,
        emit: Emit,
        name: str = "scanner",
        source: Source[list[InputEvent]] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(emit, name)
        self._layout = config.layout
        self._max_len = config.max_len
        self._state = WedgeState()
        src = source or EvdevSource(UsbId.parse(config.usb_id), self.label)
        self.reader = ReaderThread(
            self.label, src, self._on_events, self.reporter, backoff, on_connect=self._reset
        )

    def _reset(self) -> None:
        self._state = WedgeState()

    def _on_events(self, events: object) -> None:
        assert isinstance(events, list)
        scans, self._state, problems = scans_from_keys(
            events, self._layout, self._state, self._max_len
        )
        self._deliver(scans, problems)


def make_scanner(config: ScannerConfig, emit: Emit) -> SerialScanner | WedgeScanner:
    """The scanner driver the configuration asks for (not started)."""
    if config.kind == "wedge":
        return WedgeScanner(config, emit)
    return SerialScanner(config, emit)
