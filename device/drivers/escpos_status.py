"""Parsing of ESC/POS real-time status bytes (answers to DLE EOT 1..4) into a printer state.

Bit meanings follow the Epson ESC/POS Command Reference, "DLE EOT n: transmit real-time
status". Every answer byte has bit 0 = 0, bit 1 = 1, bit 4 = 1 and bit 7 = 0; a byte without
that fixed pattern is not a status answer (noise, or a reply to something else).
"""

from __future__ import annotations

from dataclasses import dataclass

from device.drivers.errors import ProtocolViolation

FIXED_MASK = 0x93  # bits 7, 4, 1, 0
FIXED_VALUE = 0x12  # bit 4 and bit 1 on, bits 7 and 0 off

# n=1 printer status
DRAWER_PIN3_HIGH = 0x04
OFFLINE = 0x08
WAITING_ONLINE_RECOVERY = 0x20
FEED_BUTTON_PRESSED = 0x40
# n=2 offline cause
COVER_OPEN = 0x04
FEEDING_BY_BUTTON = 0x08
PAPER_END_STOP = 0x20
ERROR_OCCURRED = 0x40
# n=3 error cause
AUTOCUTTER_ERROR = 0x08
UNRECOVERABLE_ERROR = 0x20
AUTO_RECOVERABLE_ERROR = 0x40
# n=4 roll paper sensor
PAPER_NEAR_END = 0x0C
PAPER_NOT_PRESENT = 0x60


def check_status_byte(value: int, n: int) -> int:
    """Return value if it has the fixed bits of a DLE EOT answer, else raise ProtocolViolation."""
    if not 0 <= value <= 255 or value & FIXED_MASK != FIXED_VALUE:
        raise ProtocolViolation(
            f"printer answered DLE EOT {n} with 0x{value & 0xFF:02X}, which is not a status byte"
        )
    return value


@dataclass(frozen=True, slots=True)
class PrinterState:
    """The printer's condition, combined from the DLE EOT 1, 2, 3 and 4 answers."""

    online: bool = True
    drawer_pin3_high: bool = False
    cover_open: bool = False
    paper_end_stop: bool = False
    error: bool = False
    paper_near_end: bool = False
    paper_out: bool = False
    autocutter_error: bool = False
    unrecoverable_error: bool = False
    auto_recoverable_error: bool = False

    @property
    def ready(self) -> bool:
        """True when a job can be sent and will print."""
        return (
            self.online
            and not self.cover_open
            and not self.paper_out
            and not self.paper_end_stop
            and not self.error
            and not self.autocutter_error
            and not self.unrecoverable_error
            and not self.auto_recoverable_error
        )

    def problem(self) -> str:
        """A technician-readable description of what stops printing ("" when ready)."""
        if self.cover_open:
            return "printer cover open"
        if self.paper_out or self.paper_end_stop:
            return "printer out of paper"
        if self.unrecoverable_error:
            return "printer has an unrecoverable error (service needed)"
        if self.autocutter_error:
            return "printer cutter jammed"
        if self.auto_recoverable_error:
            return "printer paused (print head too hot)"
        if self.error:
            return "printer reports an error"
        if not self.online:
            return "printer offline"
        return ""

    def warning(self) -> str:
        """A non-blocking condition worth showing ("" when none)."""
        return "printer paper near end" if self.paper_near_end else ""


def parse_status(printer: int, offline: int, error: int, paper: int) -> PrinterState:
    """Combine the four answers; raise ProtocolViolation when any is not a status byte."""
    check_status_byte(printer, 1)
    check_status_byte(offline, 2)
    check_status_byte(error, 3)
    check_status_byte(paper, 4)
    return PrinterState(
        online=not printer & OFFLINE,
        drawer_pin3_high=bool(printer & DRAWER_PIN3_HIGH),
        cover_open=bool(offline & COVER_OPEN),
        paper_end_stop=bool(offline & PAPER_END_STOP),
        error=bool(offline & ERROR_OCCURRED),
        autocutter_error=bool(error & AUTOCUTTER_ERROR),
        unrecoverable_error=bool(error & UNRECOVERABLE_ERROR),
        auto_recoverable_error=bool(error & AUTO_RECOVERABLE_ERROR),
        # Either sensor bit is enough: models with one sensor set only one of the pair.
        paper_near_end=bool(paper & PAPER_NEAR_END),
        paper_out=bool(paper & PAPER_NOT_PRESENT),
    )
