"""The scanner and card reader a real till's [devices] names, and why a part was not built.

A part the till cannot drive is never a silent absence: its reason is kept, shown to the
cashier as the part's error status when the till starts, and is the part's FAIL line in the
technician's self-test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from device.config import DevicesSection
from device.drivers.card_reader import (
    CardReaderConfig,
    NfcCardReader,
    NfcConfig,
    SerialCardReader,
    WedgeCardReader,
)
from device.drivers.errors import DeviceStatus, DriverError
from device.drivers.events import Emit
from device.drivers.scanner import ScannerConfig, SerialScanner, WedgeScanner

SCANNER, CARD_READER = "scanner", "card reader"  # the parts' names on screen and in the self-test


@dataclass
class Readers:
    """The built scanner and card reader (None when not built) and why each missing one is."""

    scanner: Any = None
    card_reader: Any = None
    absent: dict[str, str] = field(default_factory=dict)

    def report_absent(self, emit: Emit) -> None:
        """Tell the runtime (and so the cashier) about each configured part that is not there."""
        for name, why in self.absent.items():
            emit(DeviceStatus(name, "error", why))


def build_readers(d: DevicesSection, emit: Emit) -> Readers:
    """The scanner and card reader the config names (not started)."""
    readers = Readers()
    try:
        readers.scanner = _scanner(d, emit)
    except DriverError as err:
        readers.absent[SCANNER] = f"scanner not started: {err}"
    try:
        readers.card_reader = _card_reader(d, emit)
    except DriverError as err:
        readers.absent[CARD_READER] = f"card reader not started: {err}"
    # "simulated" means the byte-level simulators, which only a simulated till runs.
    if readers.scanner is None and SCANNER not in readers.absent:
        readers.absent[SCANNER] = (
            'no scanner: devices.scanner = "simulated" drives nothing on a till with real'
            ' hardware (set "serial" or "evdev")'
        )
    if readers.card_reader is None and CARD_READER not in readers.absent:
        readers.absent[CARD_READER] = (
            'no card reader: devices.card_reader = "simulated" drives nothing on a till with'
            ' real hardware (set "serial", "evdev" or "pn532")'
        )
    return readers


def _scanner(d: DevicesSection, emit: Emit) -> SerialScanner | WedgeScanner | None:
    if d.scanner == "serial":
        return SerialScanner(ScannerConfig(port=d.scanner_path), emit, SCANNER)
    if d.scanner == "evdev":
        wedge = ScannerConfig(kind="wedge", usb_id=d.scanner_usb_id, layout=d.scanner_layout)
        return WedgeScanner(wedge, emit, SCANNER)
    return None


def _card_reader(
    d: DevicesSection, emit: Emit
) -> SerialCardReader | WedgeCardReader | NfcCardReader | None:
    if d.card_reader == "serial":
        return SerialCardReader(CardReaderConfig(port=d.card_reader_path), emit, CARD_READER)
    if d.card_reader == "evdev":
        wedge = CardReaderConfig(
            kind="wedge", usb_id=d.card_reader_usb_id, layout=d.card_reader_layout
        )
        return WedgeCardReader(wedge, emit, CARD_READER)
    if d.card_reader == "pn532":
        # The PN532 on its UART (HSU) link at the chip's default 115200 baud.
        return NfcCardReader(NfcConfig(port=d.card_reader_path), emit, CARD_READER)
    return None
