"""Member-card magstripe readers (serial, or USB keyboard wedge) emitting CardEvent/CardReadFailed.

Each swipe arrives as one line of track text ending in CR, or as one line per track from a
reader that ends each track with CR (joined back into one swipe: magstripe.SwipeJoiner); see
device.drivers.magstripe for the ISO/IEC 7813 parsing and the ISO/IEC 7811-2 LRC. A good
swipe becomes CardEvent(kind="magstripe"); a garbled one becomes CardReadFailed with the reason
the cashier sees ("card read failed: track 2 end sentinel missing — swipe again"). Serial
readers that send the raw LRC after each end sentinel are configured with with_lrc=True and
the LRC is verified.
NFC cards come from a PN532 (framing in device.drivers.pn532) through NfcCardReader.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from device.drivers.errors import CardReaderError, ConfigError, DeviceStatus
from device.drivers.evdev_input import EvdevSource, InputEvent, UsbId
from device.drivers.events import CardEvent, CardReadFailed, Emit
from device.drivers.keymap import WedgeState, decode_keys, layout
from device.drivers.link import (
    Backoff,
    ReaderDevice,
    ReaderThread,
    Reporter,
    SerialSource,
    Source,
)
from device.drivers.magstripe import SwipeJoiner, parse_swipe
from device.drivers.pn532 import Pn532Source
from device.drivers.scanner import ScanAssembler, check_input_device
from device.drivers.transport import SerialTransport

MAX_SWIPE = 256  # track 1 + track 2 + LRCs is at most 79 + 40; anything longer is junk


@dataclass(frozen=True)
class CardReaderConfig:
    """Where the stripe reader is and whether it sends the LRC characters."""

    kind: str = "serial"  # "serial" or "wedge"
    port: str = "/dev/ttyUSB1"
    baudrate: int = 9600
    usb_id: str = ""
    layout: str = "us"
    with_lrc: bool = False

    def __post_init__(self) -> None:
        check_input_device("card reader", self.kind, self.usb_id, self.layout)


class _StripeBase(ReaderDevice):
    """Turns swipe lines into events; counts swipes for the self-test."""

    label = "card reader"

    def __init__(self, emit: Emit, name: str, with_lrc: bool) -> None:
        super().__init__(emit, name)
        self.with_lrc = with_lrc
        self._swiped = threading.Event()
        self._joiner = SwipeJoiner()

    def handle_line(self, line: str) -> None:
        """One line from the reader: a whole swipe, or one track of it (joined first)."""
        for swipe in self._joiner.feed(line):
            self.handle_swipe(swipe)

    def idle(self) -> None:
        """The line went quiet: a track 1 waiting for its track 2 is a swipe of its own."""
        for swipe in self._joiner.flush():
            self.handle_swipe(swipe)

    def handle_swipe(self, line: str) -> None:
        """One swipe's text -> CardEvent or CardReadFailed (never raises)."""
        self._swiped.set()
        try:
            swipe = parse_swipe(line, self.with_lrc)
        except CardReaderError as exc:
            self._emit(CardReadFailed(reason=str(exc), source=self.name))
            return
        self._emit(
            CardEvent(
                kind="magstripe",
                card_id=swipe.card_id,
                source=self.name,
                track1=swipe.track1,
                track2=swipe.track2,
                name=swipe.name,
                expiry=swipe.expiry,
            )
        )

    def self_test(self, timeout: float) -> DeviceStatus:
        """Wait up to `timeout` s for a swipe (a failed read also proves the reader works)."""
        self._swiped.clear()
        if self._swiped.wait(timeout):
            return DeviceStatus(self.name, "connected", "card reader self-test passed: swipe read")
        reason = self.status.message if not self.status.ok else "no swipe received"
        return DeviceStatus(self.name, "error", f"card reader self-test failed: {reason}")


class SerialCardReader(_StripeBase):
    """A magstripe reader on a serial port (or USB virtual COM)."""

    def __init__(
        self,
        config: CardReaderConfig,
        emit: Emit,
        name: str = "card reader",
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(emit, name, config.with_lrc)
        self._lines = ScanAssembler(MAX_SWIPE)
        source = SerialSource(SerialTransport(config.port, config.baudrate))
        self.reader = ReaderThread(
            self.label, source, self._on_bytes, self.reporter, backoff,
            on_connect=self._reset, on_idle=self.idle,
        )  # fmt: skip

    def _reset(self) -> None:
        self._lines = ScanAssembler(MAX_SWIPE)
        self._joiner = SwipeJoiner()

    def _on_bytes(self, data: object) -> None:
        assert isinstance(data, bytes)
        lines, problems = self._lines.feed(data)
        for problem in problems:
            self.reporter.report("connected", problem.replace("scanner", self.label, 1))
        for line in lines:
            self.handle_line(line)


class WedgeCardReader(_StripeBase):
    """A magstripe reader that types its tracks as a USB keyboard (read through evdev)."""

    def __init__(
        self,
        config: CardReaderConfig,
        emit: Emit,
        name: str = "card reader",
        source: Source[list[InputEvent]] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(emit, name, config.with_lrc)
        self._layout = layout(config.layout)
        self._state = WedgeState()
        src = source or EvdevSource(UsbId.parse(config.usb_id), self.label)
        self.reader = ReaderThread(
            self.label, src, self._on_events, self.reporter, backoff,
            on_connect=self._reset, on_idle=self.idle,
        )  # fmt: skip

    def _reset(self) -> None:
        self._state = WedgeState()
        self._joiner = SwipeJoiner()

    def _on_events(self, events: object) -> None:
        assert isinstance(events, list)
        result = decode_keys(events, self._layout, self._state, max_len=MAX_SWIPE)
        self._state = result.state
        for problem in result.problems:
            self.reporter.report("connected", f"{self.label}: {problem}")
        for line in result.lines:
            if line[:-1].strip():
                self.handle_line(line[:-1])


@dataclass(frozen=True)
class NfcConfig:
    """The PN532's UART and how often to look for a card."""

    port: str = "/dev/ttyS0"
    baudrate: int = 115200
    poll_s: float = 0.2

    def __post_init__(self) -> None:
        if not 0.01 <= self.poll_s <= 5:
            raise ConfigError(f"NFC poll interval {self.poll_s} s is outside 0.01..5")


class NfcCardReader:
    """Polls a PN532 for ISO 14443 type A cards; emits CardEvent(kind="nfc") once per tap.

    A card held on the reader is reported once; it is reported again only after it has been
    taken away, so a member card left lying on the pad does not identify the member twice.
    """

    label = "card reader"

    def __init__(
        self,
        config: NfcConfig,
        emit: Emit,
        name: str = "nfc reader",
        backoff: Backoff | None = None,
    ) -> None:
        self._emit = emit
        self.name = name
        self.reporter = Reporter(name, emit)
        self._last: bytes = b""
        self._tapped = threading.Event()
        self.source = Pn532Source(SerialTransport(config.port, config.baudrate))
        self.reader: ReaderThread[bytes] = ReaderThread(
            self.label, self.source, self._on_poll, self.reporter, backoff, poll_s=config.poll_s
        )

    @property
    def status(self) -> DeviceStatus:
        """The latest device status."""
        return self.reporter.status

    def start(self) -> None:
        """Wake the PN532 (retrying in the background) and start polling."""
        self.reader.start()

    def stop(self) -> None:
        """Stop polling and close the port."""
        self.reader.stop()

    def _on_poll(self, uid: bytes) -> None:
        if uid and uid != self._last:
            self._tapped.set()
            self._emit(CardEvent(kind="nfc", card_id=uid.hex().upper(), source=self.name))
        self._last = uid

    def self_test(self, timeout: float) -> DeviceStatus:
        """Wait up to `timeout` s for a card tap."""
        self._tapped.clear()
        if self._tapped.wait(timeout):
            return DeviceStatus(self.name, "connected", "NFC self-test passed: card read")
        reason = self.status.message if not self.status.ok else "no card presented"
        return DeviceStatus(self.name, "error", f"NFC self-test failed: {reason}")


def make_card_reader(config: CardReaderConfig, emit: Emit) -> SerialCardReader | WedgeCardReader:
    """The magstripe reader driver the configuration asks for (not started)."""
    if config.kind == "wedge":
        return WedgeCardReader(config, emit)
    return SerialCardReader(config, emit)
