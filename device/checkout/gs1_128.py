"""GS1-128 element strings: the GTIN, net weight (310n) and price (392n) a till needs.

GS1 General Specifications 3.2 and 7.8: a GS1-128 symbol carries Application Identifiers
(AIs), each followed by its data. AIs whose first two digits are in the predefined-length
table (Figure 7.8.5-2: 00, 01, 02, 03, 04, 11..20, 31..36, 41) have fixed-length data;
every other AI's data runs to a FNC1 (sent as GS, 1D hex) or the end. The AI's own length
follows from its first digits (3.2). Only what a till sells by is interpreted:

* (01) GTIN-14, checked (7.9.1) and given in its EAN-13 / UPC-A form;
* (3100)..(3105) net weight in kg with n decimals (3103 is grams), taken when it is a whole
  number of grams;
* (3920)..(3923) amount payable with n decimals, taken when it is a whole number of fen.

Everything else is kept unread. A string that cannot be split into AIs, repeats an AI, or
has a weight or price in units the till cannot take exactly is refused, never guessed.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from device.checkout.errors import BarcodeError
from device.checkout.scale_labels import gtin_check_digit

GS: Final = "\x1d"  # FNC1 as transmitted inside a GS1-128 payload
# Data length of the AIs with predefined length, by their first two digits (7.8.5).
_FIXED: Final = {
    "00": 18, "01": 14, "02": 14, "03": 14, "04": 16, "11": 6, "12": 6, "13": 6, "14": 6,
    "15": 6, "16": 6, "17": 6, "18": 6, "19": 6, "20": 2, "31": 6, "32": 6, "33": 6,
    "34": 6, "35": 6, "36": 6, "41": 13,
}  # fmt: skip
# Length of the AI itself, by its first two digits (GS1 General Specifications 3.2).
_AI_LENGTH: Final = {
    **dict.fromkeys(("00", "01", "02", "03", "04", "10", "11", "12", "13", "15", "16"), 2),
    **dict.fromkeys(("17", "20", "21", "22", "30", "37", "90", "91", "92", "93"), 2),
    **dict.fromkeys(("94", "95", "96", "97", "98", "99"), 2),
    **dict.fromkeys(("23", "24", "25", "40", "41", "42", "71"), 3),
    **dict.fromkeys(("31", "32", "33", "34", "35", "36", "39", "43", "70", "72"), 4),
    **dict.fromkeys(("80", "81", "82"), 4),
}


class Gs1Item(NamedTuple):
    """What the till takes from a GS1-128 scan."""

    gtin: str  # EAN-13 form (UPC-A as 12 digits), or the GTIN-14 with a non-zero indicator
    weight_g: int | None
    price_fen: int | None


def split_ais(payload: str) -> dict[str, str]:
    """The element string as {AI: data}; BarcodeError when it cannot be split unambiguously."""
    out: dict[str, str] = {}
    pos = 0
    n = len(payload)
    while pos < n:
        if payload[pos] == GS:
            pos += 1
            continue
        head = payload[pos : pos + 2]
        size = _AI_LENGTH.get(head)
        if size is None or not payload[pos : pos + size].isdigit():
            raise BarcodeError(
                "GS1-128: no Application Identifier starts {payload!r}", payload=payload[pos:][:6]
            )
        ai = payload[pos : pos + size]
        pos += size
        fixed = _FIXED.get(head)
        if fixed is not None:
            data = payload[pos : pos + fixed]
            if len(data) != fixed or GS in data:
                raise BarcodeError("GS1-128: ({ai}) needs {fixed} characters", ai=ai, fixed=fixed)
            pos += fixed
        else:
            end = payload.find(GS, pos)
            end = n if end < 0 else end
            data = payload[pos:end]
            pos = end
            if not data:
                raise BarcodeError("GS1-128: ({ai}) has no data", ai=ai)
        if ai in out:
            raise BarcodeError("GS1-128: ({ai}) appears twice", ai=ai)
        out[ai] = data
    return out


def _scaled(ai: str, data: str, unit_decimals: int, what: str) -> int:
    """Data with the AI's last digit as decimals, in units of 10**-unit_decimals; exact only."""
    if not data.isdigit():
        raise BarcodeError(
            "GS1-128: ({ai}) {what} must be digits, not {data!r}", ai=ai, what=what, data=data
        )
    decimals = int(ai[3])
    value = int(data)
    if decimals <= unit_decimals:
        return value * int(10 ** (unit_decimals - decimals))
    step = int(10 ** (decimals - unit_decimals))
    if value % step:
        raise BarcodeError(
            "GS1-128: ({ai}) {what} {data} is finer than the till can take",
            ai=ai,
            what=what,
            data=data,
        )
    return value // step


def read_item(payload: str) -> Gs1Item | None:
    """The GTIN and any net weight or price of a GS1-128 scan; None without a (01) GTIN."""
    ais = split_ais(payload)
    gtin14 = ais.get("01")
    if gtin14 is None:
        if any(ai.startswith(("310", "392")) for ai in ais):
            raise BarcodeError("GS1-128: a weight or price without a (01) GTIN names no item")
        return None
    if not gtin14.isdigit():
        raise BarcodeError("GS1-128: (01) must be 14 digits, not {gtin14!r}", gtin14=gtin14)
    expected = gtin_check_digit(gtin14[:-1])
    if expected != int(gtin14[-1]):
        raise BarcodeError(
            "bad check digit: expected {expected}, got {gtin14} (GTIN-14)",
            expected=expected,
            gtin14=gtin14[-1],
        )
    weights = [ai for ai in ais if ai.startswith("310")]
    prices = [ai for ai in ais if ai.startswith("392")]
    if len(weights) > 1 or len(prices) > 1:
        raise BarcodeError("GS1-128: more than one net weight or price in {ais}", ais=sorted(ais))
    weight = _scaled(weights[0], ais[weights[0]], 3, "net weight") if weights else None
    price = _scaled(prices[0], ais[prices[0]], 2, "price") if prices else None
    # Indicator 0: the EAN-13 form (one more leading 0: UPC-A); a packaging level or a
    # variable-measure indicator (1..9) keeps the whole GTIN-14, as the catalogue lists it.
    gtin = gtin14
    for _ in range(2):
        if gtin.startswith("0") and len(gtin) > 12:
            gtin = gtin[1:]
    return Gs1Item(gtin, weight, price)
