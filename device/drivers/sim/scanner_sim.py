"""A serial barcode scanner on the far end of a pty: it "scans" by typing the code and a suffix."""

from __future__ import annotations

from device.drivers.sim.pty import SerialSimulator


class ScannerSim(SerialSimulator):
    """Writes codes the way a scanner in serial mode does: text, then CR (configurable)."""

    def __init__(self, link_path: str | None = None, suffix: bytes = b"\r") -> None:
        super().__init__(link_path)
        self.suffix = suffix

    def scan(self, code: str, aim: str = "") -> None:
        """Send one code, optionally with an AIM symbology prefix such as ']E0'."""
        self.send((aim + code).encode("ascii") + self.suffix)

    def send_raw(self, data: bytes) -> None:
        """Send arbitrary bytes (garbage, a code split by the test, line noise)."""
        self.send(data)
