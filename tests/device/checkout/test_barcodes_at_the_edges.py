"""Scans at the edges of each reading rule: AIM identifiers, add-ons, EAN-8 against UPC-E,
GS1-128 weight and price, UPC-A number system 2, store label layouts and layout checks.

Check digits are GS1 General Specifications 7.9.1: weights 3, 1, 3, ... from the rightmost
digit of the body; the check digit brings the sum up to a multiple of 10. Each is worked
in a comment beside the code that uses it.
"""

from __future__ import annotations

from typing import Any

import pytest

from device.checkout.barcodes import (
    Gs1Layout,
    LabelLayout,
    ScannedCode,
    build_variable_code,
    classify_scan,
    member_scan_text,
    parse_barcode,
    receipt_scan_text,
    upce_to_upca,
)
from device.checkout.errors import BarcodeError

EAN13 = "6901234567892"  # 690123456789: 9*3+8+7*3+6+5*3+4+3*3+2+1*3+0+9*3+6 = 128 -> 2
UPCA = "036000291452"  # the usual UPC-A example (GS1 GenSpecs): check digit 2
# UPC-E 0 425261 4 expands to 0 42 1 0000 526 (last digit 1: mfr 42100, product 00526);
# 04210000526: 6*3+2+5*3+0+0+0+0+1+2*3+4+0*3 = 46 -> 4
UPCE, UPCE_AS_UPCA = "04252614", "042100005264"
# UPC-A number system 2, 2 12345 01250: 0*3+5+2*3+1+0*3+5+4*3+3+2*3+1+2*3 = 45 -> 5
UPCA_NS2 = "212345012505"
# An 18-digit store label: 28 | 12345 item | 01999 price | 00750 weight | check.
# 28123450199900750 from the right: 0*3+5+7*3+0+0*3+9+9*3+9+1*3+0+5*3+4+3*3+2+1*3+8+2*3
# = 121 -> 9
LABEL18 = LabelLayout(("28",), "FFIIIIIPPPPPWWWWWC")
CODE18 = "281234501999007509"
# Number system 2 UPC-A read by a 12-digit store layout: 2 | 12345 item | 01250 price | C
LABEL12 = LabelLayout(("2",), "FIIIIIPPPPPC")


def _vm(
    code: str,
    item: str,
    embedded_price_fen: int | None = None,
    embedded_weight_g: int | None = None,
    label_weight_g: int | None = None,
) -> ScannedCode:
    return ScannedCode(
        "gs1_variable", code, item, embedded_price_fen, embedded_weight_g, label_weight_g
    )


# --- AIM identifiers and what each one allows ----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "scanned"),
    [
        # surrounding CR, LF, tab and space are the scanner's, not the code's
        (f" \t]E0{EAN13}\r\n", ScannedCode("ean13", EAN13, EAN13)),
        # other characters at the ends are data: an X is kept
        ("X-1X", ScannedCode("code128", "X-1X", "X-1X")),
        (f"]E0{UPCA}", ScannedCode("upca", UPCA, UPCA)),
        (f"]E00{UPCA}", ScannedCode("upca", UPCA, UPCA)),  # UPC-A in its EAN-13 form
        (f"]E0{UPCE}", ScannedCode("upce", UPCE_AS_UPCA, UPCE_AS_UPCA)),
        # ]C0 digits that no label layout reads stay Code 128, read as they are
        ("]C012345", ScannedCode("code128", "12345", "12345")),
        # ]C0 is plain Code 128: an element string in it is not read as GS1
        ("]C00106901234567892", ScannedCode("code128", "0106901234567892", "0106901234567892")),
        ("]C2AB", ScannedCode("code128", "AB", "AB")),  # another Code 128 option
    ],
)
def test_an_aim_identifier_routes_the_scan(raw: str, scanned: ScannedCode) -> None:
    assert parse_barcode(raw) == scanned


@pytest.mark.parametrize(
    "raw",
    [
        "]E0",  # an identifier and nothing else
        "]C1",
        "]E0" + "６９０１２３４５６７８９２",  # full-width digits are not ASCII digits
        "]E096385074",  # ]E0 with 8 digits is UPC-E: 96385074 is an EAN-8 (system 9)
        f"]E4{UPCE}",  # ]E4 is EAN-8 only: as EAN-8, 0425261 needs check digit 0
        "]E496385075",  # EAN-8 96385074 with a wrong check digit
        "]E069012345678",  # 11 digits
        "]E06901234567892X",  # letters after ]E0
    ],
)
def test_an_aim_identifier_refuses_what_it_cannot_be(raw: str) -> None:
    with pytest.raises(BarcodeError):
        parse_barcode(raw)


# --- EAN/UPC with an add-on (]E3) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "scanned"),
    [
        (EAN13 + "12", ScannedCode("ean13", EAN13, EAN13, addon="12")),  # 15 = 13 + 2
        (EAN13 + "54321", ScannedCode("ean13", EAN13, EAN13, addon="54321")),  # 18 = 13 + 5
        (UPCA + "12", ScannedCode("upca", UPCA, UPCA, addon="12")),  # 14 = 12 + 2
        (UPCA + "54321", ScannedCode("upca", UPCA, UPCA, addon="54321")),  # 17 = 12 + 5
        ("0" + UPCA + "12", ScannedCode("upca", UPCA, UPCA, addon="12")),  # EAN-13 form
        (UPCE + "12", ScannedCode("upce", UPCE_AS_UPCA, UPCE_AS_UPCA, addon="12")),  # 10 = 8 + 2
        # 13 = 8 + 5: with ]E3 a 13-digit payload is UPC-E and its 5-digit add-on
        (UPCE + "54321", ScannedCode("upce", UPCE_AS_UPCA, UPCE_AS_UPCA, addon="54321")),
        # the price code 2 012345 01250 9 of the default layout, with an add-on
        (
            "201234501250912",
            ScannedCode("gs1_variable", "2012345012509", "012345", 1250, addon="12"),
        ),
    ],
)
def test_an_add_on_is_kept_beside_its_main_code(payload: str, scanned: ScannedCode) -> None:
    assert parse_barcode("]E3" + payload) == scanned


@pytest.mark.parametrize(
    "payload",
    [
        EAN13,  # 13 digits with ]E3 are UPC-E + 5: 69012345 is no UPC-E (system 6)
        UPCA,  # 12: no main code and add-on make 12
        # 14 = UPC-A 690123456789 + 21, but 69012345678 needs
        # 8*3+7+6*3+5+4*3+3+2*3+1+0*3+9+6*3 = 103 -> 7, not 9
        EAN13 + "1",
        EAN13 + "123",  # 16
        "1234567",  # 7
        "69012345678931234",  # 17 = 12 + 5: the same UPC-A 690123456789
        "1234567890123456789",  # 19
    ],
)
def test_an_add_on_scan_of_no_known_length_or_check_is_refused(payload: str) -> None:
    with pytest.raises(BarcodeError):
        parse_barcode("]E3" + payload)


# --- eight digits without an identifier: EAN-8 first, then UPC-E ---------------------------


def test_eight_digits_fall_back_to_upce_of_number_system_1() -> None:
    # As EAN-8, 1425261 needs 1*3+6+2*3+5+2*3+4+1*3 = 33 -> 7, so a final 1 is not EAN-8.
    # As UPC-E 1 425261: 1 42 1 0000 526 -> 6*3+2+5*3+0+0+0+0+1+2*3+4+1*3 = 49 -> 1.
    assert parse_barcode("14252611") == ScannedCode("upce", "142100005261", "142100005261")


@pytest.mark.parametrize(
    "raw",
    [
        # as EAN-8, 2425261 needs 1*3+6+2*3+5+2*3+4+2*3 = 36 -> 4; starting 2 it is no UPC-E
        "24252615",
        "14252612",  # starts 1 but fits neither check digit (EAN-8 7, UPC-E 1)
    ],
)
def test_eight_digits_that_are_neither_are_refused(raw: str) -> None:
    with pytest.raises(BarcodeError):
        parse_barcode(raw)


# --- UPC-E expansion ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upce", "upca"),
    [
        ("0123452", "012200003453"),  # last 2: 0 12 2 0000 345; 5*3+4+3*3+2+2*3+1 = 37 -> 3
        ("0123459", "012345000096"),  # last 9: 0 12345 0000 9; 9*3+5+4*3+3+2*3+1 = 54 -> 6
        ("1425261", "142100005261"),  # number system 1 (7 digits: check digit computed)
        ("425261", "042100005264"),  # 6 digits: number system 0
    ],
)
def test_upce_expands_by_its_last_digit(upce: str, upca: str) -> None:
    assert upce_to_upca(upce) == upca


@pytest.mark.parametrize(
    "upce",
    [
        "42526",  # 5 digits
        "042526143",  # 9 digits
        "2425261",  # number system 2
        "０４２５２６１４",  # full-width digits
        "0425261A",
    ],
)
def test_upce_refuses_what_is_not_one(upce: str) -> None:
    with pytest.raises(BarcodeError):
        upce_to_upca(upce)


# --- GS1-128 (]C1) -----------------------------------------------------------------------

# (01) 06901234567892, (3103) 000750 = 0.750 kg = 750 g, (3922) 1999 = 19.99 yuan = 1999 fen
GTIN = "0106901234567892"


@pytest.mark.parametrize(
    ("payload", "scanned"),
    [
        (GTIN + "3103000750", ScannedCode("code128", EAN13, EAN13, embedded_weight_g=750)),
        (GTIN + "39221999", ScannedCode("code128", EAN13, EAN13, embedded_price_fen=1999)),
        (
            GTIN + "3103000750" + "39221999",
            ScannedCode("code128", EAN13, EAN13, embedded_price_fen=1999, label_weight_g=750),
        ),
        ("10LOT7", ScannedCode("code128", "10LOT7", "10LOT7")),  # no (01): kept as it is
    ],
)
def test_gs1_128_weight_and_price(payload: str, scanned: ScannedCode) -> None:
    assert parse_barcode("]C1" + payload) == scanned


# --- restricted circulation and the store's own label layouts -----------------------------


def test_default_variable_measure_codes_read_whole() -> None:
    assert parse_barcode("2012345012509") == _vm("2012345012509", "012345", embedded_price_fen=1250)
    # 2 512345 00750: 0*3+5+7*3+0+0*3+5+4*3+3+2*3+1+5*3+2 = 70 -> 0
    assert parse_barcode("2512345007500") == _vm("2512345007500", "512345", embedded_weight_g=750)


@pytest.mark.parametrize("raw", [UPCA_NS2, "0" + UPCA_NS2])
def test_upca_number_system_2_needs_a_layout(raw: str) -> None:
    with pytest.raises(BarcodeError):
        parse_barcode(raw)  # the default layouts read 13 digits only
    layout = Gs1Layout(labels=(LABEL12,))
    assert parse_barcode(raw, layout) == _vm(UPCA_NS2, "12345", embedded_price_fen=1250)


@pytest.mark.parametrize("raw", [CODE18, "]C0" + CODE18])
def test_a_label_with_price_and_weight_pays_the_price(raw: str) -> None:
    layout = Gs1Layout(labels=(LABEL18,))
    assert parse_barcode(raw, layout) == _vm(
        CODE18, "12345", embedded_price_fen=1999, label_weight_g=750
    )


@pytest.mark.parametrize(
    "raw",
    [
        "281234501999007508",  # check digit 8, not 9
        "]C1" + CODE18,  # ]C1 is an element string: AI 28 does not exist
        "381234501999007509",  # 18 digits no layout reads, and 18 is no Code 128 length
    ],
)
def test_a_label_is_refused_when_its_check_or_form_is_wrong(raw: str) -> None:
    with pytest.raises(BarcodeError):
        parse_barcode(raw, Gs1Layout(labels=(LABEL18,)))


def test_classify_scan_reads_with_the_stores_layout() -> None:
    layout = Gs1Layout(numeric_code128_lengths=frozenset({10}))
    assert classify_scan("1234567890", layout) == ScannedCode("code128", "1234567890", "1234567890")
    with pytest.raises(BarcodeError):
        classify_scan("1234567890")


# --- layouts -----------------------------------------------------------------------------

PRICE = ("20", "21", "22", "23", "24")
WEIGHT = ("25", "26", "27", "28", "29")


def test_the_standard_layouts_and_dropping_one() -> None:
    assert Gs1Layout().layouts == (
        LabelLayout(PRICE, "FIIIIIIPPPPPC"),
        LabelLayout(WEIGHT, "FIIIIIIWWWWWC"),
    )
    weight_only = Gs1Layout(price_prefixes=())
    assert weight_only.layouts == (LabelLayout(WEIGHT, "FIIIIIIWWWWWC"),)
    assert weight_only.kind_of("2512345007500") == "weight"
    assert weight_only.kind_of("2012345012509") is None
    with pytest.raises(BarcodeError):
        parse_barcode("2012345012509", weight_only)


def test_kind_of() -> None:
    layout = Gs1Layout(weight_prefixes=WEIGHT[:-1], labels=(LabelLayout(("29",), "FFIIIIIIIIIIC"),))
    assert layout.kind_of("2012345012509") == "price"
    assert layout.kind_of("2512345007500") == "weight"
    # an item-only label, neither price nor weight:
    # 291234567890: 0*3+9+8*3+7+6*3+5+4*3+3+2*3+1+9*3+2 = 114 -> 6
    assert layout.kind_of("2912345678906") is None
    assert layout.kind_of(EAN13) is None


def test_from_specs_keeps_only_the_stores_layouts() -> None:
    layout = Gs1Layout.from_specs(("2:FIIIIIPPPPPC",), frozenset({10}))
    assert layout.layouts == (LABEL12,)
    assert layout.numeric_code128_lengths == frozenset({10})
    assert parse_barcode("1234567890", layout).symbology == "code128"
    assert parse_barcode(UPCA_NS2, layout).embedded_price_fen == 1250
    with pytest.raises(BarcodeError):
        parse_barcode("2012345012509", layout)  # the standard layout is dropped


@pytest.mark.parametrize(
    ("flag_digits", "item_digits", "value_digits"),
    [(1, 1, 10), (1, 10, 1), (2, 1, 9)],
)
def test_one_digit_is_enough_for_each_part(
    flag_digits: int, item_digits: int, value_digits: int
) -> None:
    layout = Gs1Layout(flag_digits=flag_digits, item_digits=item_digits, value_digits=value_digits)
    assert layout.layouts[0].pattern == (
        "F" * flag_digits + "I" * item_digits + "P" * value_digits + "C"
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"flag_digits": 0, "item_digits": 7},
        {"item_digits": 0, "value_digits": 11},
        {"item_digits": 11, "value_digits": 0},
        {"flag": "X", "price_prefixes": (), "weight_prefixes": ()},
        # "20" is digits but does not start with the flag "21" (the label itself would take it)
        {
            "flag": "21",
            "flag_digits": 2,
            "item_digits": 5,
            "price_prefixes": ("20",),
            "weight_prefixes": ("21",),
        },
        {"weight_prefixes": ("30",)},
        # a store label reading codes the standard layouts read: next to the weight layout ...
        {"labels": (LabelLayout(("29",), "FFIIIIIIIIIIC"),)},
        # ... and next to the price layout
        {"weight_prefixes": (), "labels": (LabelLayout(("24",), "FFIIIIIIIIIIC"),)},
    ],
)
def test_layouts_that_cannot_read_codes_unambiguously_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(BarcodeError):
        Gs1Layout(**kwargs)


# --- building codes as a scale prints them ---------------------------------------------------


def test_build_variable_code() -> None:
    assert build_variable_code("012345", 1250, "20", Gs1Layout()) == "2012345012509"
    assert build_variable_code("512345", 750, "25", Gs1Layout()) == "2512345007500"
    # a prefix shorter than the layout's is filled with zeros: "2" selects the "20" layout
    assert build_variable_code("012345", 1250, "2", Gs1Layout()) == "2012345012509"
    # a price label with a weight field: the weight is left 0.
    # 28123450199900000: 0*3+0+0*3+0+0*3+9+9*3+9+1*3+0+5*3+4+3*3+2+1*3+8+2*3 = 95 -> 5
    layout = Gs1Layout.from_specs((LABEL18.spec,))
    assert build_variable_code("12345", 1999, "28", layout) == "281234501999000005"


@pytest.mark.parametrize(
    ("item", "prefix"),
    [("123450", "20"), ("012345", "30")],  # the item would make it 21...; no layout reads 30
)
def test_build_variable_code_refuses_a_code_that_misses_its_prefix(item: str, prefix: str) -> None:
    with pytest.raises(BarcodeError):
        build_variable_code(item, 1250, prefix, Gs1Layout())


# --- what counts as the scanner's and what as the code's -----------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "A B",  # a space inside is data
        "sku~1",  # lower case and the last printable character, ~
    ],
)
def test_printable_ascii_without_an_identifier_is_code_128(raw: str) -> None:
    assert parse_barcode(raw) == ScannedCode("code128", raw, raw)


@pytest.mark.parametrize("raw", [f"\x0b{EAN13}", f"{EAN13}\x0c"])
def test_only_cr_lf_tab_and_space_are_trimmed(raw: str) -> None:
    # a vertical tab or form feed is not the scanner's line ending: the scan is unreadable
    with pytest.raises(BarcodeError):
        parse_barcode(raw)


@pytest.mark.parametrize(
    ("raw", "addon"),
    [(f"]E0{UPCA_NS2}", ""), (f"]E00{UPCA_NS2}", ""), (f"]E3{UPCA_NS2}12", "12")],
)
def test_number_system_2_behind_an_identifier_is_read_by_the_stores_layout(
    raw: str, addon: str
) -> None:
    scanned = parse_barcode(raw, Gs1Layout(labels=(LABEL12,)))
    assert scanned == ScannedCode(
        "gs1_variable", UPCA_NS2, "12345", embedded_price_fen=1250, addon=addon
    )


@pytest.mark.parametrize("code", ["", "has space", "x" * 33, "中文"])
def test_member_scan_text_refuses_a_code_a_scan_could_not_give_back(code: str) -> None:
    with pytest.raises(BarcodeError):
        member_scan_text(code)


@pytest.mark.parametrize("receipt_no", ["", "-0042", "S001 T01", "x" * 49])
def test_receipt_scan_text_refuses_a_number_a_scan_could_not_give_back(receipt_no: str) -> None:
    with pytest.raises(BarcodeError):
        receipt_scan_text(receipt_no)
