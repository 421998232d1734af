"""Receipt layout: a plain Receipt value to ESC/POS bytes for 32- or 48-column printers.

Styling, QR, barcode and cut bytes come from python-escpos's Dummy printer. Text does not go
through its magic encoder: that encoder switches code pages with ESC t, and writes GB18030 only
when a line holds an ideograph, without ever selecting Chinese mode, so full-width punctuation
alone ("：", "￥") is mangled and a printer whose Chinese mode is off prints mojibake. We select
Chinese mode once with FS & and write the bytes of the printer's own code set (GB2312, GBK or
GB18030) ourselves; what that set lacks prints as a visible stand-in, never as bytes the
printer would turn into garbage.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from escpos.printer import Dummy  # type: ignore[import-untyped]

from device.drivers import escpos_commands as cmd
from device.drivers.errors import ConfigError

Language = Literal["zh", "en"]
CodeSet = Literal["gb2312", "gbk", "gb18030"]
CODE_SETS: tuple[CodeSet, ...] = ("gb2312", "gbk", "gb18030")
# Characters with a visible double-byte twin in every GB code set: the yen sign is only in
# GB18030, as the four bytes 81 30 84 36 that GB2312 and GBK printers cannot print.
_STAND_INS: Mapping[str, str] = MappingProxyType({"\u00a5": "\uffe5"})
# What prints in place of a character the printer's code set lacks: visible, two columns
# like the character it replaces.
NOT_PRINTABLE = "\uff1f"  # ？

LABELS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "zh": MappingProxyType(
            {
                "receipt_no": "单号",
                "time": "时间",
                "cashier": "收银员",
                "member": "会员",
                "tier": "等级",
                "points_earned": "本次积分",
                "points_used": "使用积分",
                "points_balance": "积分余额",
                "change": "找零",
                "reprint": "*** 重印 REPRINT ***",
                "qty": "数量",
            }
        ),
        "en": MappingProxyType(
            {
                "receipt_no": "Receipt",
                "time": "Time",
                "cashier": "Cashier",
                "member": "Member",
                "tier": "Tier",
                "points_earned": "Points earned",
                "points_used": "Points used",
                "points_balance": "Points balance",
                "change": "Change",
                "reprint": "*** REPRINT 重印 ***",
                "qty": "Qty",
            }
        ),
    }
)

PHONE_RE = re.compile(r"^(\d{3})\d{4}(\d{4})$")


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """One sold item: amounts are already-formatted text (the driver never does money maths)."""

    name: str
    quantity: str
    unit_price: str
    amount: str
    discounts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt:
    """Everything printed on a sale or return receipt, as display text."""

    receipt_no: str
    time: str
    cashier: str
    lines: tuple[ReceiptLine, ...]
    total: tuple[str, str]
    header: tuple[str, ...] = ()
    totals: tuple[tuple[str, str], ...] = ()
    tier: str = ""
    member_phone: str = ""
    points_earned: int | None = None
    points_used: int | None = None
    points_balance: int | None = None
    tenders: tuple[tuple[str, str], ...] = ()
    change: str = ""
    footer: tuple[str, ...] = ()
    language: Language = "zh"
    width: int = 48
    code: Literal["qr", "barcode", "none"] = "qr"
    reprint: bool = False
    extra: tuple[str, ...] = field(default=())
    code_set: CodeSet = "gbk"  # the printer's Chinese character set (its font ROM)
    # The printed field names in the receipt's language (the till's catalogue); LABELS when empty.
    labels: Mapping[str, str] = field(default_factory=dict)


def char_width(ch: str) -> int:
    """Columns a character takes on the printer.

    East Asian wide/full-width characters take two columns. So does every other non-ASCII
    character: in Chinese mode a multi-byte GB18030 code prints from the double-width font.
    """
    if ch < "\x80":
        return 1 if ch.isprintable() else 0
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Cc", "Cf"):
        return 0
    return 2


def text_width(text: str) -> int:
    """Columns a string takes on the printer."""
    if text.isascii() and text.isprintable():
        return len(text)
    return sum(char_width(ch) for ch in text)


def wrap(text: str, width: int) -> list[str]:
    """Split text into pieces of at most `width` columns, never splitting a character.

    Latin words break at a space when one falls in the second half of the line; Chinese has
    no spaces and breaks between any two characters.
    """
    if width < 2:
        raise ConfigError(f"wrap width must be at least 2 columns, not {width}")
    pieces: list[str] = []
    current, used = "", 0
    for ch in text:
        w = char_width(ch)
        if used + w > width:
            cut = current.rfind(" ")
            if ch != " " and cut > 0 and text_width(current[:cut]) > width // 2:
                pieces.append(current[:cut].rstrip())
                current = current[cut + 1 :]
            else:
                if current.strip():
                    pieces.append(current.rstrip())
                current = ""
            used = text_width(current)
            if ch == " " and not current:
                continue
        current += ch
        used += w
    if current or not pieces:
        pieces.append(current.rstrip())
    return pieces


def two_columns(left: str, right: str, width: int) -> list[str]:
    """Left text and right-aligned text on one line; the left side wraps when it does not fit."""
    right_w = text_width(right)
    if right_w >= width - 1:
        return [*wrap(left, width), " " * max(0, width - right_w) + right]
    avail = width - right_w - 1
    pieces = wrap(left, avail)
    first = pieces[0]
    out = [first + " " * (width - text_width(first) - right_w) + right]
    out.extend(pieces[1:])
    return out


def mask_phone(phone: str) -> str:
    """138****5678 from an 11-digit phone; text that is already masked is kept as it is."""
    digits = phone.replace(" ", "").replace("-", "")
    match = PHONE_RE.match(digits)
    if match:
        return f"{match.group(1)}****{match.group(2)}"
    if "*" in phone:
        return phone
    return "*" * max(0, len(digits) - 4) + digits[-4:]


def _in_code_set(data: bytes, code_set: CodeSet) -> bool:
    """Whether the encoded bytes of one character are a code the printer has."""
    if len(data) == 1:
        return data[0] < 0x80  # Python's GBK maps the euro to 0x80, which GBK printers lack
    if len(data) == 2:
        lead, trail = data
        if code_set == "gb2312":
            return 0xA1 <= lead <= 0xF7 and 0xA1 <= trail <= 0xFE
        return 0x81 <= lead <= 0xFE and 0x40 <= trail <= 0xFE and trail != 0x7F
    return code_set == "gb18030" and len(data) == 4


def encode_text(text: str, code_set: CodeSet) -> bytes:
    """Text as the printer's code set has it: stand-ins for the yen sign, ？ for the rest."""
    if text.isascii():
        return text.encode("ascii")
    out = bytearray()
    for ch in text:
        ch = _STAND_INS.get(ch, ch)
        try:
            data = ch.encode(code_set)
        except UnicodeEncodeError:
            data = b""
        if not _in_code_set(data, code_set):
            data = NOT_PRINTABLE.encode(code_set) if char_width(ch) == 2 else b"?"
        out += data
    return bytes(out)


class _Writer:
    """Collects ESC/POS bytes; python-escpos's Dummy for commands, the code set for text."""

    def __init__(self, chinese: bool, code_set: CodeSet) -> None:
        self.p = Dummy()
        self.chinese = chinese
        self.code_set = code_set

    def raw(self, data: bytes) -> None:
        self.p._raw(data)

    def style(
        self,
        align: str = "left",
        bold: bool = False,
        double: bool = False,
    ) -> None:
        # Size with GS ! (python-escpos's custom size), never ESC ! (its double_width and
        # double_height): on Epson-conforming printers ESC ! sizes only alphanumerics, so
        # a Chinese header or 合计 line would print single size beside a double amount.
        size = 2 if double else 1
        self.p.set(align=align, bold=bold, custom_size=True, width=size, height=size)

    def line(self, text: str) -> None:
        if self.chinese:
            self.raw(encode_text(text, self.code_set) + cmd.LF)
        else:
            self.raw(text.encode("ascii", errors="replace") + cmd.LF)


def _validate(receipt: Receipt) -> None:
    if receipt.width not in (32, 48):
        raise ConfigError(f"receipt width must be 32 or 48 columns, not {receipt.width}")
    if receipt.language not in LABELS:
        raise ConfigError(f"receipt language must be zh or en, not {receipt.language!r}")
    if not receipt.receipt_no or not receipt.receipt_no.isascii():
        raise ConfigError(f"receipt number must be non-empty ASCII, not {receipt.receipt_no!r}")
    if receipt.code_set not in CODE_SETS:
        raise ConfigError(f"printer code set must be one of {', '.join(CODE_SETS)}")


def _check_barcode_fits(data: str, width: int) -> None:
    # CODE128: 11 modules per symbol (start, data, check) + 13 for stop, 2 dots per module,
    # on a 384-dot (58 mm) or 576-dot (80 mm) print line.
    dots = (11 * (len(data) + 2) + 13) * 2
    limit = 384 if width == 32 else 576
    if dots > limit:
        raise ConfigError(
            f"receipt number {data!r} is too long for a CODE128 barcode on a {width}-column "
            f"printer ({dots} dots > {limit}); use the QR code"
        )


def _needs_chinese(receipt: Receipt) -> bool:
    # Every printed string counts, amounts too: "¥28.09" on an English receipt needs GB18030.
    texts = [
        *receipt.header, *receipt.footer, *receipt.extra, *receipt.total,
        receipt.time, receipt.cashier, receipt.tier, receipt.member_phone, receipt.change,
    ]  # fmt: skip
    for label, value in (*receipt.totals, *receipt.tenders):
        texts += [label, value]
    for line in receipt.lines:
        texts += [line.name, line.quantity, line.unit_price, line.amount]
        for label, amount in line.discounts:
            texts += [label, amount]
    return receipt.language == "zh" or receipt.reprint or not all(t.isascii() for t in texts)


def render(receipt: Receipt) -> bytes:
    """The complete ESC/POS job for one receipt: init, body, receipt-number code, cut."""
    _validate(receipt)
    width = receipt.width
    labels = {**LABELS[receipt.language], **receipt.labels}
    out = _Writer(_needs_chinese(receipt), receipt.code_set)
    out.p.hw("INIT")
    if out.chinese:
        out.raw(cmd.CHINESE_ON)

    if receipt.header:
        out.style(align="center", bold=True, double=True)
        # Double-width text has half the columns.
        for text in receipt.header[:1]:
            for piece in wrap(text, width // 2):
                out.line(piece)
        out.style(align="center")
        for text in receipt.header[1:]:
            for piece in wrap(text, width):
                out.line(piece)
    if receipt.reprint:
        out.style(align="center", bold=True)
        out.line(labels["reprint"])
    out.style(align="left")
    rule = "-" * width
    for key, value in (
        ("receipt_no", receipt.receipt_no),
        ("time", receipt.time),
        ("cashier", receipt.cashier),
    ):
        for text in two_columns(labels[key], value, width):
            out.line(text)
    out.line(rule)

    for item in receipt.lines:
        for text in two_columns(item.name, item.amount, width):
            out.line(text)
        out.line(f"  {item.quantity} x {item.unit_price}")
        for label, amount in item.discounts:
            for text in two_columns(f"  {label}", amount, width):
                out.line(text)
    out.line(rule)

    for label, value in receipt.totals:
        for text in two_columns(label, value, width):
            out.line(text)
    out.style(align="left", bold=True, double=True)
    for text in two_columns(receipt.total[0], receipt.total[1], width // 2):
        out.line(text)
    out.style(align="left")
    for label, value in receipt.tenders:
        for text in two_columns(label, value, width):
            out.line(text)
    if receipt.change:
        for text in two_columns(labels["change"], receipt.change, width):
            out.line(text)

    member_rows: list[tuple[str, str]] = []
    if receipt.member_phone:
        member_rows.append((labels["member"], mask_phone(receipt.member_phone)))
    if receipt.tier:
        member_rows.append((labels["tier"], receipt.tier))
    for key in ("points_earned", "points_used", "points_balance"):
        value = getattr(receipt, key)
        if value is not None:
            member_rows.append((labels[key], str(value)))
    if member_rows:
        out.line(rule)
        for label, value in member_rows:
            for text in two_columns(label, value, width):
                out.line(text)

    for text in receipt.extra:
        for piece in wrap(text, width):
            out.line(piece)

    out.line("")
    if receipt.code == "qr":
        out.style(align="center")
        out.p.qr(receipt.receipt_no, native=True, size=6 if width == 48 else 5)
    elif receipt.code == "barcode":
        _check_barcode_fits(receipt.receipt_no, width)
        # _hw_barcode is python-escpos's GS k path without barcode()'s stdout chatter.
        out.p._hw_barcode(
            "{B" + receipt.receipt_no, "CODE128", height=80, width=2, pos="OFF", function_type="B"
        )
    out.style(align="center")
    if receipt.code != "none":
        out.line(receipt.receipt_no)
    for text in receipt.footer:
        for piece in wrap(text, width):
            out.line(piece)
    if out.chinese:
        out.raw(cmd.CHINESE_OFF)
    # Feed past the cutter (about 4 lines on TM-series heads), then a full cut.
    out.raw(b"\n" * 4)
    out.raw(cmd.cut())
    return bytes(out.p.output)
