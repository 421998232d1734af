"""A till's receipt numbers in order: which new ones could repeat a number it printed before.

A till numbers its receipts ``{prefix}-{YYYYMMDD}-{NNNN}``: a counter per business day,
shared by sales and returns, that only counts up (and can pass 9999), handed out with the
seq in one statement. So, taken in seq order, each of its sales is numbered above every
earlier one, unless its store file was restored from an older copy (the day is counted
again) or its clock went back a day. A number above all it printed before cannot repeat
one of them; only the others need looking up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

#: The counter's digits a key holds; a longer counter (never printed) is not ordered.
COUNTER_DIGITS: Final = 10
_TAIL: Final = re.compile(r"-([0-9]{8})-([0-9]{1,10})\Z")  # 10: COUNTER_DIGITS


def order_key(receipt_no: str) -> int | None:
    """(business day, counter) of a receipt number as one integer that sorts like the pair,
    the counter compared as a number (10000 after 9999); None for a number in another form.

    The key depends on the text alone, so two sales with the same number have the same key.
    """
    found = _TAIL.search(receipt_no)
    if found is None:
        return None
    return int(found[1]) * 10**COUNTER_DIGITS + int(found[2])


def highest(receipt_nos: Iterable[str]) -> int:
    """The highest key among receipt numbers (0 when none has one)."""
    return max((k for k in map(order_key, receipt_nos) if k is not None), default=0)


@dataclass(frozen=True, slots=True)
class Screened:
    """What a till's new receipt numbers need: the ones to look up, and the mark after them."""

    suspects: frozenset[str]
    mark: int


def screen(mark: int, receipt_nos: Iterable[str]) -> Screened:
    """Sort out a till's new receipt numbers, given in seq order, against ``mark``, the
    highest key of every number it printed before (an upper bound is enough).

    A number above the mark and above each one before it in the run cannot repeat any of
    them. Every other number is a suspect: at or below the mark (a restored till, a sale
    filling a gap, a clock set back), a repeat inside the run, or in another form.
    """
    top = mark
    suspects: set[str] = set()
    for number in receipt_nos:
        key = order_key(number)
        if key is not None and key > top:
            top = key
        else:
            suspects.add(number)
    return Screened(frozenset(suspects), top)
