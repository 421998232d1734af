"""Plain values the input drivers hand to the runtime: scans, cards, keys and drawer changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

CardKind = Literal["magstripe", "nfc"]

# Drivers never hold a reference to the runtime: they call this with an event value (or a
# DeviceStatus) and return. A queue.Queue's put method fits as it is.
Emit = Callable[[object], None]


@dataclass(frozen=True, slots=True)
class ScanEvent:
    """One complete barcode read, terminator removed, AIM prefix (e.g. ']E0') left in place.

    A member QR code is also just a ScanEvent: routing it to member identification is the
    checkout core's job (barcodes.member_code_from_scan), not the driver's.
    """

    text: str
    source: str


@dataclass(frozen=True, slots=True)
class CardEvent:
    """A good card read: a magstripe swipe (parsed tracks) or an NFC tag (its UID in hex)."""

    kind: CardKind
    card_id: str
    source: str
    track1: str | None = None
    track2: str | None = None
    name: str | None = None
    expiry: str | None = None


@dataclass(frozen=True, slots=True)
class CardReadFailed:
    """A swipe or tap that could not be read; `reason` is shown to the cashier as it is."""

    reason: str
    source: str


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """One logical keypad key press (see device.drivers.keypad for the names)."""

    key: str
    source: str = "keypad"


@dataclass(frozen=True, slots=True)
class DrawerEvent:
    """The drawer-open switch changed: open=True when the drawer has just opened."""

    open: bool


@dataclass(frozen=True, slots=True)
class DrawerAlarm:
    """The drawer has stood open longer than allowed; `open_s` is how long so far."""

    open_s: float
