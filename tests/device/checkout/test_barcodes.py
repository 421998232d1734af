"""Tests for barcode parsing; expected values are worked by hand from GS1 General Specifications.

Check digits (GS1 GenSpecs 7.9.1, weights 3,1 from the right), e.g. 690123456789:
9*3+8+7*3+6+5*3+4+3*3+2+1*3+0+9*3+6 = 128 -> check digit 2.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.checkout.barcodes import (
    Gs1Layout,
    MemberScan,
    ReceiptScan,
    build_variable_code,
    classify_scan,
    gtin_check_digit,
    member_code_from_scan,
    member_scan_text,
    parse_barcode,
    receipt_no_from_scan,
    receipt_scan_text,
    upce_to_upca,
)
from device.checkout.errors import BarcodeError


def test_ean13_with_valid_check_digit() -> None:
    scan = parse_barcode("6901234567892")
    assert (scan.symbology, scan.code) == ("ean13", "6901234567892")
    assert scan.item_code == "6901234567892"
    assert scan.embedded_price_fen is None and scan.embedded_weight_g is None


def test_ean13_bad_check_digit_says_expected_and_got() -> None:
    with pytest.raises(BarcodeError, match="bad check digit: expected 2, got 3"):
        parse_barcode("6901234567893")


def test_ean8() -> None:
    # 9638507: 7*3+0+5*3+8+3*3+6+9*3 = 86 -> 4
    assert parse_barcode("96385074").symbology == "ean8"
    with pytest.raises(BarcodeError, match="expected 4, got 5"):
        parse_barcode("96385075")


def test_upca_and_its_ean13_form_normalise_to_the_same_code() -> None:
    # 03600029145: 5*3+4+1*3+9+2*3+0+0+0+6*3+3+0 = 58 -> 2
    assert parse_barcode("036000291452").code == "036000291452"
    as_ean = parse_barcode("0036000291452")
    assert (as_ean.symbology, as_ean.code) == ("upca", "036000291452")


@pytest.mark.parametrize(
    ("upce", "upca"),
    [
        ("04252614", "042100005264"),  # last digit 1: mfr 42100, product 00526
        ("01234565", "012345000065"),  # last digit 5-9
        ("01234531", "012300000451"),  # last digit 3
        ("01234543", "012340000053"),  # last digit 4
        ("01234000", "012000003400"),  # last digit 0
    ],
)
def test_upce_expansion(upce: str, upca: str) -> None:
    assert upce_to_upca(upce) == upca
    scan = parse_barcode("]E0" + upce)
    assert (scan.symbology, scan.code) == ("upce", upca)


def test_upce_without_aim_prefix_when_only_its_check_digit_fits() -> None:
    # as EAN-8, 0425261 needs check digit 0 (1*3+6+2*3+5+2*3+4+0 = 30), so 4 means UPC-E
    scan = parse_barcode("04252614")
    assert (scan.symbology, scan.code) == ("upce", "042100005264")
    with pytest.raises(BarcodeError, match="bad check digit: expected 0, got 5"):
        parse_barcode("04252615")  # fits neither: reported as the EAN-8 it looks like


def test_upce_bad_check_digit() -> None:
    with pytest.raises(BarcodeError, match="expected 4, got 5"):
        upce_to_upca("04252615")


def test_upce_without_check_digit_is_completed() -> None:
    assert upce_to_upca("0425261") == "042100005264"
    assert upce_to_upca("425261") == "042100005264"


def test_aim_identifiers_are_stripped_and_route_symbology() -> None:
    assert parse_barcode("]E06901234567892").code == "6901234567892"
    assert parse_barcode("]E496385074").symbology == "ean8"
    assert parse_barcode("]C0ABC-123").code == "ABC-123"
    assert parse_barcode("6901234567892\r\n").code == "6901234567892"


def test_wrong_length_digits_are_refused() -> None:
    with pytest.raises(BarcodeError, match="wrong length: 11 digits"):
        parse_barcode("69012345678")
    with pytest.raises(BarcodeError, match="wrong length: 12 digits"):
        parse_barcode("]E4690123456789")


def test_numeric_code128_lengths_are_opt_in() -> None:
    layout = Gs1Layout(numeric_code128_lengths=frozenset({10}))
    assert parse_barcode("1234567890", layout).symbology == "code128"


def test_code128_text_and_garbage() -> None:
    assert parse_barcode("SKU-00042").symbology == "code128"
    with pytest.raises(BarcodeError, match="empty scan"):
        parse_barcode("  \r\n")
    with pytest.raises(BarcodeError, match="unknown format"):
        parse_barcode("\x00\x01garbage")
    with pytest.raises(BarcodeError, match="unknown format"):
        parse_barcode("]d2010690123456789")  # Data Matrix is not sold by


def test_gs1_128_gtin_becomes_the_item_code() -> None:
    scan = parse_barcode("]C10106901234567892\x1d10LOT7")
    assert scan.item_code == "6901234567892"
    with pytest.raises(BarcodeError, match="bad check digit"):
        parse_barcode("]C10106901234567893")


def test_variable_measure_price_default_layout() -> None:
    # 2 012345 01250: 0+5+2*3+1+0+5+4*3+3+2*3+1+0+2 = 41 -> 9
    scan = parse_barcode("2012345012509")
    assert scan.is_variable_measure
    assert (scan.item_code, scan.embedded_price_fen, scan.embedded_weight_g) == (
        "012345",
        1250,
        None,
    )


def test_variable_measure_weight_default_layout() -> None:
    # 2 512345 00750: 0+5+7*3+0+0+5+4*3+3+2*3+1+5*3+2 = 70 -> 0
    scan = parse_barcode("2512345007500")
    assert (scan.item_code, scan.embedded_price_fen, scan.embedded_weight_g) == (
        "512345",
        None,
        750,
    )


def test_two_digit_flag_layout() -> None:
    layout = Gs1Layout(flag_digits=2, item_digits=5)
    scan = parse_barcode("2012345012509", layout)
    assert (scan.item_code, scan.embedded_price_fen) == ("12345", 1250)


def test_bad_layouts_are_refused() -> None:
    with pytest.raises(BarcodeError, match="13 digits"):
        Gs1Layout(item_digits=7)
    with pytest.raises(BarcodeError, match="both price and weight"):
        Gs1Layout(price_prefixes=("20",), weight_prefixes=("20",))


def test_member_and_receipt_scans() -> None:
    assert member_code_from_scan("M:ABC123") == "ABC123"
    assert member_code_from_scan("]Q1member:xyz-9") == "xyz-9"
    assert member_code_from_scan("6901234567892") is None
    with pytest.raises(BarcodeError, match="not a valid member code"):
        member_code_from_scan("M:")
    assert receipt_no_from_scan("R:S001-T01-20261123-0042") == "S001-T01-20261123-0042"
    assert receipt_no_from_scan("M:ABC") is None
    with pytest.raises(BarcodeError, match="not a valid receipt number"):
        receipt_no_from_scan("R:bad receipt")


def test_a_bare_receipt_number_is_routed_as_a_receipt() -> None:
    """Receipts print the bare number in their QR; an idle till must still start a return."""
    assert classify_scan("S001-T01-20261123-0042") == ReceiptScan("S001-T01-20261123-0042")
    assert classify_scan("]Q1S001-T01-20261123-0042") == ReceiptScan("S001-T01-20261123-0042")
    assert receipt_no_from_scan("6901234567892") is None
    assert receipt_no_from_scan("12345678-20261123-0042") is None  # no letter: not our form
    assert receipt_no_from_scan("S001-T01-2026112-0042") is None  # 7-digit date


def test_classify_scan_routes_all_three() -> None:
    assert classify_scan("M:77") == MemberScan("77")
    assert classify_scan("R:S001-T01-20261123-0042") == ReceiptScan("S001-T01-20261123-0042")
    product = classify_scan("6901234567892")
    assert not isinstance(product, MemberScan | ReceiptScan)
    assert product.code == "6901234567892"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789", min_size=7, max_size=13))
def test_check_digit_round_trips(body: str) -> None:
    code = body + str(gtin_check_digit(body))
    assert gtin_check_digit(code[:-1]) == int(code[-1])
    # GS1 GenSpecs 7.9.1 stated on the whole code: from the right, the check digit weighs 1,
    # then 3, 1, 3, ...; a valid code's weighted sum is a multiple of 10.
    weighted = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(reversed(code)))
    assert weighted % 10 == 0
    if len(code) == 13 and not code.startswith(("0", "2")):
        assert parse_barcode(code).code == code
    if len(code) == 8:
        assert parse_barcode(code).symbology == "ean8"


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet="0123456789", min_size=12, max_size=12),
    st.integers(0, 11),
    st.integers(1, 9),
)
def test_any_single_digit_error_is_caught(body: str, pos: int, bump: int) -> None:
    code = body + str(gtin_check_digit(body))
    wrong = code[:pos] + str((int(code[pos]) + bump) % 10) + code[pos + 1 :]
    with pytest.raises(BarcodeError, match="bad check digit"):
        parse_barcode(wrong)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["20", "21", "22", "23", "24", "25", "26", "27", "28", "29"]),
    st.text(alphabet="0123456789", min_size=5, max_size=5),
    st.integers(0, 99_999),
)
def test_variable_codes_parse_back_to_what_built_them(prefix: str, rest: str, value: int) -> None:
    layout = Gs1Layout()
    item = prefix[1] + rest  # the default layout's item code starts with the variant digit
    code = build_variable_code(item, value, prefix, layout)
    scan = parse_barcode(code, layout)
    assert scan.item_code == item
    if prefix < "25":
        assert (scan.embedded_price_fen, scan.embedded_weight_g) == (value, None)
    else:
        assert (scan.embedded_price_fen, scan.embedded_weight_g) == (None, value)


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[0-9A-Za-z_-]{1,32}", fullmatch=True))
def test_member_text_round_trips(code: str) -> None:
    assert member_code_from_scan(member_scan_text(code)) == code
    assert receipt_no_from_scan(receipt_scan_text("S1-" + code)) == "S1-" + code
