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
  check character; we only see text. With ``]C1`` the payload is GS1-128 (see gs1_128):
  its (01) GTIN in EAN-13 form is the code, with (310n) net weight or (392n) price.
* ``]E3`` is EAN/UPC with a 2- or 5-digit add-on (ISO/IEC 15420): the main code is read
  and the add-on kept beside it; the length says which main code it is.
* Restricted-circulation codes (EAN-13 prefixes 20..29, UPC-A number system 2, and numeric
  scale labels of other lengths) are read by the store's scale-label layouts
  (:class:`Gs1Layout`, scale_labels): exactly one layout reads a code, or it is refused.
  The default is ``2`` + 6-digit item code + 5-digit value + check digit; codes starting
  ``20``..``24`` carry a price in fen, ``25``..``29`` a weight in grams. A layout with a
  price verifier digit (``V``) has it checked (GS1 General Specifications 7.9.3).
* Member QR/barcodes read ``M:<code>`` (``MEMBER:<code>`` also accepted) and receipt
  barcodes ``R:<receipt_no>``; see :func:`member_code_from_scan` and
  :func:`receipt_no_from_scan`. :func:`classify_scan` routes any scan to one of the three.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Final

from device.checkout.errors import BarcodeError
from device.checkout.gs1_128 import read_item
from device.checkout.scale_labels import LabelLayout, gtin_check_digit

__all__ = [
    "SYMBOLOGIES", "Gs1Layout", "LabelLayout", "MemberScan", "ReceiptScan", "ScannedCode",
    "build_variable_code", "classify_scan", "gtin_check_digit", "member_code_from_scan",
    "member_scan_text", "parse_barcode", "receipt_no_from_scan", "receipt_scan_text",
    "upce_to_upca",
]  # fmt: skip

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
    """How the store's scale labels and other in-store codes are read.

    The first fields describe the standard 13-digit layout (flag, item, value, check digit;
    price or weight by prefix); ``labels`` adds the store's other layouts. Leaving both
    prefix tuples empty drops the standard layout. No two layouts may read the same code.
    """

    flag: str = "2"  # first digit(s) marking a variable-measure code
    flag_digits: int = 1  # how many leading digits are flag, not item code
    item_digits: int = 6
    value_digits: int = 5
    price_prefixes: tuple[str, ...] = ("20", "21", "22", "23", "24")  # value is fen
    weight_prefixes: tuple[str, ...] = ("25", "26", "27", "28", "29")  # value is grams
    numeric_code128_lengths: frozenset[int] = frozenset()
    labels: tuple[LabelLayout, ...] = ()
    _layouts: tuple[LabelLayout, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.flag_digits + self.item_digits + self.value_digits + 1 != 13:
            raise BarcodeError("GS1 layout: flag + item + value + check digit must be 13 digits")
        if self.flag_digits < 1 or self.item_digits < 1 or self.value_digits < 1:
            raise BarcodeError("GS1 layout: every part needs at least one digit")
        if not self.flag.isdigit():
            raise BarcodeError("GS1 layout: the flag must be digits")
        overlap = set(self.price_prefixes) & set(self.weight_prefixes)
        if overlap:
            raise BarcodeError(
                "GS1 layout: prefixes both price and weight: {overlap}", overlap=sorted(overlap)
            )
        for prefix in (*self.price_prefixes, *self.weight_prefixes):
            if not prefix.isdigit() or not prefix.startswith(self.flag):
                raise BarcodeError(
                    "GS1 layout: prefix {prefix!r} must be digits after the flag", prefix=prefix
                )
        head = "F" * self.flag_digits + "I" * self.item_digits
        standard = [
            LabelLayout(prefixes, head + letter * self.value_digits + "C")
            for prefixes, letter in ((self.price_prefixes, "P"), (self.weight_prefixes, "W"))
            if prefixes
        ]
        layouts = (*standard, *self.labels)
        for i, one in enumerate(layouts):
            for other in layouts[i + 1 :]:
                start = one.overlaps(other)
                if start is not None:
                    raise BarcodeError(
                        "scale-label layouts {spec} and {spec2} both read codes starting {start}: "
                        "each code must have exactly one layout",
                        spec=one.spec,
                        spec2=other.spec,
                        start=start,
                    )
        object.__setattr__(self, "_layouts", layouts)

    @classmethod
    def from_specs(
        cls, specs: tuple[str, ...], numeric_code128_lengths: frozenset[int] = frozenset()
    ) -> Gs1Layout:
        """The store's layouts from configuration text (``PREFIXES:PATTERN`` each)."""
        labels = tuple(LabelLayout.parse(spec) for spec in specs)
        return cls(
            price_prefixes=(), weight_prefixes=(), labels=labels,
            numeric_code128_lengths=numeric_code128_lengths,
        )  # fmt: skip

    @property
    def layouts(self) -> tuple[LabelLayout, ...]:
        """Every layout in use: the standard one (unless dropped) and the store's own."""
        return self._layouts

    def layout_for(self, code: str) -> LabelLayout | None:
        """The one layout that reads ``code``, or None."""
        for layout in self._layouts:
            if layout.reads(code):
                return layout
        return None

    def kind_of(self, code13: str) -> str | None:
        """Return "price", "weight" or None (not variable measure) for a 13-digit code."""
        layout = self.layout_for(code13)
        if layout is None:
            return None
        return "price" if "P" in layout.pattern else "weight" if "W" in layout.pattern else None


@dataclass(frozen=True, slots=True)
class ScannedCode:
    """A validated, normalised scan of a product barcode."""

    symbology: str
    code: str  # normalised: AIM prefix stripped, UPC-E expanded to UPC-A, GS1-128 to its GTIN
    item_code: str  # what to look up: the code itself, or a variable-measure item code
    embedded_price_fen: int | None = None
    embedded_weight_g: int | None = None
    label_weight_g: int | None = None  # the weight printed beside a price, for the record
    addon: str = ""  # a 2- or 5-digit EAN/UPC add-on read with the code

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


def _check(code: str, name: str) -> None:
    expected = gtin_check_digit(code[:-1])
    got = int(code[-1])
    if expected != got:
        raise BarcodeError(
            "bad check digit: expected {expected}, got {got} ({name} {code})",
            expected=expected,
            got=got,
            name=name,
            code=code,
        )


def upce_to_upca(code: str) -> str:
    """Expand a UPC-E code to its 12-digit UPC-A form (GS1 General Specifications 5.2.2.4.2).

    Accepts 8 digits (number system, 6 digits, check digit; the check digit is validated
    against the expansion), 7 digits (check digit computed) or 6 digits (number system 0).
    """
    if not code.isdigit() or not code.isascii():
        raise BarcodeError("UPC-E must be digits: {code!r}", code=code)
    if len(code) == 6:
        code = "0" + code
    if len(code) not in (7, 8):
        raise BarcodeError("wrong length for UPC-E: {code_len} digits", code_len=len(code))
    system, d = code[0], code[1:7]
    if system not in "01":
        raise BarcodeError("UPC-E number system must be 0 or 1, got {system}", system=system)
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
        raise BarcodeError(
            "bad check digit: expected {check}, got {code} (UPC-E {code2})",
            check=check,
            code=code[7],
            code2=code,
        )
    return f"{body}{check}"


def _strip_aim(raw: str) -> tuple[str | None, str]:
    text = raw.strip("\r\n\t ")
    match = _AIM_RE.match(text)
    if match:
        return text[1:3], text[3:]
    return None, text


def _restricted(code: str, layout: Gs1Layout, what: str) -> ScannedCode:
    """A restricted-circulation code (check digit already verified), read by its one layout."""
    label = layout.layout_for(code)
    if label is None:
        raise BarcodeError(
            "{what} {code} is a store's own code (restricted circulation) and none of this store's "
            "scale-label layouts reads it",
            what=what,
            code=code,
        )
    fields = label.decode(code)
    price, weight = fields.price_fen, fields.weight_g
    return ScannedCode(
        symbology="gs1_variable",
        code=code,
        item_code=fields.item_code,
        embedded_price_fen=price,
        # With a price on the label the price is what is paid; the weight is kept beside it.
        embedded_weight_g=weight if price is None else None,
        label_weight_g=weight if price is not None else None,
    )


def _upca(code: str, layout: Gs1Layout) -> ScannedCode:
    _check(code, "UPC-A")
    if code.startswith("2"):  # number system 2: variable-measure, restricted circulation
        return _restricted(code, layout, "UPC-A with number system 2,")
    return ScannedCode("upca", code, code)


def _ean13(code: str, layout: Gs1Layout) -> ScannedCode:
    _check(code, "EAN-13")
    if code.startswith("0"):
        return _upca(code[1:], layout)
    if code.startswith("2"):
        return _restricted(code, layout, "EAN-13")
    return ScannedCode("ean13", code, code)


def _numeric_label(payload: str, layout: Gs1Layout) -> ScannedCode | None:
    """A numeric scale label of another length (e.g. 18 digits), if a layout reads it."""
    if layout.layout_for(payload) is None:
        return None
    _check(payload, f"{len(payload)}-digit scale label")
    return _restricted(payload, layout, "scale label")


def _with_addon(payload: str, layout: Gs1Layout) -> ScannedCode:
    """]E3: an EAN/UPC code followed by its 2- or 5-digit add-on; the length says which."""
    mains = {15: 13, 18: 13, 14: 12, 17: 12, 10: 8, 13: 8}
    main_len = mains.get(len(payload))
    if main_len is None:
        raise BarcodeError(
            "wrong length: {payload_len} digits for a code with an add-on (]E3): "
            "EAN-13, UPC-A or UPC-E with 2 or 5 more",
            payload_len=len(payload),
        )
    main, addon = payload[:main_len], payload[main_len:]
    if main_len == 13:
        scanned = _ean13(main, layout)
    elif main_len == 12:
        scanned = _upca(main, layout)
    else:
        upca = upce_to_upca(main)
        scanned = ScannedCode("upce", upca, upca)
    return replace(scanned, addon=addon)


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
    item = read_item(payload)
    if item is None:  # no (01): batch, serial or other data, kept as it is
        return ScannedCode("code128", payload, payload)
    price, weight = item.price_fen, item.weight_g
    return ScannedCode(
        "code128",
        item.gtin,
        item.gtin,
        embedded_price_fen=price,
        embedded_weight_g=weight if price is None else None,
        label_weight_g=weight if price is not None else None,
    )


def _code128(payload: str, gs1: bool) -> ScannedCode:
    if not payload:
        raise BarcodeError("empty Code 128 payload")
    allowed_gs = gs1
    for ch in payload:
        if not (" " <= ch <= "~") and not (allowed_gs and ch == _GS):
            raise BarcodeError("unreadable character {ch!r} in Code 128 payload", ch=ch)
    return _gs1_128(payload) if gs1 else ScannedCode("code128", payload, payload)


def parse_barcode(raw: str, layout: Gs1Layout = Gs1Layout()) -> ScannedCode:
    """Validate and normalise one product scan, or raise BarcodeError saying what is wrong."""
    aim, payload = _strip_aim(raw)
    if not payload:
        raise BarcodeError("empty scan")
    digits = payload.isdigit() and payload.isascii()
    if aim is not None and aim[0] == "E":
        if not digits:
            raise BarcodeError("EAN/UPC scan must be digits: {payload!r}", payload=payload)
        if aim == "E3":
            return _with_addon(payload, layout)
        if aim == "E4":
            if len(payload) != 8:
                raise BarcodeError(
                    "wrong length: {payload_len} digits (EAN-8 has 8)", payload_len=len(payload)
                )
            _check(payload, "EAN-8")
            return ScannedCode("ean8", payload, payload)
        if len(payload) == 8:
            upca = upce_to_upca(payload)
            return ScannedCode("upce", upca, upca)
        if len(payload) == 12:
            return _upca(payload, layout)
        if len(payload) == 13:
            return _ean13(payload, layout)
        raise BarcodeError(
            "wrong length: {payload_len} digits (EAN/UPC has 8, 12 or 13)", payload_len=len(payload)
        )
    if aim is not None and aim[0] == "C":
        if aim == "C0" and digits:
            label = _numeric_label(payload, layout)
            if label is not None:
                return label
        return _code128(payload, gs1=aim == "C1")
    if aim is not None:
        raise BarcodeError(
            "unknown format: symbology ]{aim} is not one this till sells by", aim=aim
        )
    if digits:
        if len(payload) == 8:
            return _eight_digits(payload)
        if len(payload) == 12:
            return _upca(payload, layout)
        if len(payload) == 13:
            return _ean13(payload, layout)
        label = _numeric_label(payload, layout)
        if label is not None:
            return label
        if len(payload) in layout.numeric_code128_lengths:
            return ScannedCode("code128", payload, payload)
        raise BarcodeError(
            "wrong length: {payload_len} digits (EAN/UPC has 8, 12 or 13)", payload_len=len(payload)
        )
    if all(" " <= ch <= "~" for ch in payload):
        return ScannedCode("code128", payload, payload)
    raise BarcodeError(
        "unknown format: {payload!r} is not a barcode this till reads", payload=payload[:40]
    )


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
        raise BarcodeError("not a valid member code: {code!r}", code=code[:40])
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
        raise BarcodeError("not a valid receipt number: {receipt!r}", receipt=receipt[:48])
    return receipt


def member_scan_text(member_code: str) -> str:
    """The text to encode in a member QR/barcode (the inverse of member_code_from_scan)."""
    if not _MEMBER_RE.match(member_code):
        raise BarcodeError("not a valid member code: {member_code!r}", member_code=member_code[:40])
    return f"M:{member_code}"


def receipt_scan_text(receipt_no: str) -> str:
    """The text a receipt prints as its barcode/QR (the inverse of receipt_no_from_scan)."""
    if not _RECEIPT_RE.match(receipt_no):
        raise BarcodeError("not a valid receipt number: {receipt_no!r}", receipt_no=receipt_no[:48])
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
    """Build a variable-measure code as a scale would print it (tests and the simulator).

    ``prefix`` selects the layout (e.g. "20" for a price, "25" for a weight in the default)
    and must agree with the first digits of the code.
    """
    code = prefix + "0" * 20
    for label in layout.layouts:
        if label.reads(code[: len(label.pattern)]):
            price = value if "P" in label.pattern else None
            weight = value if "W" in label.pattern and price is None else None
            built = label.build(item_code, price, weight)
            if not built.startswith(prefix):
                raise BarcodeError(
                    "item code {item_code} does not fit prefix {prefix}",
                    item_code=item_code,
                    prefix=prefix,
                )
            return built
    raise BarcodeError("no scale-label layout reads codes starting {prefix}", prefix=prefix)
