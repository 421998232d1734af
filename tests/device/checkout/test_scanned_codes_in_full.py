"""A scan is read whole: its symbology, its normalised code and the code looked up."""

from __future__ import annotations

import pytest

from device.checkout.barcodes import ScannedCode, parse_barcode
from device.checkout.errors import BarcodeError


@pytest.mark.parametrize(
    ("raw", "scanned"),
    [
        ("96385074", ScannedCode("ean8", "96385074", "96385074")),
        ("]E496385074", ScannedCode("ean8", "96385074", "96385074")),
        ("036000291452", ScannedCode("upca", "036000291452", "036000291452")),
        # 0 1234 56 5 is a valid EAN-8 as well as a UPC-E: EAN-8 is read first
        ("01234565", ScannedCode("ean8", "01234565", "01234565")),
        ("]C0A B~", ScannedCode("code128", "A B~", "A B~")),
        ("]C0 lot 7", ScannedCode("code128", " lot 7", " lot 7")),  # a space is data
    ],
)
def test_a_scan_is_read_whole(raw: str, scanned: ScannedCode) -> None:
    assert parse_barcode(raw) == scanned


@pytest.mark.parametrize("raw", ["]C0A\x1dB", "]C0A\x01B", "]C0A\x7fB"])
def test_code_128_outside_printable_ascii_is_refused(raw: str) -> None:
    with pytest.raises(BarcodeError):
        parse_barcode(raw)
