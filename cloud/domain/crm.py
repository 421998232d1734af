"""Customer records, pure: masking, search terms, tags, complaint workflow, what erasure removes.

Nothing here touches a database: ``cloud.store.crm`` reads and writes, and calls these rules.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cloud.domain.errors import DomainError
from cloud.domain.member_merge import normalise_phone

#: Profile fields that identify a person: erasure removes every one of them, everywhere.
PERSONAL_FIELDS: Final = ("phone", "name", "birthday", "gender", "member_code", "cards")
#: Free-text fields of event bodies that may name or describe the person.
PERSONAL_TEXT_FIELDS: Final = ("comment", "text", "note")
ERASED_TEXT: Final = "[erased]"
TAG_MAX: Final = 32
#: Complaint states and the moves between them (action -> (from, to)).
COMPLAINT_MOVES: Final[Mapping[str, tuple[str, str]]] = {
    "resolve": ("open", "resolved"),
    "reopen": ("resolved", "open"),
}
#: Why a move does not apply: the complaint is not in the state the move starts from.
MOVE_REFUSED: Final[Mapping[str, str]] = {
    "resolve": "the complaint is resolved already; only an open one can be resolved",
    "reopen": "the complaint is open; only a resolved one can be reopened",
}
_TAG_BAD = re.compile(r"[\s,;\"'<>\\]")


class CrmRuleError(DomainError):
    """A customer-record change the rules refuse; ``str(err)`` says why."""


def mask_phone(phone: str) -> str:
    """138****5678: the first three and last four digits (MISSION privacy rule)."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    """The first character and a star per further character."""
    return name[:1] + "*" * max(0, len(name) - 1)


def mask_code(code: str) -> str:
    """A card or member code: the last four characters only."""
    return "*" * max(0, len(code) - 4) + code[-4:] if len(code) > 4 else "*" * len(code)


#: A phone as receipts and the customer display print it: its first digits, stars, its last four.
_MASKED_PHONE = re.compile(r"^(\d{1,7})\*+(\d{4})$")
#: Fewest digits read as the end of a phone (a receipt prints the last four).
PHONE_END_DIGITS: Final = 4
#: Fewest digits read as the start of a phone (fewer would match a good part of the chain).
PHONE_START_DIGITS: Final = 5
#: The ways an entry can be looked up (``SearchTerm.read_as``), in the order results come.
SEARCH_KINDS: Final = ("member_id", "masked_phone", "phone", "phone_end", "phone_start",
                       "member_code", "card", "name_start")  # fmt: skip
#: Digits of a full phone (an entry this long is the whole number, matched exactly).
FULL_PHONE_DIGITS: Final = 11


@dataclass(frozen=True, slots=True)
class SearchTerm:
    """One search box entry, read every way it could be meant."""

    text: str  # as typed, trimmed: a member id, member code or card is matched exactly
    phone: str  # its digits when it could be a phone ("" otherwise)
    name_prefix: str  # case-folded, when it could be the start of a name ("" otherwise)
    phone_start: str = ""  # digits a phone starts with ("" when not read so)
    phone_end: str = ""  # digits a phone ends with, four or more ("" when not read so)
    masked: bool = False  # a masked phone: the start and the end must both match

    def read_as(self) -> tuple[str, ...]:
        """The ways the entry was looked up, in the order results come (the page names them,
        ``search_kind.<kind>`` in its catalogues)."""
        kinds = ["member_id"]
        if self.masked:
            kinds.append("masked_phone")
        for kind, given in (("phone", self.phone), ("phone_end", self.phone_end),
                            ("phone_start", self.phone_start)):  # fmt: skip
            kinds += [kind] if given and not self.masked else []
        kinds += ["member_code", "card"]
        kinds += ["name_start"] if self.name_prefix else []
        return tuple(kinds)


def search_term(query: str) -> SearchTerm:
    """Read a search entry; CrmRuleError when it is empty or too long to be any key.

    Digits alone are a whole phone, or (shorter than one) the end of a phone, four digits
    or more, and its start, five or more; ``139****5024`` as a receipt prints it is the
    start and the end together.
    """
    text = unicodedata.normalize("NFKC", query).strip()
    if not text:
        raise CrmRuleError("type a phone number, card number, name or member id")
    if len(text) > 64:
        raise CrmRuleError("a search is at most 64 characters")
    masked = _MASKED_PHONE.match(re.sub(r"[\s-]+", "", text))
    if masked:
        return SearchTerm(text=text, phone="", name_prefix="", phone_start=masked[1],
                          phone_end=masked[2], masked=True)  # fmt: skip
    digits = normalise_phone(text)
    only_digits = not re.search(r"[^\d\s+()-]", text)
    looks_like_phone = len(digits) >= 5 and only_digits
    prefix = text.casefold() if any(ch.isalpha() for ch in text) else ""
    part = digits if only_digits and len(digits) < FULL_PHONE_DIGITS else ""
    return SearchTerm(
        text=text, phone=digits if looks_like_phone else "", name_prefix=prefix,
        phone_start=part if len(part) >= PHONE_START_DIGITS else "",
        phone_end=part if len(part) >= PHONE_END_DIGITS else "",
    )  # fmt: skip


def clean_tag(tag: str) -> str:
    """A tag as stored: NFKC, trimmed, ASCII letters lower case, 1-32 characters, no separators."""
    out = unicodedata.normalize("NFKC", tag).strip().lower()
    if not out or len(out) > TAG_MAX:
        raise CrmRuleError("a tag is 1-%(most)s characters", most=TAG_MAX)
    if _TAG_BAD.search(out) or any(unicodedata.category(ch).startswith("C") for ch in out):
        raise CrmRuleError("tag %(tag)r: no spaces, quotes, commas or control characters", tag=tag)
    return out


def clean_tags(tags: Iterable[str]) -> list[str]:
    """Tags as stored, without repeats, in order."""
    return list(dict.fromkeys(clean_tag(t) for t in tags))


def complaint_move(status: str, action: str) -> str:
    """The status a complaint moves to; CrmRuleError when the action does not apply to it."""
    if action not in COMPLAINT_MOVES:
        raise CrmRuleError(
            "unknown action %(action)r; one of %(actions)s", action=action,
            actions=", ".join(COMPLAINT_MOVES),
        )  # fmt: skip
    before, after = COMPLAINT_MOVES[action]
    if status != before:
        raise CrmRuleError(MOVE_REFUSED[action])
    return after


def purchase(body: Mapping[str, Any]) -> dict[str, Any]:
    """A sale body as a purchase: the lines a person reads, the total, the tenders' kinds."""
    return {
        "sale_id": body.get("sale_id", ""),
        "total_fen": int(body.get("total_fen") or 0),
        "discount_fen": int(body.get("discount_fen") or 0),
        "points_earned": int(body.get("points_earned") or 0),
        "points_redeemed": int(body.get("points_redeemed") or 0),
        "coupon_codes": list(body.get("coupon_codes") or []),
        "tenders": sorted({str(t.get("kind", "")) for t in body.get("tenders") or ()}),
        "items": [
            {"line_no": ln.get("line_no"), "sku": ln.get("sku", ""),
             "name_zh": ln.get("name_zh", ""), "name_en": ln.get("name_en", ""),
             "category": ln.get("category", ""), "quantity": ln.get("quantity"),
             "weight_g": ln.get("weight_g"), "net_fen": int(ln.get("net_fen") or 0)}
            for ln in body.get("lines") or ()
        ],
    }  # fmt: skip


def return_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """A return body as the 360 shows it: what came back, against which receipt, why."""
    return {
        "return_id": body.get("return_id", ""),
        "original_sale_id": body.get("original_sale_id") or "",
        "original_receipt_no": body.get("original_receipt_no") or "",
        "refund_fen": int(body.get("refund_fen") or 0),
        "reason": body.get("reason", ""),
        "items": [
            {"original_line_no": ln.get("original_line_no"), "sku": ln.get("sku", ""),
             "quantity": ln.get("quantity"), "weight_g": ln.get("weight_g"),
             "refund_fen": int(ln.get("refund_fen") or 0)}
            for ln in body.get("lines") or ()
        ],
    }  # fmt: skip


def scrub(value: Any) -> Any:
    """A stored body or pushed item with every personal field emptied, recursively.

    Keys stay (a reader expecting the field finds it empty) except ``birthday``, which becomes
    None, and ``cards``, an empty list; free text becomes ``[erased]``.
    """
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if not isinstance(value, Mapping):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key in ("birthday",):
            out[key] = None
        elif key == "cards":
            out[key] = []
        elif key in PERSONAL_FIELDS:
            out[key] = ""
        elif key in PERSONAL_TEXT_FIELDS and isinstance(item, str) and item:
            out[key] = ERASED_TEXT
        else:
            out[key] = scrub(item)
    return out


def without_profile(item: Mapping[str, Any]) -> dict[str, Any]:
    """A pushed member item with its profile fields left out (a push never erases a field,
    so leaving them out is how an old change stops carrying them)."""
    return {k: v for k, v in item.items() if k not in (*PERSONAL_FIELDS, "opt_out_sms")}
