"""Money as integer fen: the one rounding rule, rates and formatting."""

from __future__ import annotations

from typing import Final

# Rates (discounts, tax, multipliers) are integer basis points: 10_000 bp = 100 %.
BP_WHOLE: Final = 10_000


def round_div(numerator: int, denominator: int) -> int:
    """Divide and round half away from zero (四舍五入) to an integer.

    This is the project's one rounding rule for money. Every fen amount that
    comes from a division (a percentage, a weight times a unit price, a
    proportional refund) goes through here, so receipts, returns and the
    cloud's reports always agree to the fen.

    Not money amounts, so deliberately not rounded here: points earned are rounded
    down (the loyalty rule), and limits such as the points cap round down so that a
    limit is never exceeded. Splitting one amount over several parts uses
    :func:`allocate`, whose parts add up exactly.
    """
    if denominator == 0:
        raise ZeroDivisionError("round_div by zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def apply_bp(amount_fen: int, rate_bp: int) -> int:
    """Return ``amount_fen`` times a basis-point rate, rounded by :func:`round_div`."""
    return round_div(amount_fen * rate_bp, BP_WHOLE)


def proportion(amount_fen: int, part: int, whole: int) -> int:
    """Return the share ``part/whole`` of ``amount_fen``, rounded by :func:`round_div`.

    Proportional refunds must add up exactly when a sale is returned in pieces;
    callers that split an amount across several parts use :func:`allocate`.
    """
    if whole <= 0:
        raise ValueError("proportion needs a positive whole")
    return round_div(amount_fen * part, whole)


def allocate(amount_fen: int, weights: list[int]) -> list[int]:
    """Split ``amount_fen`` over ``weights`` so the parts sum exactly to the amount.

    Largest-remainder method: each part gets its floor share and the leftover
    fen go to the largest remainders, ties to the earliest. Used for spreading a
    sale-level discount over lines.
    """
    total = sum(weights)
    if total <= 0:
        return [0 for _ in weights]
    sign = -1 if amount_fen < 0 else 1
    magnitude = abs(amount_fen)
    floors = [magnitude * w // total for w in weights]
    remainders = [magnitude * w % total for w in weights]
    leftover = magnitude - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    return [sign * f for f in floors]


def tax_included_fen(amount_fen: int, tax_rate_bp: int) -> int:
    """The tax contained in a tax-inclusive ``amount_fen`` at ``tax_rate_bp``, for reports.

    Prices include tax, so the tax is ``amount * rate / (1 + rate)``, rounded by
    :func:`round_div`: ¥113.00 at 13 % holds ¥13.00 of tax. Reports take it per line from
    the line's net (what was paid after discounts) and add the lines up.
    """
    if tax_rate_bp < 0:
        raise ValueError("a tax rate cannot be negative")
    return round_div(amount_fen * tax_rate_bp, BP_WHOLE + tax_rate_bp)


def format_fen(amount_fen: int, symbol: str = "¥") -> str:
    """Format fen as ``¥12.50`` (``-¥3.00`` for negatives)."""
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), 100)
    return f"{sign}{symbol}{yuan}.{fen:02d}"


def parse_yuan(text: str) -> int:
    """Parse a keypad amount such as ``12``, ``12.5`` or ``12.50`` into fen.

    Raises ValueError with a readable reason for anything else.
    """
    cleaned = text.strip().lstrip("¥")
    if not cleaned:
        raise ValueError("empty amount")
    whole, _, frac = cleaned.partition(".")
    if not whole:
        whole = "0"
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"not an amount: {text!r}")
    if len(frac) > 2:
        raise ValueError(f"more than two decimals: {text!r}")
    return int(whole) * 100 + int(frac.ljust(2, "0") or "0")
