"""Scale labels, GS1-128 weights and prices, add-ons: worked by hand from the references.

GS1 General Specifications: 2.1.14.2 restricted circulation numbers (prefixes 20..29, UPC-A
number system 2); 7.9.1 the mod-10 check digit (weights 3, 1 from the right); 7.9.3 the
price verifier digit (4 digits: weights 2-, 2-, 3, 5-, units digit of 3 x the sum; 5 digits:
5+, 2-, 5-, 5+, 2-, then the digit whose 5- product is 10 minus the sum's units digit);
7.8 and Figure 7.8.5-2 Application Identifiers of predefined length; AIs (310n) net weight
in kg and (392n) amount payable with n decimals. ISO/IEC 15420 (AIM ]E3): EAN/UPC with a
2- or 5-digit add-on. Weighted products: 2-(d) = 2d less its tens digit, 5-(d) = 5d less
its tens digit, 5+(d) = 5d plus its tens digit, each taken mod 10.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from device.checkout.barcodes import Gs1Layout, LabelLayout, parse_barcode
from device.checkout.errors import BarcodeError
from device.checkout.scale_labels import price_check_digit
from device.config import ConfigError, load_config
from device.wiring import checkout_config

GS = "\x1d"


def test_price_verifier_digits() -> None:
    """4 digits 2875: 2-(2)=4, 2-(8)=16-1=15->5, 3(7)=21->1, 5-(5)=25-2=23->3; sum 13,
    3 x 13 = 39 -> 9. 5 digits 14685: 5+(1)=5, 2-(4)=8, 5-(6)=30-3=27->7, 5+(8)=40+4=44->4,
    2-(5)=10-1=9; sum 33, 10-3 = 7, and 5-(6) = 7 -> 6."""
    assert price_check_digit("2875") == 9
    assert price_check_digit("14685") == 6
    with pytest.raises(BarcodeError, match="4 or 5 digits"):
        price_check_digit("287")


def test_the_gs1_price_layout_with_a_verifier_reads_the_price_without_it() -> None:
    """2X IIIII V PPPP C: 2123456928754 is item 23456 at 28.75, not 928.75.

    Check digit of 212345692875, from the right x3, x1: 15+7+24+2+27+6+15+4+9+2+3+2 = 116
    -> 4. With the verifier 8 instead of 9 the check digit becomes 7 (116 - 3 = 113).
    """
    layout = Gs1Layout.from_specs(("21:FFIIIIIVPPPPC",))
    scan = parse_barcode("2123456928754", layout)
    assert scan.is_variable_measure
    assert (scan.item_code, scan.embedded_price_fen, scan.embedded_weight_g) == (
        "23456",
        2875,
        None,
    )
    with pytest.raises(BarcodeError, match="bad price check digit: expected 9, got 8"):
        parse_barcode("2123456828757", layout)


def test_china_13_digit_label_flag_plu_amount() -> None:
    """2 + PLU 100234 + amount 01250 fen: 0*3+5+2*3+1+0*3+4+3*3+2+0*3+0+1*3+2 = 32 -> 8."""
    layout = Gs1Layout.from_specs(("2:FIIIIIIPPPPPC",))
    scan = parse_barcode("2100234012508", layout)
    assert (scan.item_code, scan.embedded_price_fen) == ("100234", 1250)


def test_china_18_digit_label_flag_plu_amount_weight() -> None:
    """2 + PLU 100234 + amount 01250 + weight 00512 g + C. Check digit over the 17 digits
    from the right: 2*3+1+5*3+0+0+0+5*3+2+1*3+0+4*3+3+2*3+0+0+1+2*3 = 70 -> 0. The price
    is what is paid; the weight printed beside it is kept for the record."""
    layout = Gs1Layout.from_specs(("2:FIIIIIIPPPPPC", "2:FIIIIIIPPPPPWWWWWC"))
    for raw in ("210023401250005120", "]C0210023401250005120"):
        scan = parse_barcode(raw, layout)
        assert scan.is_variable_measure
        assert (scan.item_code, scan.embedded_price_fen) == ("100234", 1250)
        assert (scan.embedded_weight_g, scan.label_weight_g) == (None, 512)
    with pytest.raises(BarcodeError, match="bad check digit: expected 0, got 1"):
        parse_barcode("210023401250005121", layout)


def test_upca_number_system_2_is_a_variable_measure_code() -> None:
    """2 IIIII V PPPP C: price 0299: 2-(0)=0, 2-(2)=4, 3(9)=7, 5-(9)=45-4=41->1; 3 x 12 = 36
    -> 6. Check digit of 21234560299: 27+9+6+0+18+5+12+3+6+1+6 = 93 -> 7. Without a 12-digit
    layout it is refused: it is no manufacturer's product number."""
    with pytest.raises(BarcodeError, match=r"number system 2.*none of this store's"):
        parse_barcode("212345602997")
    layout = Gs1Layout(labels=(LabelLayout.parse("2:FIIIIIVPPPPC"),))
    for raw in ("212345602997", "0212345602997", "]E00212345602997"):
        scan = parse_barcode(raw, layout)
        assert (scan.item_code, scan.embedded_price_fen) == ("12345", 299), raw
    assert parse_barcode("036000291452", layout).symbology == "upca"  # number system 0


def test_a_restricted_code_no_layout_reads_is_refused_not_guessed() -> None:
    layout = Gs1Layout.from_specs(("21:FFIIIIIVPPPPC",))
    # 2012345012509 is a valid EAN-13 (check digit 9) with prefix 20: no layout for it.
    with pytest.raises(BarcodeError, match="EAN-13 2012345012509 is a store's own code"):
        parse_barcode("2012345012509", layout)


def test_layouts_that_read_the_same_codes_are_refused() -> None:
    with pytest.raises(BarcodeError, match="both read codes starting 21"):
        Gs1Layout.from_specs(("21:FFIIIIIVPPPPC", "2:FIIIIIIPPPPPC"))
    with pytest.raises(BarcodeError, match="both read codes starting 21"):
        Gs1Layout(labels=(LabelLayout.parse("21:FFIIIIIVPPPPC"),))  # the default has 20-24
    Gs1Layout.from_specs(("2:FIIIIIIPPPPPC", "2:FIIIIIIPPPPPWWWWWC"))  # different lengths


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("21:FFIIIIIVPPPC", "one V checks 4 or 5 price"),
        ("31:FIIIIIIPPPPPC", "start with 2"),
        ("2:FIIIIPPPPPIIC", "I digits must be together"),
        ("2:FIIIIIIPPPPPX", "only the letters"),
        ("2:FIIIIIIPPPPCP", "exactly one C, the last digit"),
        ("2:IFIIIIIPPPPPC", "the F digits come first"),
        ("2 FIIIIIIPPPPPC", "write PREFIXES:PATTERN"),
        ("24-20:FIIIIIIPPPPPC", "ranges like 20-24"),
    ],
)
def test_bad_layouts_say_what_is_wrong(spec: str, problem: str) -> None:
    with pytest.raises(BarcodeError, match=problem):
        LabelLayout.parse(spec)


def test_gs1_128_net_weight_and_price() -> None:
    """(01) 06901234567892, (3103) 000512 = 0.512 kg = 512 g, (3922) 1250 = 12.50 yuan.
    (3102) 001250 = 12.50 kg; (3101) 000125 = 12.5 kg; (3923) 12340 = 12.340 yuan."""
    gtin = "0106901234567892"
    scan = parse_barcode("]C1" + gtin + "3103000512")
    assert (scan.code, scan.item_code) == ("6901234567892", "6901234567892")
    assert (scan.embedded_weight_g, scan.embedded_price_fen) == (512, None)
    scan = parse_barcode("]C1" + gtin + "3103000512" + "39221250")
    assert (scan.embedded_price_fen, scan.embedded_weight_g, scan.label_weight_g) == (
        1250,
        None,
        512,
    )
    assert parse_barcode("]C1" + gtin + "3102001250").embedded_weight_g == 12_500
    assert parse_barcode("]C1" + gtin + "3101000125").embedded_weight_g == 12_500
    assert parse_barcode("]C1" + gtin + "392312340").embedded_price_fen == 1234
    lot = parse_barcode("]C1" + gtin + "10LOT7" + GS + "3103000250")
    assert lot.embedded_weight_g == 250  # a variable-length AI ends at FNC1


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ("010690123456789239231234" + "5", "finer than the till can take"),  # 12.345 yuan
        ("01069012345678923105000001", "finer than the till can take"),  # 0.01 g
        ("0106901234567892" + "3103000512" + "3102000051", "more than one net weight"),
        ("0106901234567892" + "0106901234567892", "appears twice"),
        ("3103000512", "without a \\(01\\) GTIN"),
        ("0106901234567892" + "05123", "no Application Identifier"),
        ("01069012345678", "needs 14 characters"),
    ],
)
def test_gs1_128_that_cannot_be_read_exactly_is_refused(payload: str, problem: str) -> None:
    with pytest.raises(BarcodeError, match=problem):
        parse_barcode("]C1" + payload)


def test_an_ean_or_upc_with_an_add_on_gives_its_main_code() -> None:
    """]E3: EAN-13 + 2 (15 digits), UPC-A + 5 (17), UPC-E + 2 (10); the check digit of the
    main code is still checked."""
    scan = parse_barcode("]E3690123456789212")
    assert (scan.symbology, scan.code, scan.addon) == ("ean13", "6901234567892", "12")
    scan = parse_barcode("]E303600029145251234")
    assert (scan.symbology, scan.code, scan.addon) == ("upca", "036000291452", "51234")
    scan = parse_barcode("]E30425261407")
    assert (scan.symbology, scan.code, scan.addon) == ("upce", "042100005264", "07")
    with pytest.raises(BarcodeError, match="bad check digit: expected 2, got 3"):
        parse_barcode("]E3690123456789312")
    with pytest.raises(BarcodeError, match="wrong length: 16 digits for a code with an add-on"):
        parse_barcode("]E36901234567892123")


def test_a_store_sets_its_layouts_in_the_terminal_file(tmp_path: Path) -> None:
    path = tmp_path / "terminal.toml"
    head = '[terminal]\nstore_id = "S009"\nterminal_id = "S009-T01"\n[store]\ndb_path = "t.db"\n'
    path.write_text(
        head + '[barcodes]\nscale_labels = ["2:FIIIIIIPPPPPC", "2:FIIIIIIPPPPPWWWWWC"]\n'
    )
    layout = checkout_config(load_config(path)).gs1
    assert parse_barcode("2100234012508", layout).embedded_price_fen == 1250
    assert parse_barcode("210023401250005120", layout).label_weight_g == 512
    path.write_text(head + '[barcodes]\nscale_labels = ["21:FFIIIIIVPPPPC", "2:FIIIIIIPPPPPC"]\n')
    with pytest.raises(ConfigError, match=r"barcodes\.scale_labels: .*both read codes starting 21"):
        load_config(path)
