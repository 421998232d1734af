"""Customer pole display (2 x 20 VFD/LCD on serial) in the CD5220 or Epson DM-D command set.

Command bytes (CD5220 user's manual, §6.1 "CD5220 standard mode command list", e.g. the copy
at manualsdump.com/en/manuals/170863; Epson DM-D customer display commands as implemented by
node-escpos packages/screen/src/commands.ts):
- initialise        ESC @          1B 40         (both)
- clear, cursor home CLR           0C            (both)
- overwrite mode    ESC DC1        1B 11         (CD5220)   US MD1   1F 01   (DM-D)
- cursor to x, y    ESC l x y      1B 6C x y     (CD5220)   US $ x y 1F 24 x y (DM-D)
  with 1 <= x <= 20 (column) and y = 1, 2 (row).

Each screen is written as two whole, space-padded lines in overwrite mode, so nothing of the
previous screen survives and no scrolling happens. Text goes out in the display's code page
(cp437 by default; gb18030 on displays with a Chinese font, where a CJK character is two bytes
wide and takes two columns). A name the code page cannot show is replaced by its fallback
(the catalogue's English name) or, failing that, reduced to what it can show: NFKC turns
full-width Latin and digits into ASCII, NFKD strips accents, and anything else becomes '?'.
"""

from __future__ import annotations

import codecs
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from device.drivers.errors import ConfigError, DeviceStatus, DriverError
from device.drivers.events import Emit
from device.drivers.link import Backoff, Reporter, open_failure
from device.drivers.transport import SerialTransport, Transport

ESC, US = 0x1B, 0x1F
INIT = bytes([ESC, 0x40])
CLEAR = bytes([0x0C])
COMMAND_SETS: Mapping[str, Mapping[str, bytes]] = MappingProxyType(
    {
        "cd5220": MappingProxyType({"overwrite": bytes([ESC, 0x11]), "move": bytes([ESC, 0x6C])}),
        "dmd": MappingProxyType({"overwrite": bytes([US, 0x01]), "move": bytes([US, 0x24])}),
    }
)


@dataclass(frozen=True)
class DisplayConfig:
    """Port, command set, code page and size of the pole display."""

    port: str = "/dev/ttyUSB2"
    baudrate: int = 9600
    command_set: str = "cd5220"
    encoding: str = "cp437"
    columns: int = 20
    rows: int = 2
    greeting: str = "WELCOME"

    def __post_init__(self) -> None:
        if self.command_set not in COMMAND_SETS:
            raise ConfigError(
                f"display command_set must be one of {sorted(COMMAND_SETS)}, not"
                f" {self.command_set!r}"
            )
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ConfigError(f"display encoding {self.encoding!r} is unknown") from None
        if not (8 <= self.columns <= 40 and 1 <= self.rows <= 4):
            raise ConfigError(f"display size {self.columns}x{self.rows} is not supported")


def _is_gb(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("gb18030", "gbk", "gb2312")


def _encode(text: str, encoding: str) -> bytes:
    """Encode, refusing GB18030's four-byte codes: display fonts hold only the two-byte set
    (GB2312/GBK), and the display counts every lead byte as the start of a two-byte code."""
    data = text.encode(encoding)
    if _is_gb(encoding) and any(len(ch.encode(encoding)) > 2 for ch in text):
        raise UnicodeEncodeError(encoding, text, 0, len(text), "four-byte GB18030 code")
    return data


def _normalise(text: str, encoding: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    # NFKC turns the full-width yen sign into U+00A5, which GB fonts lack; they have U+FFE5.
    return text.replace("\u00a5", "\uffe5") if _is_gb(encoding) else text


def showable(text: str, encoding: str) -> bool:
    """True when every character of text, as the display shows it (¥ as ￥ on GB code pages),
    exists in the code page."""
    try:
        _encode(_normalise(text, encoding), encoding)
    except UnicodeEncodeError:
        return False
    return True


def to_code_page(text: str, encoding: str, fallback: str | None = None) -> bytes:
    """Encode for the display: the text, else its fallback, else a best ASCII-ish reduction."""
    text = _normalise(text, encoding)
    if not showable(text, encoding) and fallback is not None:
        text = _normalise(fallback, encoding)
    out = bytearray()
    for ch in text:
        if not ch.isprintable():
            continue
        try:
            out += _encode(ch, encoding)
            continue
        except UnicodeEncodeError:
            pass
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        try:
            out += _encode(base, encoding) if base else b"?"
        except UnicodeEncodeError:
            out += b"?"
    return bytes(out)


def fit(data: bytes, width: int, align: str = "left", encoding: str = "cp437") -> bytes:
    """Pad or cut encoded text to exactly `width` columns (never splitting a multibyte char)."""
    if len(data) > width:
        text = data.decode(encoding, errors="ignore")
        while len(text.encode(encoding)) > width:
            text = text[:-1]
        data = text.encode(encoding)
    pad = b" " * (width - len(data))
    return pad + data if align == "right" else data + pad


class PoleDisplay:
    """The customer display: each method replaces the whole screen; failures never raise."""

    def __init__(
        self,
        config: DisplayConfig,
        emit: Emit,
        transport: Transport | None = None,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        name: str = "display",
    ) -> None:
        self.config = config
        self.name = name
        self.transport = transport or SerialTransport(config.port, config.baudrate)
        self.reporter = Reporter(name, emit)
        self._cmds = COMMAND_SETS[config.command_set]
        self._backoff = backoff or Backoff(initial=0.5, cap=10.0)
        self._clock = clock
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self._lines: tuple[bytes, ...] = tuple(b" " * config.columns for _ in range(config.rows))

    @property
    def status(self) -> DeviceStatus:
        """The latest device status."""
        return self.reporter.status

    def _enc(self, text: str, fallback: str | None = None) -> bytes:
        return to_code_page(text, self.config.encoding, fallback)

    def _line(self, data: bytes, align: str = "left") -> bytes:
        return fit(data, self.config.columns, align, self.config.encoding)

    def _two(self, left: bytes, right: bytes) -> bytes:
        """Left text and right-aligned text on one line; the left side gives way."""
        room = max(0, self.config.columns - len(right) - 1)
        return self._line(fit(left, room, "left", self.config.encoding) + b" " + right, "right")

    def show_line(self, name: str, amount_text: str, fallback_name: str | None = None) -> None:
        """The item just scanned on top, its amount right-aligned below."""
        self._show(
            self._line(self._enc(name, fallback_name)), self._line(self._enc(amount_text), "right")
        )

    def show_total(self, total_text: str, label: str = "TOTAL") -> None:
        """The amount due."""
        self._show(self._line(self._enc(label)), self._line(self._enc(total_text), "right"))

    def show_change(self, paid_text: str, change_text: str) -> None:
        """What the customer paid and the change due."""
        self._show(
            self._two(self._enc("PAID"), self._enc(paid_text)),
            self._two(self._enc("CHANGE"), self._enc(change_text)),
        )

    def greet(self, name: str = "", fallback_name: str | None = None) -> None:
        """The greeting, with the member's name when known."""
        second = self._line(self._enc(name, fallback_name)) if name else self._line(b"")
        self._show(self._line(self._enc(self.config.greeting)), second)

    def clear(self) -> None:
        """Blank the screen."""
        self._show(*(self._line(b"") for _ in range(self.config.rows)))

    def self_test(self) -> DeviceStatus:
        """Show a test pattern every column of which the technician can check by eye."""
        self.show_line("0123456789ABCDEFGHIJ", "TEST 12345.67")
        if self.status.ok:
            return DeviceStatus(self.name, "connected", "display self-test pattern shown")
        return DeviceStatus(self.name, "error", f"display self-test failed: {self.status.message}")

    def refresh(self) -> None:
        """Redraw the current screen (after a replug, the display powers up blank)."""
        self._show(*self._lines)

    def _show(self, *lines: bytes) -> None:
        blank = b" " * self.config.columns
        lines = (*lines, *(blank,) * self.config.rows)[: self.config.rows]
        out = bytearray()
        for row, data in enumerate(lines, start=1):
            out += self._cmds["move"] + bytes([1, row]) + data
        with self._lock:  # the runtime and a self-test may both draw
            self._lines = lines
            self._write(bytes(out))

    def _write(self, data: bytes) -> None:
        if not self.transport.is_open and not self._reopen():
            return
        try:
            self.transport.write(data)
        except DriverError as exc:
            self.transport.close()
            self.reporter.report("error", f"display on {self.transport.where}: {exc}")
            # The display may be back already (a glitch, not an unplug): one immediate retry.
            if self._reopen():
                try:
                    self.transport.write(data)
                except DriverError:
                    self.transport.close()

    def _reopen(self) -> bool:
        now = self._clock()
        if now < self._retry_at:
            return False
        try:
            self.transport.open()
            self.transport.write(INIT + CLEAR + self._cmds["overwrite"])
        except Exception as exc:
            self.transport.close()
            self._retry_at = now + self._backoff.next()
            self.reporter.report("error", open_failure("display", self.transport.where, exc))
            return False
        self._backoff.reset()
        self._retry_at = 0.0
        self.reporter.report("connected", f"display ready on {self.transport.where}")
        return True
