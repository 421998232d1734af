"""What comes out of the simulated printer: printed lines and pieces of paper."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Run:
    """Characters printed with one style: (char, cells) pairs, cells 1 (ANK) or 2 (Chinese)."""

    chars: list[tuple[str, int]]
    bold: bool = False
    wmul: int = 1
    hmul: int = 1

    @property
    def cells(self) -> int:
        """Columns of the standard font this run covers."""
        return sum(c for _, c in self.chars) * self.wmul


@dataclass
class PrintedLine:
    """One printed row: text runs, or a QR code or barcode."""

    kind: str = "text"
    runs: list[Run] = field(default_factory=list)
    align: int = 0
    data: str = ""
    module: int = 3
    ec: str = "L"

    @property
    def cells(self) -> int:
        """Columns this line covers."""
        return sum(run.cells for run in self.runs)

    @property
    def plain(self) -> str:
        """The characters of the line, without spacing for size."""
        return "".join(ch for run in self.runs for ch, _ in run.chars)


@dataclass
class PrintedReceipt:
    """One piece of paper that left the printer."""

    lines: list[PrintedLine]
    width: int
    complete: bool
    reason: str = ""

    @property
    def qr_codes(self) -> list[str]:
        """Data of every QR code printed on this piece."""
        return [line.data for line in self.lines if line.kind == "qr"]

    @property
    def barcodes(self) -> list[str]:
        """Data of every barcode printed on this piece."""
        return [line.data for line in self.lines if line.kind == "barcode"]

    def text(self) -> str:
        """A width-aware text picture of the paper (see printer_render)."""
        from device.drivers.sim.printer_render import render_text

        return render_text(self)

    def save(self, directory: str, stem: str) -> tuple[str, str]:
        """Write <stem>.txt and <stem>.png into directory; return their paths."""
        from device.drivers.sim.printer_render import save_receipt

        return save_receipt(self, directory, stem)
