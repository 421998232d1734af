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


def _print(data: bytes, width: int, code_set: str = "gbk") -> PrinterModel:
    model = PrinterModel(width, code_set=code_set)
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
    ESC a n justification; ESC E n emphasis; GS ! n character size (n = 11H: double width
    and height, for all characters); GS ( k cn=49 fn=80 store QR data (pL pH = k+3), fn=81
    print; GS V 0 full cut."""
    receipt = member_receipt(width=48)
    data = render(receipt)
    assert data.startswith(bytes.fromhex("1b40") + bytes.fromhex("1c26"))
    header = "好邻居便利店".encode("gb18030")
    centre_bold_double = bytes.fromhex("1d2111") + bytes.fromhex("1b4501") + bytes.fromhex("1b6101")
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
    """GB18030 encodes '¥' (U+00A5) as the four bytes 81 30 84 36, which a GB2312 or GBK
    printer does not have; the full-width '￥' (U+FFE5) is A3 A4 in all three code sets, so
    it is what goes out, in Chinese mode (FS &) even on an otherwise ASCII English receipt."""
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
    assert bytes.fromhex("1c26") in data and bytes.fromhex("81308436") not in data
    assert bytes.fromhex("a3a4") + b"12.50" in data
    for code_set in ("gb2312", "gbk", "gb18030"):
        [printed] = _print(data, 32, code_set).complete_receipts
        assert "￥12.50" in printed.text() and "\ufffd" not in printed.text(), code_set


def test_a_gbk_printer_given_gb18030_only_bytes_prints_garbage() -> None:
    """The simulator has the printer's code set: four-byte GB18030 codes (second byte
    30..39) are not GBK, so a GBK printer prints marks unrelated to the text."""
    data = b"\x1b@\x1c&" + "¥1 中".encode("gb18030") + b"\n\x1dV\x00"
    [gbk] = _print(data, 32, "gbk").complete_receipts
    assert "¥" not in gbk.text() and "\ufffd" in gbk.text() and "中" in gbk.text()
    [full] = _print(data, 32, "gb18030").complete_receipts
    assert "¥1 中" in full.text()


@pytest.mark.parametrize("code_set", ["gb2312", "gbk"])
def test_characters_outside_the_printers_code_set_are_replaced_visibly(code_set: str) -> None:
    """A name the printer's font cannot show prints ？ in its place (two columns, as the
    character would take), never bytes the printer turns into something else: 𠮷 (U+20BB7)
    is only in GB18030's four-byte range; 镕 and 丼 are in GBK but not in GB2312."""
    name = "𠮷野家 镕 牛丼"
    receipt = dataclasses.replace(
        member_receipt(width=32),
        code_set=code_set,  # type: ignore[arg-type]
        lines=(ReceiptLine(name, "1", "25.00", "25.00"),),
    )
    model = _print(render(receipt), 32, code_set)
    assert model.auto_wraps == 0
    [printed] = model.complete_receipts
    text = printed.text()
    assert "\ufffd" not in text
    expected = "？野家 镕 牛丼" if code_set == "gbk" else "？野家 ？ 牛？"
    assert expected in text


def test_chinese_headings_and_the_total_print_double_size_on_an_epson_printer() -> None:
    """Epson ESC/POS Command Reference: ESC ! selects double width and height for
    alphanumeric characters only ("configurations of Kanji characters are not affected",
    FS ! sizes those); GS ! "is effective for all characters". The store name and the 应付
    label must come out as large as the amount beside them."""
    [printed] = _print(render(member_receipt(width=48)), 48).complete_receipts
    header = next(line for line in printed.lines if "好邻居便利店" in line.plain)
    total = next(line for line in printed.lines if "应付" in line.plain)
    for line in (header, total):
        sizes = {(run.wmul, run.hmul) for run in line.runs if any(c != " " for c, _ in run.chars)}
        assert sizes == {(2, 2)}, line.plain
    assert total.cells == 48  # the amount reaches the right margin


def test_the_simulated_printer_sizes_kanji_only_with_gs_or_fs_exclamation() -> None:
    """ESC ! 30H doubles "AB" but not "中"; GS ! 11H doubles both; FS ! 0CH doubles Kanji."""

    def sizes(command: bytes) -> dict[str, tuple[int, int]]:
        data = b"\x1b@\x1c&" + command + "AB中".encode("gbk") + b"\n\x1dV\x00"
        [printed] = _print(data, 48).complete_receipts
        return {ch: (run.wmul, run.hmul) for run in printed.lines[0].runs for ch, _ in run.chars}

    assert sizes(b"\x1b!\x30") == {"A": (2, 2), "B": (2, 2), "中": (1, 1)}
    assert sizes(b"\x1d!\x11") == {"A": (2, 2), "B": (2, 2), "中": (2, 2)}
    assert sizes(b"\x1c!\x0c") == {"A": (1, 1), "B": (1, 1), "中": (2, 2)}
