"""Receipt layout: ESC/POS bytes against the command reference, column fit in the simulator.

The simulator counts columns from the GB18030 byte lengths it receives, independently of
receipt_layout's own width rule.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.drivers.errors import ConfigError
from device.drivers.receipt_layout import (
    Receipt,
    ReceiptLine,
    char_width,
    mask_phone,
    render,
    text_width,
    two_columns,
    wrap,
)
from device.drivers.sim.printer_model import PrinterModel
from tests.device.drivers.printer_helpers import member_receipt


def _print(data: bytes, width: int) -> PrinterModel:
    model = PrinterModel(width)
    model.feed(data)
    return model


def test_character_widths() -> None:
    """ASCII one column; CJK ideographs and full-width punctuation two (east_asian_width W/F);
    other non-ASCII (¥, é) also two, because Chinese mode prints GB18030 from the 24-dot font."""
    assert [char_width(c) for c in "A1 中，¥é"] == [1, 1, 1, 2, 2, 2, 2]
    assert text_width("苹果 Fuji") == 4 + 1 + 4


def test_wrap_never_splits_a_character_and_respects_width() -> None:
    assert wrap("有机全脂牛奶", 5) == ["有机", "全脂", "牛奶"]
    assert wrap("Organic milk 1L", 8) == ["Organic", "milk 1L"]


def test_two_columns_right_aligns_the_amount() -> None:
    assert two_columns("苹果", "8.09", 32) == ["苹果" + " " * 24 + "8.09"]
    long = two_columns("有机全脂牛奶 1L 装 特价促销商品", "25.00", 32)
    assert long[0].endswith(" 25.00") and text_width(long[0]) == 32
    assert all(text_width(piece) <= 32 - 6 for piece in long[1:])


def test_phone_is_masked() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("138****5678") == "138****5678"


def test_chinese_receipt_bytes() -> None:
    """Epson ESC/POS Command Reference: ESC @ initialize; FS & Kanji (Chinese) mode;
    ESC a n justification; ESC E n emphasis; ESC ! n print mode (bits 4/5 double height/width);
    GS ( k cn=49 fn=80 store QR data (pL pH = k+3), fn=81 print; GS V 0 full cut."""
    receipt = member_receipt(width=48)
    data = render(receipt)
    assert data.startswith(bytes.fromhex("1b40") + bytes.fromhex("1c26"))
    header = "好邻居便利店".encode("gb18030")
    centre_bold_double = bytes.fromhex("1b2130") + bytes.fromhex("1b4501") + bytes.fromhex("1b6101")
    assert centre_bold_double + header + b"\n" in data
    assert "应付".encode("gb18030") == bytes.fromhex("d3a6b8b6")
    assert bytes.fromhex("d3a6b8b6") in data
    number = b"S001-T02-20261123-0042"
    assert bytes.fromhex("1d286b") + bytes((len(number) + 3, 0)) + b"1P0" + number in data
    assert bytes.fromhex("1d286b0300315130") in data  # GS ( k fn=81: print the stored symbol
    assert data.endswith(bytes.fromhex("1d5600"))
    assert b"13812345678" not in data and b"138****5678" in data


def test_chinese_receipt_fits_58_and_80_mm_paper() -> None:
    for width in (32, 48):
        model = _print(render(member_receipt(width=width)), width)
        assert model.auto_wraps == 0, "a line overflowed the print area"
        assert model.unknown_commands == 0
        [printed] = model.complete_receipts
        assert printed.qr_codes == ["S001-T02-20261123-0042"]
        text = printed.text()
        assert "138****5678" in text and "积分余额" in text and "找零" in text
        lines = [line for line in printed.lines if line.kind == "text"]
        assert max(line.cells for line in lines) == width  # the rules span the full width


def test_english_ascii_receipt_needs_no_chinese_mode() -> None:
    receipt = Receipt(
        receipt_no="R-7",
        time="2026-11-23 14:05",
        cashier="Ann",
        lines=(ReceiptLine("Milk 1L", "2", "12.50", "25.00"),),
        total=("TOTAL", "25.00"),
        language="en",
        width=32,
        code="barcode",
    )
    data = render(receipt)
    assert bytes.fromhex("1c26") not in data
    # GS k m=73 (CODE128) n d1..dn, with {B selecting code set B.
    assert bytes.fromhex("1d6b49") + bytes((5,)) + b"{BR-7" in data
    [printed] = _print(data, 32).complete_receipts
    assert printed.barcodes == ["R-7"]
    # The total prints double width, so each letter takes two columns.
    assert "Receipt" in printed.text() and "T O T A L" in printed.text()


def test_requested_reprint_is_marked_in_both_languages() -> None:
    receipt = dataclasses.replace(member_receipt(language="en"), reprint=True)
    [printed] = _print(render(receipt), 48).complete_receipts
    assert "*** REPRINT 重印 ***" in printed.text()
    [original] = _print(render(member_receipt()), 48).complete_receipts
    assert "重印" not in original.text()


def test_bad_receipts_are_refused_clearly() -> None:
    base = member_receipt()
    with pytest.raises(ConfigError, match="32 or 48"):
        render(dataclasses.replace(base, width=40))
    with pytest.raises(ConfigError, match="too long for a CODE128"):
        render(dataclasses.replace(base, width=32, code="barcode"))
    with pytest.raises(ConfigError, match="receipt number"):
        render(dataclasses.replace(base, receipt_no="单号"))


NAMES = st.text(
    alphabet=st.sampled_from("苹果牛奶面包啤酒鸡蛋大米酱油ABCxyz 0123456789-（）·é"),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip())


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(NAMES, min_size=1, max_size=5),
    width=st.sampled_from([32, 48]),
    amount=st.integers(min_value=0, max_value=99_999_999),
)
def test_any_names_fit_the_paper(names: list[str], width: int, amount: int) -> None:
    """Whatever the item names, no printed line overflows (the printer would wrap it)."""
    # "=" is not in the name alphabet, so amounts can be cut off each printed line below.
    text = f"={amount // 100}.{amount % 100:02d}"
    receipt = dataclasses.replace(
        member_receipt(width=width),
        lines=tuple(ReceiptLine(name, "1", text, text) for name in names),
    )
    model = _print(render(receipt), width)
    assert model.auto_wraps == 0
    [printed] = model.complete_receipts
    body = "".join(line.plain.split("=")[0] for line in printed.lines).replace(" ", "")
    for name in names:
        assert name.replace(" ", "") in body


def test_english_receipt_with_a_yuan_sign_in_an_amount_prints_it() -> None:
    """GB18030 encodes '¥' (U+00A5) as 81 30 84 36; it prints only in Chinese mode (FS &),
    so a non-ASCII amount on an otherwise ASCII English receipt switches that mode on."""
    receipt = Receipt(
        receipt_no="R-8",
        time="2026-11-23 14:05",
        cashier="Ann",
        lines=(ReceiptLine("Milk 1L", "1", "¥12.50", "¥12.50"),),
        total=("TOTAL", "¥12.50"),
        language="en",
        width=32,
    )
    data = render(receipt)
    assert "¥".encode("gb18030") == bytes.fromhex("81308436")
    assert bytes.fromhex("1c26") in data and bytes.fromhex("81308436") in data
    [printed] = _print(data, 32).complete_receipts
    assert "¥12.50" in printed.text() and "?" not in printed.text()
