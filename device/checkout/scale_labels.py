"""Scale-label (restricted-circulation) barcode layouts: which codes they read, and their fields.

A store's scales print codes whose layout is agreed inside the store (GS1 General
Specifications 2.1.14.2, restricted circulation numbers, prefixes 20..29 and UPC-A number
system 2). Each layout is written as a pattern with one letter per digit:

* ``F`` a flag digit (selects the layout; not part of the item code)
* ``I`` the item code (the scale's PLU, looked up as the product's SKU)
* ``P`` the price in fen, ``W`` the weight in grams
* ``V`` the price verifier digit over ``P`` (GS1 General Specifications 7.9.3; 4 or 5 digits)
* ``C`` the GS1 check digit over everything before it (7.9.1)

and the leading digits that select it, e.g. ``21:FFIIIIIVPPPPC`` (GS1 price layout with a
verifier), ``20-24:FIIIIIIPPPPPC`` (the default), ``2:FIIIIIIPPPPPWWWWWC`` (the 18-digit
Chinese scale label with amount and weight). No two layouts of one length may read the same
codes, so a code is decoded by exactly one layout or refused, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, NamedTuple

from device.checkout.errors import BarcodeError

_LETTERS: Final = frozenset("FIPWVC")
_SPEC_RE: Final = re.compile(r"^\s*([0-9,\s-]+):\s*([A-Z]+)\s*$")
_RESTRICTED_LENGTHS: Final = (12, 13)  # UPC-A number system 2, EAN-13 prefixes 20..29

# GS1 General Specifications 7.9.3, weighting factors for price verifier digits: the units
# digit of each digit's weighted product (2-: double, less the tens digit; 5+: five times,
# plus the tens digit; 5-: five times, less the tens digit; 3: the units digit of 3 d).
_TWO_MINUS: Final = (0, 2, 4, 6, 8, 9, 1, 3, 5, 7)
_THREE: Final = (0, 3, 6, 9, 2, 5, 8, 1, 4, 7)
_FIVE_PLUS: Final = (0, 5, 1, 6, 2, 7, 3, 8, 4, 9)
_FIVE_MINUS: Final = (0, 5, 9, 4, 8, 3, 7, 2, 6, 1)


def gtin_check_digit(body: str) -> int:
    """Return the GS1 mod-10 check digit for ``body`` (a GTIN without its check digit).

    GS1 General Specifications 7.9.1: weights 3 and 1 alternate from the rightmost
    digit of the body; the check digit brings the weighted sum up to a multiple of 10.
    """
    if not body or not body.isdigit() or not body.isascii():
        raise BarcodeError("not digits: {body!r}", body=body)
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def price_check_digit(price: str) -> int:
    """The verifier digit of a 4- or 5-digit price field (GS1 General Specifications 7.9.3).

    Four digits: weights 2-, 2-, 3, 5-; the check digit is the units digit of 3 x the sum.
    Five digits: weights 5+, 2-, 5-, 5+, 2-; the check digit is the digit whose 5- product
    equals 10 minus the units digit of the sum (mod 10).
    """
    if not price.isascii() or not price.isdigit() or len(price) not in (4, 5):
        raise BarcodeError("a price verifier covers 4 or 5 digits, not {price!r}", price=price)
    d = [int(c) for c in price]
    if len(d) == 4:
        total = _TWO_MINUS[d[0]] + _TWO_MINUS[d[1]] + _THREE[d[2]] + _FIVE_MINUS[d[3]]
        return total * 3 % 10
    total = (
        _FIVE_PLUS[d[0]]
        + _TWO_MINUS[d[1]]
        + _FIVE_MINUS[d[2]]
        + _FIVE_PLUS[d[3]]
        + _TWO_MINUS[d[4]]
    )
    return _FIVE_MINUS.index((10 - total % 10) % 10)


class LabelFields(NamedTuple):
    """What a scale label carries."""

    item_code: str
    price_fen: int | None
    weight_g: int | None


def _run(pattern: str, letter: str) -> tuple[int, int] | None:
    """(start, end) of the one contiguous run of ``letter``, None if absent; refuse a split run."""
    first = pattern.find(letter)
    if first < 0:
        return None
    last = pattern.rfind(letter)
    if pattern[first : last + 1] != letter * (last - first + 1):
        raise BarcodeError(
            "scale-label pattern {pattern}: the {letter} digits must be together",
            pattern=pattern,
            letter=letter,
        )
    return first, last + 1


def _prefixes(text: str) -> tuple[str, ...]:
    """``20-24,28`` -> ("20", "21", "22", "23", "24", "28")."""
    out: list[str] = []
    for part in text.replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        if not lo.isdigit() or (sep and (not hi.isdigit() or len(hi) != len(lo) or hi < lo)):
            raise BarcodeError(
                "scale-label prefixes {text!r}: write digits, or ranges like 20-24", text=text
            )
        out += [str(n).zfill(len(lo)) for n in range(int(lo), int(hi or lo) + 1)]
    return tuple(out)


@dataclass(frozen=True, slots=True)
class LabelLayout:
    """One layout of the store's scale labels (see the module docstring)."""

    prefixes: tuple[str, ...]
    pattern: str

    def __post_init__(self) -> None:
        p = self.pattern
        if not p or set(p) - _LETTERS:
            raise BarcodeError("scale-label pattern {p!r}: use only the letters F I P W V C", p=p)
        if not 12 <= len(p) <= 20:
            raise BarcodeError(
                "scale-label pattern {p}: {p_len} digits (12 to 20 are read)", p=p, p_len=len(p)
            )
        if p.count("C") != 1 or not p.endswith("C"):
            raise BarcodeError("scale-label pattern {p}: exactly one C, the last digit", p=p)
        flags = len(p) - len(p.lstrip("F"))
        if "F" in p[flags:]:
            raise BarcodeError("scale-label pattern {p}: the F digits come first", p=p)
        if _run(p, "I") is None:
            raise BarcodeError("scale-label pattern {p}: no item code (I) digits", p=p)
        price, _ = _run(p, "P"), _run(p, "W")
        if "V" in p and (p.count("V") != 1 or price is None or price[1] - price[0] not in (4, 5)):
            raise BarcodeError("scale-label pattern {p}: one V checks 4 or 5 price (P) digits", p=p)
        if not self.prefixes:
            raise BarcodeError("scale-label pattern {p}: no prefixes select it", p=p)
        for prefix in self.prefixes:
            if not prefix.isascii() or not prefix.isdigit() or not flags <= len(prefix) < len(p):
                raise BarcodeError(
                    "scale-label prefix {prefix!r} for {p}: digits, at least as many as the F",
                    prefix=prefix,
                    p=p,
                )
            if len(p) in _RESTRICTED_LENGTHS and not prefix.startswith("2"):
                raise BarcodeError(
                    "scale-label prefix {prefix} for {p}: {p_len}-digit scale labels "
                    "are restricted-circulation codes "
                    "and start with 2",
                    prefix=prefix,
                    p=p,
                    p_len=len(p),
                )

    @classmethod
    def parse(cls, spec: str) -> LabelLayout:
        """A layout from its configuration text, ``PREFIXES:PATTERN`` (``21:FFIIIIIVPPPPC``)."""
        match = _SPEC_RE.match(spec)
        if match is None:
            raise BarcodeError("scale-label layout {spec!r}: write PREFIXES:PATTERN", spec=spec)
        return cls(_prefixes(match.group(1)), match.group(2))

    @property
    def spec(self) -> str:
        """The configuration text of this layout."""
        return f"{','.join(self.prefixes)}:{self.pattern}"

    def reads(self, code: str) -> bool:
        """Whether this layout is the one for ``code`` (its length and a prefix)."""
        return len(code) == len(self.pattern) and code.startswith(self.prefixes)

    def overlaps(self, other: LabelLayout) -> str | None:
        """A code start both layouts would read, or None."""
        if len(self.pattern) != len(other.pattern):
            return None
        for a in self.prefixes:
            for b in other.prefixes:
                if a.startswith(b) or b.startswith(a):
                    return max(a, b, key=len)
        return None

    def decode(self, code: str) -> LabelFields:
        """The item code, price and weight of ``code`` (check digits already verified)."""
        p = self.pattern
        item = _run(p, "I")
        assert item is not None  # checked at construction
        price_at, weight_at = _run(p, "P"), _run(p, "W")
        price = code[price_at[0] : price_at[1]] if price_at else None
        if price is not None and "V" in p:
            at = p.index("V")
            expected = price_check_digit(price)
            if int(code[at]) != expected:
                raise BarcodeError(
                    "bad price check digit: expected {expected}, got {code} "
                    "(scale label {code2}, layout {spec})",
                    expected=expected,
                    code=code[at],
                    code2=code,
                    spec=self.spec,
                )
        return LabelFields(
            code[item[0] : item[1]],
            int(price) if price is not None else None,
            int(code[weight_at[0] : weight_at[1]]) if weight_at else None,
        )

    def build(self, item_code: str, price_fen: int | None, weight_g: int | None) -> str:
        """The code a scale would print (for tests and the simulator)."""
        fields = {"I": item_code, "P": price_fen, "W": weight_g}
        body = list(self.prefixes[0] + "0" * len(self.pattern))[: len(self.pattern) - 1]
        for letter, value in fields.items():
            at = _run(self.pattern, letter)
            if at is None:
                continue
            size = at[1] - at[0]
            text = value if isinstance(value, str) else f"{value or 0:0{size}d}"
            if len(text) != size or not text.isdigit():
                raise BarcodeError(
                    "{letter} value {value!r} does not fit {size} digits",
                    letter=letter,
                    value=value,
                    size=size,
                )
            body[at[0] : at[1]] = text
        text = "".join(body)
        if not text.startswith(self.prefixes):
            raise BarcodeError(
                "item code {item_code} does not fit the prefixes of {spec}",
                item_code=item_code,
                spec=self.spec,
            )
        price_at = _run(self.pattern, "P")
        if "V" in self.pattern and price_at is not None:
            v = self.pattern.index("V")
            verifier = price_check_digit(text[price_at[0] : price_at[1]])
            text = f"{text[:v]}{verifier}{text[v + 1 :]}"
        return f"{text}{gtin_check_digit(text)}"
