"""Barcode parsing: EAN-13/8, UPC-A/E, Code 128, GS1 variable measure, member and receipt codes.

Hand-written rather than taken from a library: the GS1 check-digit and UPC-E rules are a
few lines each (GS1 General Specifications, section 7.9 "check digit calculation" and
the UPC-E zero-suppression table), and the available Python barcode packages either
generate images only or pull in native decoders the till does not need; the scanner
has already decoded the symbol and hands us its text.

What a scan looks like on the wire
----------------------------------
* An optional AIM symbology identifier ``]Xm`` (ISO/IEC 15424) comes first when the
  scanner is configured to send it: ``]E0`` EAN-13/UPC-A/UPC-E, ``]E4`` EAN-8,
  ``]C0`` Code 128, ``]C1`` GS1-128, ``]A0`` Code 39, ``]Q1`` QR, ... It is stripped;
  with ``]E0`` an 8-digit payload is UPC-E (``]E4`` marks EAN-8).
* Without an identifier, digits only: 8 -> EAN-8 (or UPC-E when only the UPC-E check digit
  fits and it starts 0 or 1), 12 -> UPC-A, 13 -> EAN-13. A 13-digit
  code starting with ``0`` is a UPC-A read as EAN-13 and is normalised to its 12 digits,
  so the catalogue holds one form per item. Other digit counts are rejected as a wrong
  length (a typed code with a missing digit must not ring up something else), unless the
  layout lists that length in ``numeric_code128_lengths`` (a store's own numeric labels).
* Anything else of printable ASCII is Code 128 content. The scanner checks the Code 128
  check character; we only see text. With ``]C1`` the payload is GS1-128: if it starts
  with AI (01) and a valid GTIN-14, the item code is that GTIN in its EAN-13 form.
* Variable-measure EAN-13 (GS1 prefix 2, restricted circulation in the store) are laid
  out by :class:`Gs1Layout`. The default is ``2`` + 6-digit item code + 5-digit value +
  check digit; codes starting ``20``..``24`` carry a price in fen, ``25``..``29`` a weight
  in grams. Scales that print a 2-digit flag and 5-digit PLU are configured with
  ``flag_digits=2, item_digits=5``. A price check digit inside the value is not used.
* Member QR/barcodes read ``M:<code>`` (``MEMBER:<code>`` also accepted) and receipt
  barcodes ``R:<receipt_no>``; see :func:`member_code_from_scan` and
  :func:`receipt_no_from_scan`. :func:`classify_scan` routes any scan to one of the three.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from device.checkout.errors import BarcodeError

_AIM_RE: Final = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
_MEMBER_RE: Final = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
_RECEIPT_RE: Final = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_/-]{0,47}$")
# The store's own receipt-number form (terminal-date-counter, e.g. S001-T01-20261123-0042),
# recognised without the R: prefix so a receipt printed with a bare number still starts a
# return when scanned at an idle till. It always holds a letter, so no product code matches.
_BARE_RECEIPT_RE: Final = re.compile(r"^(?=[^-]*[A-Za-z])[0-9A-Za-z_-]{1,32}-\d{8}-\d{4,6}$")
_GS: Final = "\x1d"  # FNC1 as transmitted inside a GS1-128 payload

SYMBOLOGIES: Final = ("ean13", "ean8", "upca", "upce", "code128", "gs1_variable")


@dataclass(frozen=True, slots=True)
class Gs1Layout:
    """How the store's scales lay out GS1 variable-measure EAN-13 codes."""

    flag: str = "2"  # first digit(s) marking a variable-measure code
    flag_digits: int = 1  # how many leading digits are flag, not item code
    item_digits: int = 6
    value_digits: int = 5
    price_prefixes: tuple[str, ...] = ("20", "21", "22", "23", "24")  # value is fen
    weight_prefixes: tuple[str, ...] = ("25", "26", "27", "28", "29")  # value is grams
    numeric_code128_lengths: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.flag_digits + self.item_digits + self.value_digits + 1 != 13:
            raise BarcodeError("GS1 layout: flag + item + value + check digit must be 13 digits")
        if self.flag_digits < 1 or self.item_digits < 1 or self.value_digits < 1:
            raise BarcodeError("GS1 layout: every part needs at least one digit")
        if not self.flag.isdigit():
            raise BarcodeError("GS1 layout: the flag must be digits")
        overlap = set(self.price_prefixes) & set(self.weight_prefixes)
        if overlap:
            raise BarcodeError(f"GS1 layout: prefixes both price and weight: {sorted(overlap)}")
        for prefix in (*self.price_prefixes, *self.weight_prefixes):
            if not prefix.isdigit() or not prefix.startswith(self.flag):
                raise BarcodeError(f"GS1 layout: prefix {prefix!r} must be digits after the flag")

    def kind_of(self, code13: str) -> str | None:
        """Return "price", "weight" or None (not variable measure) for a 13-digit code."""
        if any(code13.startswith(p) for p in self.price_prefixes):
            return "price"
        if any(code13.startswith(p) for p in self.weight_prefixes):
            return "weight"
        return None


@dataclass(frozen=True, slots=True)
class ScannedCode:
    """A validated, normalised scan of a product barcode."""

    symbology: str
    code: str  # normalised: AIM prefix stripped, UPC-E expanded to UPC-A
    item_code: str  # what to look up: the code itself, or a variable-measure item code
    embedded_price_fen: int | None = None
    embedded_weight_g: int | None = None

    @property
    def is_variable_measure(self) -> bool:
        """True for a GS1 variable-measure code (look up ``item_code`` by SKU)."""
        return self.symbology == "gs1_variable"


@dataclass(frozen=True, slots=True)
class MemberScan:
    """A scanned member QR or barcode."""

    member_code: str


@dataclass(frozen=True, slots=True)
class ReceiptScan:
    """A scanned receipt barcode or QR, for a return."""

    receipt_no: str


def gtin_check_digit(body: str) -> int:
    """Return the GS1 mod-10 check digit for ``body`` (a GTIN without its check digit).

    GS1 General Specifications 7.9.1: weights 3 and 1 alternate from the rightmost
    digit of the body; the check digit brings the weighted sum up to a multiple of 10.
    """
    if not body or not body.isdigit() or not body.isascii():
        raise BarcodeError(f"not digits: {body!r}")
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def _check(code: str, name: str) -> None:
    expected = gtin_check_digit(code[:-1])
    got = int(code[-1])
    if expected != got:
        raise BarcodeError(f"bad check digit: expected {expected}, got {got} ({name} {code})")


def upce_to_upca(code: str) -> str:
    """Expand a UPC-E code to its 12-digit UPC-A form (GS1 General Specifications 5.2.2.4.2).

    Accepts 8 digits (number system, 6 digits, check digit; the check digit is validated
    against the expansion), 7 digits (check digit computed) or 6 digits (number system 0).
    """
    if not code.isdigit() or not code.isascii():
        raise BarcodeError(f"UPC-E must be digits: {code!r}")
    if len(code) == 6:
        code = "0" + code
    if len(code) not in (7, 8):
        raise BarcodeError(f"wrong length for UPC-E: {len(code)} digits")
    system, d = code[0], code[1:7]
    if system not in "01":
        raise BarcodeError(f"UPC-E number system must be 0 or 1, got {system}")
    last = d[5]
    if last in "012":
        body = f"{system}{d[0:2]}{last}0000{d[2:5]}"
    elif last == "3":
        body = f"{system}{d[0:3]}00000{d[3:5]}"
    elif last == "4":
        body = f"{system}{d[0:4]}00000{d[4]}"
    else:
        body = f"{system}{d[0:5]}0000{last}"
    check = gtin_check_digit(body)
    if len(code) == 8 and int(code[7]) != check:
        raise BarcodeError(f"bad check digit: expected {check}, got {code[7]} (UPC-E {code})")
    return f"{body}{check}"


def _strip_aim(raw: str) -> tuple[str | None, str]:
    text = raw.strip("\r\n\t ")
    match = _AIM_RE.match(text)
    if match:
        return text[1:3], text[3:]
    return None, text


def _variable(code13: str, layout: Gs1Layout) -> ScannedCode | None:
    kind = layout.kind_of(code13)
    if kind is None:
        return None
    start = layout.flag_digits
    item = code13[start : start + layout.item_digits]
    value = int(code13[start + layout.item_digits : 12])
    return ScannedCode(
        symbology="gs1_variable",
        code=code13,
        item_code=item,
        embedded_price_fen=value if kind == "price" else None,
        embedded_weight_g=value if kind == "weight" else None,
    )


def _ean13(code: str, layout: Gs1Layout) -> ScannedCode:
    _check(code, "EAN-13")
    if code.startswith("0"):
        return ScannedCode("upca", code[1:], code[1:])
    variable = _variable(code, layout)
    if variable is not None:
        return variable
    return ScannedCode("ean13", code, code)


def _eight_digits(payload: str) -> ScannedCode:
    """EAN-8, or else a UPC-E sent without its AIM identifier (it starts 0 or 1)."""
    try:
        _check(payload, "EAN-8")
    except BarcodeError:
        if payload[0] not in "01":
            raise
        try:
            upca = upce_to_upca(payload)
        except BarcodeError:
            _check(payload, "EAN-8")  # neither: report it as the EAN-8 it looks like
            raise
        return ScannedCode("upce", upca, upca)
    return ScannedCode("ean8", payload, payload)


def _gs1_128(payload: str) -> ScannedCode:
    # Only AI (01) is interpreted; other AIs (batch, expiry, ...) stay in ``code``.
    first = payload.split(_GS, 1)[0]
    if first.startswith("01") and len(first) >= 16 and first[2:16].isdigit():
        gtin = first[2:16]
        _check(gtin, "GTIN-14")
        item = gtin[1:] if gtin.startswith("0") else gtin
        if item.startswith("0"):
            item = item[1:]
        return ScannedCode("code128", payload, item)
    return ScannedCode("code128", payload, payload)


def _code128(payload: str, gs1: bool) -> ScannedCode:
    if not payload:
        raise BarcodeError("empty Code 128 payload")
    allowed_gs = gs1
    for ch in payload:
        if not (" " <= ch <= "~") and not (allowed_gs and ch == _GS):
            raise BarcodeError(f"unreadable character {ch!r} in Code 128 payload")
    return _gs1_128(payload) if gs1 else ScannedCode("code128", payload, payload)


def parse_barcode(raw: str, layout: Gs1Layout = Gs1Layout()) -> ScannedCode:
    """Validate and normalise one product scan, or raise BarcodeError saying what is wrong."""
    aim, payload = _strip_aim(raw)
    if not payload:
        raise BarcodeError("empty scan")
    digits = payload.isdigit() and payload.isascii()
    if aim is not None and aim[0] == "E":
        if not digits:
            raise BarcodeError(f"EAN/UPC scan must be digits: {payload!r}")
        if aim == "E4":
            if len(payload) != 8:
                raise BarcodeError(f"wrong length: {len(payload)} digits (EAN-8 has 8)")
            _check(payload, "EAN-8")
            return ScannedCode("ean8", payload, payload)
        if len(payload) == 8:
            upca = upce_to_upca(payload)
            return ScannedCode("upce", upca, upca)
        if len(payload) == 12:
            _check(payload, "UPC-A")
            return ScannedCode("upca", payload, payload)
        if len(payload) == 13:
            return _ean13(payload, layout)
        raise BarcodeError(f"wrong length: {len(payload)} digits (EAN/UPC has 8, 12 or 13)")
    if aim is not None and aim[0] == "C":
        return _code128(payload, gs1=aim == "C1")
    if aim is not None:
        raise BarcodeError(f"unknown format: symbology ]{aim} is not one this till sells by")
    if digits:
        if len(payload) == 8:
            return _eight_digits(payload)
        if len(payload) == 12:
            _check(payload, "UPC-A")
            return ScannedCode("upca", payload, payload)
        if len(payload) == 13:
            return _ean13(payload, layout)
        if len(payload) in layout.numeric_code128_lengths:
            return ScannedCode("code128", payload, payload)
        raise BarcodeError(f"wrong length: {len(payload)} digits (EAN/UPC has 8, 12 or 13)")
    if all(" " <= ch <= "~" for ch in payload):
        return ScannedCode("code128", payload, payload)
    raise BarcodeError(f"unknown format: {payload[:40]!r} is not a barcode this till reads")


def _prefixed(raw: str, prefixes: tuple[str, ...]) -> str | None:
    _, text = _strip_aim(raw)
    upper = text.upper()
    for prefix in prefixes:
        if upper.startswith(prefix):
            return text[len(prefix) :].strip()
    return None


def member_code_from_scan(raw: str) -> str | None:
    """Return the member code of a member QR/barcode (``M:<code>``), or None for other scans.

    The code is 1-32 letters, digits, ``-`` or ``_``; a scan with the prefix but an
    unusable code raises BarcodeError so the cashier sees why nothing happened.
    """
    code = _prefixed(raw, ("MEMBER:", "M:"))
    if code is None:
        return None
    if not _MEMBER_RE.match(code):
        raise BarcodeError(f"not a valid member code: {code[:40]!r}")
    return code


def receipt_no_from_scan(raw: str) -> str | None:
    """Return the receipt number of a receipt barcode/QR, or None for other scans.

    Accepts ``R:<receipt_no>`` and a bare receipt number in the store's own
    terminal-date-counter form.
    """
    receipt = _prefixed(raw, ("R:",))
    if receipt is None:
        _, text = _strip_aim(raw)
        return text.strip() if _BARE_RECEIPT_RE.match(text.strip()) else None
    if not _RECEIPT_RE.match(receipt):
        raise BarcodeError(f"not a valid receipt number: {receipt[:48]!r}")
    return receipt


def member_scan_text(member_code: str) -> str:
    """The text to encode in a member QR/barcode (the inverse of member_code_from_scan)."""
    if not _MEMBER_RE.match(member_code):
        raise BarcodeError(f"not a valid member code: {member_code[:40]!r}")
    return f"M:{member_code}"


def receipt_scan_text(receipt_no: str) -> str:
    """The text a receipt prints as its barcode/QR (the inverse of receipt_no_from_scan)."""
    if not _RECEIPT_RE.match(receipt_no):
        raise BarcodeError(f"not a valid receipt number: {receipt_no[:48]!r}")
    return f"R:{receipt_no}"


def classify_scan(
    raw: str,
    layout: Gs1Layout = Gs1Layout(),
) -> ScannedCode | MemberScan | ReceiptScan:
    """Route a scan: a member code, a receipt for a return, or a product barcode."""
    member = member_code_from_scan(raw)
    if member is not None:
        return MemberScan(member)
    receipt = receipt_no_from_scan(raw)
    if receipt is not None:
        return ReceiptScan(receipt)
    return parse_barcode(raw, layout)


def build_variable_code(item_code: str, value: int, prefix: str, layout: Gs1Layout) -> str:
    """Build a variable-measure EAN-13 as a scale would print it (used by tests and the simulator).

    ``prefix`` is the leading digits that select price or weight (e.g. "20" or "25") and
    must agree with the first digits of ``flag + item_code``.
    """
    if len(item_code) != layout.item_digits or not item_code.isdigit():
        raise BarcodeError(f"item code must be {layout.item_digits} digits: {item_code!r}")
    if not 0 <= value < 10**layout.value_digits:
        raise BarcodeError(f"value {value} does not fit {layout.value_digits} digits")
    flag = prefix[: layout.flag_digits].ljust(layout.flag_digits, "0")
    body = f"{flag}{item_code}{value:0{layout.value_digits}d}"
    if not body.startswith(prefix):
        raise BarcodeError(f"item code {item_code} does not fit prefix {prefix}")
    return f"{body}{gtin_check_digit(body)}"
