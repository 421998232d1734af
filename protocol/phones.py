"""The member phone rule: what a till accepts as a phone when it registers a member.

HQ applies the same rule to the members it creates and imports. ``device.checkout`` (standard
library only, by its import contract) keeps its own copy in ``selling._valid_phone``; a test
holds the two to the same answer for every entry.
"""

from __future__ import annotations

from typing import Final

#: Digits of a mainland mobile number, the only phone a member registers with.
MOBILE_DIGITS: Final = 11


def mobile_phone(text: str) -> str | None:
    """The phone as stored (spaces and hyphens dropped), or None when it is not 11 digits
    starting with 1."""
    digits = text.strip().replace(" ", "").replace("-", "")
    if len(digits) != MOBILE_DIGITS or not digits.isdigit() or not digits.startswith("1"):
        return None
    return digits
