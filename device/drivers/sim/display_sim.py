"""A 2 x 20 pole display on the far end of a pty, keeping its screen as the real one does.

It interprets the CD5220 or the Epson DM-D command set (not both, so a driver sending the wrong
dialect is caught): ESC @, CLR, HOM, CR, LF, BS, overwrite mode and the cursor-position command.
Unknown escape sequences are recorded in `unknown` and otherwise ignored, like a real display.
"""

from __future__ import annotations

from device.drivers.sim.pty import SerialSimulator

ESC, US = 0x1B, 0x1F


class DisplaySim(SerialSimulator):
    """`screen()` returns the two lines as the customer would read them."""

    def __init__(
        self,
        link_path: str | None = None,
        command_set: str = "cd5220",
        encoding: str = "cp437",
        columns: int = 20,
        rows: int = 2,
    ) -> None:
        super().__init__(link_path)
        self.command_set = command_set
        self.encoding = encoding
        self.columns, self.rows = columns, rows
        self.unknown: list[bytes] = []
        self.initialised = False
        self.overwrite = False
        self._cells = [[b" "] * columns for _ in range(rows)]
        self._x = self._y = 0
        self._buf = bytearray()

    def screen(self) -> tuple[str, ...]:
        """The visible text, one string per row."""
        with self.lock:
            return tuple(b"".join(row).decode(self.encoding) for row in self._cells)

    def replug(self) -> None:
        """Power comes back: a blank screen, waiting for ESC @ again."""
        with self.lock:
            self._clear()
            self.initialised = self.overwrite = False
            self._buf.clear()
        super().replug()

    def _clear(self) -> None:
        self._cells = [[b" "] * self.columns for _ in range(self.rows)]
        self._x = self._y = 0

    def on_bytes(self, data: bytes) -> None:
        self._buf += data
        while self._buf:
            used = self._step(self._buf)
            if used == 0:
                return  # an incomplete command: wait for the rest
            del self._buf[:used]

    def _step(self, buf: bytearray) -> int:
        b = buf[0]
        move = (ESC, 0x6C) if self.command_set == "cd5220" else (US, 0x24)
        overwrite = (ESC, 0x11) if self.command_set == "cd5220" else (US, 0x01)
        if b in (ESC, US):
            if len(buf) < 2:
                return 0
            pair = (b, buf[1])
            if pair == (ESC, 0x40):
                self._clear()
                self.initialised, self.overwrite = True, True
                return 2
            if pair == overwrite:
                self.overwrite = True
                return 2
            if pair == move:
                if len(buf) < 4:
                    return 0
                x, y = buf[2], buf[3]
                if 1 <= x <= self.columns and 1 <= y <= self.rows:
                    self._x, self._y = x - 1, y - 1
                else:
                    self.unknown.append(bytes(buf[:4]))
                return 4
            self.unknown.append(bytes(buf[:2]))
            return 2
        if b == 0x0C:
            self._clear()
        elif b == 0x0B:
            self._x = self._y = 0
        elif b == 0x0D:
            self._x = 0
        elif b == 0x0A:
            self._y = min(self.rows - 1, self._y + 1)
        elif b == 0x08:
            self._x = max(0, self._x - 1)
        elif b >= 0x20:
            return self._put(buf)
        return 1

    def _put(self, buf: bytearray) -> int:
        # A double-byte character (GB18030 lead byte 0x81-0xFE) fills two cells.
        width = 2 if self.encoding.lower().startswith("gb") and 0x81 <= buf[0] <= 0xFE else 1
        if len(buf) < width:
            return 0
        char = bytes(buf[:width])
        cells = [char] + [b""] * (width - 1)
        for cell in cells:
            self._cells[self._y][self._x] = cell
            self._x += 1
            if self._x >= self.columns:  # overwrite mode wraps to the next line, then home
                self._x = 0
                self._y = (self._y + 1) % self.rows
        return width
