"""The one exception base for peripheral drivers, its cases, and the device status value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DeviceState = Literal["connected", "error", "disconnected"]


class DriverError(Exception):
    """Base for every error a driver raises; the message is readable by a technician."""


class DeviceUnavailable(DriverError):
    """The device is unplugged, its port cannot be opened, or it stopped answering."""


class ProtocolViolation(DriverError):
    """The device sent bytes that do not follow its protocol."""


class DeviceTimeout(DriverError):
    """The device did not answer within the allowed time."""


class ConfigError(DriverError):
    """A driver was configured with a missing or out-of-range setting."""


class UnknownLayout(ConfigError, KeyError):
    """A keyboard layout, or a character on one, that the wedge decoder does not know.

    Also a KeyError, because it is what a failed layout lookup has always raised.
    """

    def __str__(self) -> str:
        # KeyError would quote the message; a technician should read it plainly.
        return str(self.args[0]) if self.args else ""


class PrinterError(DriverError):
    """The printer cannot print right now (paper out, cover open, offline)."""


class PaperOut(PrinterError):
    """The printer reports its paper roll is empty."""


class CoverOpen(PrinterError):
    """The printer reports its cover is open."""


class SpoolError(DriverError):
    """The print-job spool on disk could not be read or written."""


class ScannerError(DriverError):
    """The barcode scanner sent something that is not a usable code."""


class CardReaderError(DriverError):
    """The card reader sent a garbled or unreadable swipe."""


class DrawerError(DriverError):
    """The cash drawer could not be kicked or its sensor read."""


class KeypadError(DriverError):
    """The keypad sent an unknown or malformed key event."""


class DisplayError(DriverError):
    """The customer display could not show the requested text."""


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """What a driver reports about its device: a state and a technician-readable message."""

    name: str
    state: DeviceState
    message: str

    def __post_init__(self) -> None:
        if self.state not in ("connected", "error", "disconnected"):
            raise DriverError(
                f"device status state must be connected/error/disconnected, not {self.state!r}"
            )

    @property
    def ok(self) -> bool:
        """True when the device is connected and reports no error."""
        return self.state == "connected"
