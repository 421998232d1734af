"""The simulated receipt printer on a pty (serial), on a TCP port (9100-style) or fed a file."""

from __future__ import annotations

import contextlib
import socket
import threading

from device.drivers.sim.printer_model import PrinterModel
from device.drivers.sim.printer_paper import PrintedReceipt
from device.drivers.sim.pty import SerialSimulator


class _Controls:
    """The operator's hands on the model, shared by the pty and TCP front ends."""

    model: PrinterModel

    @property
    def receipts(self) -> list[PrintedReceipt]:
        """Every piece of paper that came out, complete or not."""
        with self.model.lock:
            return list(self.model.receipts)

    @property
    def complete_receipts(self) -> list[PrintedReceipt]:
        """Receipts printed whole, from start to cut."""
        return self.model.complete_receipts

    @property
    def incomplete_receipts(self) -> list[PrintedReceipt]:
        """Torn or partial pieces."""
        return self.model.incomplete_receipts

    @property
    def kicks(self) -> list[tuple[int, int, int]]:
        """Drawer pulses as (pin, on ms, off ms)."""
        with self.model.lock:
            return list(self.model.kicks)

    def run_out_of_paper(self, after_lines: int = 0) -> None:
        """The roll ends now, or after this many more printed lines."""
        self.model.run_out_of_paper(after_lines)

    def set_near_end(self, near: bool = True) -> None:
        """Trigger or clear the near-end sensor."""
        self.model.set_near_end(near)

    def refill(self) -> None:
        """Load a new roll."""
        self.model.refill()

    def open_cover(self) -> None:
        """Open the roll cover."""
        self.model.open_cover()

    def close_cover(self) -> None:
        """Close the roll cover."""
        self.model.close_cover()

    def close_drawer(self) -> None:
        """Push the cash drawer shut."""
        self.model.close_drawer()

    def save(self, directory: str) -> list[tuple[str, str]]:
        """Write every piece as .txt and .png; return the (txt, png) paths in print order."""
        return [
            receipt.save(directory, f"receipt-{i:03d}{'' if receipt.complete else '-torn'}")
            for i, receipt in enumerate(self.receipts, start=1)
        ]


class PrinterSimulator(SerialSimulator, _Controls):
    """A receipt printer on the master end of a pty; the driver opens `path` as a serial port."""

    def __init__(
        self,
        width: int = 48,
        link_path: str | None = None,
        drawer_open_high: bool = True,
        record_wire: bool = False,
        code_set: str = "gbk",
    ) -> None:
        SerialSimulator.__init__(self, link_path)
        self.model = PrinterModel(
            width, emit=self._answer, drawer_open_high=drawer_open_high, code_set=code_set
        )
        # Every byte the host sent, for byte-exact tests; off by default so a long demo
        # does not grow without bound.
        self.record_wire = record_wire
        self.wire = bytearray()

    def _answer(self, data: bytes) -> None:
        # Answers are lost when the cable is out, exactly as on real hardware.
        with contextlib.suppress(OSError, Exception):
            self.send(data)

    def on_bytes(self, data: bytes) -> None:
        if self.record_wire:
            self.wire += data
        self.model.feed(data)

    def unplug(self) -> None:
        """Pull the cable (and the power): the driver sees I/O errors, a mid-print job is torn."""
        super().unplug()
        self.model.power_cycle()

    def __enter__(self) -> PrinterSimulator:
        self.start()
        return self


class TcpPrinterSimulator(_Controls):
    """The same printer behind a raw TCP port (like a network printer's port 9100)."""

    def __init__(self, width: int = 48, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.1)
        self.host, self.port = self._server.getsockname()[:2]
        self._conn: socket.socket | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="tcp-printer", daemon=True)
        self.model = PrinterModel(width, emit=self._answer)

    def start(self) -> TcpPrinterSimulator:
        """Start accepting connections."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every socket."""
        self._stop.set()
        self._thread.join(timeout=2)
        with contextlib.suppress(OSError):
            self._server.close()

    def __enter__(self) -> TcpPrinterSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, data: bytes) -> None:
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.sendall(data)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(0.1)
            self._conn = conn
            with conn:
                while not self._stop.is_set():
                    try:
                        data = conn.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if not data:
                        break
                    self.model.feed(data)
            self._conn = None


def decode_file(path: str, width: int = 48, code_set: str = "gbk") -> list[PrintedReceipt]:
    """What a printer would print from a captured ESC/POS byte stream (e.g. a FileTransport)."""
    model = PrinterModel(width, code_set=code_set)
    with open(path, "rb") as fh:
        while chunk := fh.read(65536):
            model.feed(chunk)
    return list(model.receipts)


def decode_bytes(data: bytes, width: int = 48, code_set: str = "gbk") -> list[PrintedReceipt]:
    """What a printer would print from these bytes (on a printer with this code set)."""
    model = PrinterModel(width, code_set=code_set)
    model.feed(data)
    return list(model.receipts)


def main(argv: list[str] | None = None) -> int:
    """Run a simulated printer on a pty until interrupted, saving each cut piece of paper."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--width", type=int, choices=(32, 48), default=48)
    parser.add_argument("--link", help="stable path for the pty (default: a temporary one)")
    parser.add_argument("--out", default="sim-receipts", help="directory for .txt and .png")
    args = parser.parse_args(argv)
    with PrinterSimulator(args.width, link_path=args.link) as sim:
        print(f"simulated printer on {sim.path} ({args.width} columns); Ctrl-C to stop")
        saved = 0
        try:
            while True:
                time.sleep(0.2)
                for receipt in sim.receipts[saved:]:
                    saved += 1
                    stem = f"receipt-{saved:03d}{'' if receipt.complete else '-torn'}"
                    txt, png = receipt.save(args.out, stem)
                    print(f"printed {txt} {png}", flush=True)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
