"""A simulated ESC/POS receipt printer: paper, cover, drawer, buffer and what comes out of it.

The model answers real-time commands (DLE EOT, DLE DC4) from its own literal status bits,
independent of the driver's parser, and tracks every piece of paper it cuts: a receipt is
complete only when it was printed from start to cut without the paper running out, the power
going or the buffer being cleared in between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from device.drivers.sim.printer_decoder import Op, parse_one
from device.drivers.sim.printer_paper import PrintedLine, PrintedReceipt, Run

REALTIME_MAX = 10  # DLE DC4 8 is the longest real-time command
CLEAR_KEY = bytes((1, 3, 20, 1, 6, 2, 8))


@dataclass
class _Style:
    align: int = 0
    bold: bool = False
    wmul: int = 1  # alphanumeric (single-byte) characters: ESC ! and GS !
    hmul: int = 1
    kwmul: int = 1  # Kanji (multi-byte) characters: GS ! and FS ! only, never ESC !
    khmul: int = 1


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _bytes(value: object) -> bytes:
    return bytes(value) if isinstance(value, (bytes, bytearray)) else b""


class PrinterModel:
    """Byte-level printer state machine; `feed` takes bytes, answers go to `emit`."""

    def __init__(
        self,
        width: int = 48,
        emit: Callable[[bytes], None] | None = None,
        chinese_default: bool = False,
        drawer_open_high: bool = True,
        code_set: str = "gbk",
    ) -> None:
        self.width = width
        self.code_set = code_set  # the Chinese font ROM: gb2312, gbk or gb18030
        self.emit: Callable[[bytes], None] = emit or (lambda _data: None)
        self.chinese_default = chinese_default
        self.drawer_open_high = drawer_open_high
        self.lock = threading.RLock()
        self.receipts: list[PrintedReceipt] = []
        self.kicks: list[tuple[int, int, int]] = []
        self.drawer_is_open = False
        self.paper_out = False
        self.paper_near_end = False
        self.cover_open = False
        self.paper_lines_left: int | None = None
        self.unknown_commands = 0
        self.auto_wraps = 0
        self.status_requests = 0
        self.realtime_inside_command = 0
        self._pending = bytearray()
        self._held = bytearray()
        self._reset_page()

    def _reset_page(self) -> None:
        self._style = _Style()
        self._chinese = self.chinese_default
        self._lines: list[PrintedLine] = []
        self._line = PrintedLine()
        self._qr_data = b""
        self._qr_module = 3
        self._qr_ec = "L"
        self._continuation = False

    # ----- what the tests and the operator do -----

    @property
    def complete_receipts(self) -> list[PrintedReceipt]:
        """Pieces printed whole, from start to cut."""
        with self.lock:
            return [r for r in self.receipts if r.complete]

    @property
    def incomplete_receipts(self) -> list[PrintedReceipt]:
        """Torn or partial pieces (paper out, power loss, buffer cleared)."""
        with self.lock:
            return [r for r in self.receipts if not r.complete]

    @property
    def halted(self) -> bool:
        """True while printing is stopped (paper out or cover open)."""
        return self.paper_out or self.cover_open

    def run_out_of_paper(self, after_lines: int = 0) -> None:
        """The roll ends now, or after `after_lines` more printed lines."""
        with self.lock:
            if after_lines <= 0:
                self._paper_ends()
            else:
                self.paper_lines_left = after_lines

    def set_near_end(self, near: bool = True) -> None:
        """Trigger or clear the paper near-end sensor."""
        with self.lock:
            self.paper_near_end = near

    def refill(self) -> None:
        """Load a new roll; buffered data then prints on the new paper."""
        with self.lock:
            self.paper_out = False
            self.paper_near_end = False
            self.paper_lines_left = None
            self._resume()

    def open_cover(self) -> None:
        """Open the roll cover: printing stops."""
        with self.lock:
            self.cover_open = True

    def close_cover(self) -> None:
        """Close the roll cover: printing resumes."""
        with self.lock:
            self.cover_open = False
            self._resume()

    def close_drawer(self) -> None:
        """The cashier pushes the drawer shut."""
        with self.lock:
            self.drawer_is_open = False

    def power_cycle(self) -> None:
        """Power lost: whatever was mid-print is torn, buffers are lost."""
        with self.lock:
            self._tear("power lost")
            self._pending.clear()
            self._held.clear()
            self._reset_page()

    # ----- bytes in -----

    def feed(self, data: bytes) -> None:
        """Bytes received from the host."""
        with self.lock:
            if self._pending and data[:2] in (b"\x10\x04", b"\x10\x14"):
                # A real printer would act on this mid-command and garble the command's data.
                self.realtime_inside_command += 1
            if self.halted:
                self._held += data
                self._scan_held()
                return
            self._pending += data
            self._pump()

    def status_byte(self, n: int) -> int:
        """The DLE EOT n answer for the current state (Epson ESC/POS, DLE EOT)."""
        value = 0x12  # bits 1 and 4 are fixed on
        if n == 1:
            pin3_high = self.drawer_is_open == self.drawer_open_high
            value |= 0x04 if pin3_high else 0
            value |= 0x08 if self.halted else 0
        elif n == 2:
            value |= 0x04 if self.cover_open else 0
            value |= 0x20 if self.paper_out else 0
        elif n == 4:
            value |= 0x0C if (self.paper_near_end or self.paper_out) else 0
            value |= 0x60 if self.paper_out else 0
        return value

    def _resume(self) -> None:
        if self.halted or not self._held:
            return
        self._pending += self._held
        self._held.clear()
        self._pump()

    def _pump(self) -> None:
        buf = bytes(self._pending)
        pos = 0
        while not self.halted:
            got = parse_one(buf, pos, self._chinese, self.code_set)
            if got is None:
                break
            op, pos = got
            self._apply(op)
        rest = buf[pos:]
        self._pending.clear()
        if self.halted:
            self._held += rest
            self._scan_held()
        else:
            self._pending += rest

    def _scan_held(self) -> None:
        """Real-time commands are executed on receipt even while printing is stopped."""
        held = self._held
        i = 0
        while i < len(held):
            if held[i] != 0x10 or i + 2 >= len(held):
                i += 1
                continue
            second, n = held[i + 1], held[i + 2]
            if second == 0x04 and 1 <= n <= 4:
                del held[i : i + 3]
                self.status_requests += 1
                self.emit(bytes((self.status_byte(n),)))
                continue
            if second == 0x14 and n == 1 and i + 4 < len(held):
                m, t = held[i + 3], held[i + 4]
                del held[i : i + 5]
                self._kick(m, t * 100, t * 100)
                continue
            if second == 0x14 and n == 8 and bytes(held[i + 3 : i + 10]) == CLEAR_KEY:
                self._buffer_clear()
                return
            i += 1

    # ----- applying commands -----

    def _apply(self, op: Op) -> None:
        kind, args = op.kind, op.args
        style = self._style
        if kind == "text":
            self._text(cast(tuple[tuple[str, int], ...], args[0]))
        elif kind == "lf":
            self._end_line()
        elif kind == "feed":
            self._end_line()
            for _ in range(max(0, _int(args[0]) - 1)):
                if self.halted:
                    break
                self._end_line()
        elif kind == "cut":
            self._cut()
        elif kind == "init":
            self._line = PrintedLine()
            self._style = _Style()
            self._chinese = self.chinese_default
        elif kind == "align":
            style.align = {0: 0, 48: 0, 1: 1, 49: 1, 2: 2, 50: 2}.get(_int(args[0]), style.align)
        elif kind == "bold":
            style.bold = bool(_int(args[0]) & 1)
        elif kind == "mode":
            # ESC ! sizes alphanumeric characters only: "configurations of Kanji characters
            # are not affected" (Epson ESC/POS Command Reference, ESC !; use FS ! or GS !).
            n = _int(args[0])
            style.bold = bool(n & 0x08)
            style.hmul = 2 if n & 0x10 else 1
            style.wmul = 2 if n & 0x20 else 1
        elif kind == "size":
            # GS ! "is effective for all characters (alphanumeric and Kanji)".
            n = _int(args[0])
            style.wmul = style.kwmul = ((n >> 4) & 0x07) + 1
            style.hmul = style.khmul = (n & 0x07) + 1
        elif kind == "kanji_mode":
            # FS !: bit 2 double width, bit 3 double height, for Kanji characters.
            n = _int(args[0])
            style.kwmul = 2 if n & 0x04 else 1
            style.khmul = 2 if n & 0x08 else 1
        elif kind == "chinese":
            self._chinese = bool(args[0])
        elif kind == "qr_store":
            self._qr_data = _bytes(args[0])
        elif kind == "qr_size":
            self._qr_module = max(1, min(16, _int(args[0])))
        elif kind == "qr_setting":
            fn, body = args
            level = _bytes(body)[:1]
            if fn == 69 and level:
                self._qr_ec = {48: "L", 49: "M", 50: "Q", 51: "H"}.get(level[0], "L")
        elif kind == "qr_print":
            self._graphic("qr", self._qr_data.decode("latin-1"))
        elif kind == "barcode":
            m, data = args
            text = _bytes(data).decode("latin-1")
            if m == 73 and text[:2] in ("{A", "{B", "{C"):
                text = text[2:]
            self._graphic("barcode", text.replace("{{", "{"))
        elif kind == "kick":
            m, t1, t2 = (_int(a) for a in args)
            self._kick(m, t1 * 2, t2 * 2)
        elif kind == "pulse":
            m, t = (_int(a) for a in args)
            self._kick(m, t * 100, t * 100)
        elif kind == "status":
            self.status_requests += 1
            self.emit(bytes((self.status_byte(_int(args[0])),)))
        elif kind == "buffer_clear":
            self._buffer_clear()
        elif kind == "process_id":
            self.emit(bytes((0x37, 0x22)) + _bytes(args[0]) + b"\x00")
        elif kind == "unknown":
            self.unknown_commands += 1

    def _kick(self, m: int, on_ms: int, off_ms: int) -> None:
        pin = {0: 2, 48: 2, 1: 5, 49: 5}.get(m)
        if pin is None:
            self.unknown_commands += 1
            return
        self.kicks.append((pin, on_ms, off_ms))
        self.drawer_is_open = True

    def _text(self, chars: tuple[tuple[str, int], ...]) -> None:
        style = self._style
        for ch, cells in chars:
            if self.halted:
                return
            kanji = cells == 2  # a multi-byte code in Chinese mode
            wmul = style.kwmul if kanji else style.wmul
            hmul = style.khmul if kanji else style.hmul
            if self._line.cells + cells * wmul > self.width:
                # A real printer wraps a line that overflows the print area.
                self.auto_wraps += 1
                self._end_line()
            runs = self._line.runs
            last = runs[-1] if runs else None
            if last and (last.bold, last.wmul, last.hmul) == (style.bold, wmul, hmul):
                last.chars.append((ch, cells))
            else:
                runs.append(Run([(ch, cells)], style.bold, wmul, hmul))
            self._line.align = style.align

    def _end_line(self) -> None:
        line = self._line
        if not line.runs:
            line.align = self._style.align
            line.runs = [Run([], False, 1, self._style.hmul)]
        self._lines.append(line)
        self._line = PrintedLine()
        self._use_paper()

    def _graphic(self, kind: str, data: str) -> None:
        if self._line.runs:
            self._end_line()
        if self.halted:
            return
        self._lines.append(
            PrintedLine(kind, [], self._style.align, data, self._qr_module, self._qr_ec)
        )
        self._use_paper()

    def _use_paper(self) -> None:
        if self.paper_lines_left is None:
            return
        self.paper_lines_left -= 1
        if self.paper_lines_left <= 0:
            self._paper_ends()

    def _paper_ends(self) -> None:
        self.paper_out = True
        self.paper_near_end = True
        self.paper_lines_left = None
        had_content = self._has_content()
        self._tear("paper ran out")
        # Whatever was mid-receipt resumes on the new roll without its beginning.
        self._continuation = had_content

    def _has_content(self) -> bool:
        lines = [*self._lines, self._line]
        return any(line.kind != "text" or line.plain.strip() for line in lines)

    def _tear(self, reason: str) -> None:
        if self._has_content():
            if self._line.runs:
                self._lines.append(self._line)
            self.receipts.append(PrintedReceipt(self._lines, self.width, False, reason))
        self._lines = []
        self._line = PrintedLine()

    def _cut(self) -> None:
        if self._line.runs:
            self._end_line()
        if self._has_content():
            reason = "continued from an earlier roll" if self._continuation else ""
            self.receipts.append(
                PrintedReceipt(self._lines, self.width, not self._continuation, reason)
            )
        self._lines = []
        self._line = PrintedLine()
        self._continuation = False

    def _buffer_clear(self) -> None:
        self._pending.clear()
        self._held.clear()
        self._tear("buffer cleared")
        self._reset_page()
        self.emit(bytes((0x37, 0x25, 0x00)))
