"""Shared helpers for the input-driver tests: collecting emitted events from a queue."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

from device.drivers.errors import DeviceStatus
from device.drivers.link import Backoff


def fast_backoff() -> Backoff:
    """Reconnect quickly in tests; the production default starts at 0.1 s."""
    return Backoff(initial=0.02, cap=0.2)


class Collector:
    """An emit target that keeps everything, with waits for a given kind of value."""

    def __init__(self) -> None:
        self.q: queue.Queue[object] = queue.Queue()
        self.seen: list[object] = []

    def __call__(self, item: object) -> None:
        self.q.put(item)

    def wait_for(self, pred: Callable[[object], bool], timeout: float = 30.0) -> object:
        """Return the first item (old or new) matching pred; fail the test after timeout."""
        for item in self.seen:
            if pred(item):
                self.seen.remove(item)
                return item
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.q.get(timeout=0.05)
            except queue.Empty:
                continue
            if pred(item):
                return item
            self.seen.append(item)
        raise AssertionError(f"nothing matching within {timeout}s; seen: {self.seen!r}")

    def of(self, kind: type) -> object:
        """Wait for the next item of a type."""
        return self.wait_for(lambda x: isinstance(x, kind))

    def status(self, state: str, contains: str = "") -> DeviceStatus:
        """Wait for a DeviceStatus in this state whose message contains the text."""
        item = self.wait_for(
            lambda x: isinstance(x, DeviceStatus) and x.state == state and contains in x.message
        )
        assert isinstance(item, DeviceStatus)
        return item

    def drain(self, settle: float = 0.2) -> list[object]:
        """Everything that arrives until nothing has come for `settle` seconds."""
        out, self.seen = list(self.seen), []
        while True:
            try:
                out.append(self.q.get(timeout=settle))
            except queue.Empty:
                return out
