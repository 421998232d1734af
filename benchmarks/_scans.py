"""Timing scans on a running terminal: a ScanEvent queued until the published view shows it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import cast

from device.checkout import events as ev
from device.checkout.records import TenderKind
from device.drivers.events import ScanEvent
from device.runtime import View
from provisioning import demo_data
from tests.device.harness import Terminal


def demo_barcodes() -> list[str]:
    """The first barcode of every demo product that has one."""
    products = demo_data.products()
    return [str(cast("list[object]", p["barcodes"])[0]) for p in products if p["barcodes"]]


class ScanTimer:
    """Watches a signed-in terminal's views; ``scan()`` times one scan, paying every tenth."""

    def __init__(self, term: Terminal) -> None:
        self.term = term
        self.codes = demo_barcodes()
        self.samples: list[float] = []
        self._latest: list[View] = [term.runtime.view]
        self._seen = threading.Condition()
        term.runtime.on_view = self._on_view

    def _on_view(self, view: View) -> None:
        with self._seen:
            self._latest[0] = view
            self._seen.notify_all()

    def scan(self) -> float:
        """One scan; returns its milliseconds (also kept in ``samples``)."""
        i = len(self.samples)
        if i and i % 10 == 0:
            view = self.term.send(ev.Subtotal())
            self.term.send(ev.AddTender(TenderKind.CASH, view.due_fen))
        want = self._latest[0].scans + 1
        start = time.perf_counter()
        self.term.runtime.submit(ScanEvent(self.codes[i % len(self.codes)], "bench"))
        with self._seen:
            self._seen.wait_for(lambda: self._latest[0].scans >= want, timeout=10)
        took = (time.perf_counter() - start) * 1000
        if self._latest[0].priced is None:
            raise RuntimeError(f"scan not shown: {self._latest[0].notice}")
        self.samples.append(took)
        return took

    def scan_until(self, done: Callable[[], bool], most: int) -> None:
        """Scan (up to ``most`` times) until ``done()``; then just wait for it."""
        while not done():
            if len(self.samples) < most:
                self.scan()
            else:
                time.sleep(0.05)
