"""Simulated evdev devices: recorded (type, code, value) streams played through the live readers.

Recordings are JSON files of {"device": ..., "layout": ..., "events": [[type, code, value], ...]}
under tests/fixtures/evdev/, written from the documented Linux key codes. A RecordedDevice has the
same open/read_chunk/close shape as device.drivers.evdev_input.EvdevSource and can be unplugged:
reads then fail as a real unplug does, and opening fails until it is plugged back.
"""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path

from device.drivers.errors import DeviceUnavailable

InputEvent = tuple[int, int, int]


def load_recording(path: str | Path) -> list[InputEvent]:
    """The events of a JSON recording as (type, code, value) tuples."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return [(int(t), int(c), int(v)) for t, c, v in data["events"]]


class RecordedDevice:
    """A fake input device; tests push event batches, readers pull them."""

    def __init__(self, label: str = "simulated input device") -> None:
        self.where = f"sim:{label}"
        self._queue: queue.Queue[list[InputEvent]] = queue.Queue()
        self._plugged = threading.Event()
        self._plugged.set()
        self._open = False
        self.opens = 0

    def push(self, events: list[InputEvent], batch: int = 0) -> None:
        """Queue events for the reader, split into batches of `batch` (0 = one batch)."""
        size = batch or max(1, len(events))
        for i in range(0, len(events), size):
            self._queue.put(list(events[i : i + size]))

    def unplug(self) -> None:
        """The device disappears: reads fail, opens fail."""
        self._plugged.clear()

    def replug(self) -> None:
        """The device is back (with a new /dev/input node, which the reader must find)."""
        self._plugged.set()

    def open(self) -> None:
        if not self._plugged.is_set():
            raise DeviceUnavailable(f"{self.where} not found")
        self._open = True
        self.opens += 1

    def close(self) -> None:
        self._open = False

    def read_chunk(self, timeout: float) -> list[InputEvent] | None:
        if not self._plugged.is_set() or not self._open:
            raise DeviceUnavailable(f"{self.where} was unplugged")
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
