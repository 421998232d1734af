"""Joining a duplicate member into the one that survives: the profile the survivor keeps.

A phone registered twice (two tills offline at once) gives one customer two ids. The survivor
keeps everything it has; what it lacks it takes from the duplicate (name, birthday, gender),
it takes every card of both (a card in the customer's wallet must still find them), an
opt-out on either side is kept (the customer said no once), and the higher tier of the two
stands. The duplicate's member code retires with its id: its phone and cards still find the
customer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Final

from cloud.domain.tiers import tier_rank

#: Cards a member may hold (protocol.items.MemberItem.cards).
MAX_CARDS: Final = 16


def normalise_phone(text: str) -> str:
    """Digits only, without a +86 country prefix: the form tills store and look phones up in."""
    digits = "".join(ch for ch in str(text) if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


@dataclass(frozen=True, slots=True)
class Profile:
    """The member fields a merge decides on."""

    member_id: str
    phone: str
    name: str = ""
    birthday: dt.date | None = None
    gender: str = ""
    opt_out_sms: bool = False
    member_code: str = ""
    cards: tuple[str, ...] = ()
    tier: str = "regular"
    registered_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Joined:
    """The survivor's new profile, and the duplicate's cards that did not fit."""

    profile: Profile
    cards_left_out: tuple[str, ...]


def higher_tier(a: str, b: str) -> str:
    """The higher of two tiers (ties keep the first)."""
    return b if tier_rank(b) > tier_rank(a) else a


def _earlier(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None or b is None:
        return a or b
    return min(a, b)


def join(survivor: Profile, duplicate: Profile) -> Joined:
    """The survivor's profile once the duplicate is joined into it."""
    cards = list(survivor.cards)
    left_out = []
    for card in duplicate.cards:
        if card in cards:
            continue
        if len(cards) < MAX_CARDS:
            cards.append(card)
        else:
            left_out.append(card)
    joined = replace(
        survivor,
        name=survivor.name or duplicate.name,
        birthday=survivor.birthday or duplicate.birthday,
        gender=survivor.gender or duplicate.gender,
        opt_out_sms=survivor.opt_out_sms or duplicate.opt_out_sms,
        cards=tuple(cards),
        tier=higher_tier(survivor.tier, duplicate.tier),
        registered_at=_earlier(survivor.registered_at, duplicate.registered_at),
    )
    return Joined(joined, tuple(left_out))


def same_phone(a: str, b: str) -> bool:
    """True when two stored phones are the same number (formatting aside)."""
    na, nb = normalise_phone(a), normalise_phone(b)
    return bool(na) and na == nb
