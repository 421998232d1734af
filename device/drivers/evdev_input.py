"""Reading a USB HID input device (wedge scanner, stripe reader, POS keypad) through evdev.

The device is found by USB VID:PID on every (re)connect, because /dev/input/eventN numbers
change when it is unplugged and plugged back in, and it is grabbed so its key presses reach only
us, not the console or the cashier screen. Readers take any object with the Source shape, so
tests feed recorded event streams (device.drivers.sim.evdev_sim) through the same code.
"""

from __future__ import annotations

import contextlib
import select
from dataclasses import dataclass
from typing import Any

from device.drivers.errors import ConfigError, DeviceUnavailable

InputEvent = tuple[int, int, int]
EV_KEY = 1


@dataclass(frozen=True)
class UsbId:
    """A USB vendor:product pair, parsed from the usual 'vvvv:pppp' hex form."""

    vendor: int
    product: int

    @classmethod
    def parse(cls, text: str) -> UsbId:
        """Parse '05e0:1200'; raise ConfigError with the expected form otherwise."""
        try:
            vid, pid = text.strip().split(":")
            ident = cls(int(vid, 16), int(pid, 16))
        except ValueError:
            raise ConfigError(f"USB id {text!r} is not in the form vvvv:pppp (hex)") from None
        if not (0 <= ident.vendor <= 0xFFFF and 0 <= ident.product <= 0xFFFF):
            raise ConfigError(f"USB id {text!r} is out of range")
        return ident

    def __str__(self) -> str:
        return f"{self.vendor:04x}:{self.product:04x}"


class EvdevSource:
    """The live device: finds it by VID:PID, grabs it, yields batches of (type, code, value)."""

    def __init__(self, usb_id: UsbId, label: str, grab: bool = True) -> None:
        self.usb_id = usb_id
        self.label = label
        self.where = f"USB {usb_id}"
        self._grab = grab
        self._dev: Any = None

    def open(self) -> None:
        self.close()
        try:
            import evdev  # imported here so machines without evdev can still run simulators
        except ImportError as exc:
            raise DeviceUnavailable(f"{self.label}: python-evdev is not installed") from exc
        found: Any = None
        for path in evdev.list_devices():
            try:
                dev = evdev.InputDevice(path)
            except OSError:
                continue
            keys = dev.capabilities().get(EV_KEY, [])
            ident = (dev.info.vendor, dev.info.product)
            if ident == (self.usb_id.vendor, self.usb_id.product) and keys and found is None:
                found = dev
            else:
                dev.close()
        if found is None:
            raise DeviceUnavailable(f"{self.label} not found (USB {self.usb_id})")
        try:
            if self._grab:
                found.grab()
        except OSError as exc:
            found.close()
            raise DeviceUnavailable(
                f"{self.label} on {found.path} is in use by another program ({exc.strerror})"
            ) from exc
        self._dev = found
        self.where = f"{found.path} (USB {self.usb_id})"

    def close(self) -> None:
        dev, self._dev = self._dev, None
        if dev is not None:
            with contextlib.suppress(OSError):
                if self._grab:
                    dev.ungrab()
            with contextlib.suppress(OSError):
                dev.close()

    def read_chunk(self, timeout: float) -> list[InputEvent] | None:
        dev = self._dev
        if dev is None:
            raise DeviceUnavailable(f"{self.label} is not open")
        try:
            ready, _, _ = select.select([dev.fd], [], [], timeout)
            if not ready:
                return None
            return [(ev.type, ev.code, ev.value) for ev in dev.read()]
        except BlockingIOError:
            return None
        except OSError as exc:  # ENODEV after an unplug
            raise DeviceUnavailable(f"{self.label} was unplugged ({exc.strerror})") from exc
