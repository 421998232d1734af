"""Terminal <-> cloud requests and replies: coupon checks and holds, receipt lookups, return claims.

A terminal publishes a request on its own request topic (``pos/v1/<store>/<terminal>/req``)
with a correlation id; an ingest worker answers on that terminal's reply topic
(``.../reply``), which only that terminal may read and only ingest may write (the broker's
ACL, provisioning/acl.py). The reply topic is derived from the topic the request arrived on,
never from anything in the payload, and the cloud refuses a request whose ids differ from its
topic. A terminal that hears nothing within its timeout treats HQ as unreachable and applies
its offline policy; anything the cloud granted meanwhile (a coupon hold, a return claim) is
released by the terminal, or expires on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Final

import msgspec

from protocol.bodies import SaleBody
from protocol.bounds import (
    CODE_CHARS,
    LABEL_CHARS,
    MAX_LINES,
    MAX_WEIGHT_G,
    RECEIPT_CHARS,
    Count,
    Fen,
    LineNo,
    MemberId,
)
from protocol.codec import MAX_CONTROL_BYTES, MAX_DOWN_BYTES, _decode, _encode_small
from protocol.envelope import PROTOCOL_VERSION, Id, Uuid

#: A correlation id: the terminal's own random hex, echoed in the reply.
RequestId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{8,32}$")]
CouponCode = Annotated[
    str, msgspec.Meta(min_length=1, max_length=CODE_CHARS, pattern=r"^[0-9A-Za-z_-]+$")
]
ReceiptNumber = Annotated[str, msgspec.Meta(min_length=1, max_length=RECEIPT_CHARS)]
#: Units of one line: pieces, or grams for a weighed line.
Units = Annotated[int, msgspec.Meta(ge=1, le=MAX_WEIGHT_G)]
ParamText = Annotated[str, msgspec.Meta(max_length=LABEL_CHARS)]
#: Seconds a grant is held for the terminal before it lapses by itself.
HoldSeconds = Annotated[int, msgspec.Meta(ge=1, le=7 * 24 * 3600)]

#: Why the cloud refused; each has a message for the cashier in both languages on the till.
REFUSALS: Final = (
    "coupon_unknown",  # no such coupon at HQ
    "coupon_revoked",  # HQ withdrew it
    "coupon_not_yet",  # before its first day
    "coupon_expired",  # after its last day
    "coupon_other_store",  # not valid in this store
    "coupon_needs_member",  # bound to a member: identify the member first
    "coupon_other_member",  # bound to another member
    "coupon_min_spend",  # the sale is below its minimum spend
    "coupon_used_up",  # every use is taken (counting holds at other tills)
    "coupon_not_tender",  # a gift coupon: an item, not a payment
    "coupon_worthless",  # worth nothing on this sale (0 % of it, or asked for 0 of nothing)
    "receipt_unknown",  # no sale with this receipt number anywhere in the chain
    "receipt_held",  # the sale is held for HQ's review (implausible numbers): no returns yet
    "receipt_ambiguous",  # several sales carry the number (a till restored from an old copy)
    "return_over",  # more than is left of a line, counting returns at any till and in flight
    "return_unknown_line",  # no such line on the receipt
    "bad_request",  # the request does not fit the sale it names
)
RefusalReason = Annotated[str, msgspec.Meta(pattern=r"^[a-z_]{1,32}$")]


class _Request(
    msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True, tag_field="kind"
):
    v: int = PROTOCOL_VERSION
    id: RequestId
    terminal_id: Id
    store_id: Id


class CouponCheck(
    _Request, tag="coupon_check", kw_only=True, forbid_unknown_fields=True, frozen=True
):
    """May this sale use this coupon, and for how much? A yes holds one use for this till."""

    code: CouponCode
    member_id: MemberId | None = None
    total_fen: Fen  # the sale's total after discounts, for minimum spend and percentages
    requested_fen: Fen = 0  # what the cashier asked the coupon to pay (0: all of its worth)


class CouponRelease(
    _Request, tag="coupon_release", kw_only=True, forbid_unknown_fields=True, frozen=True
):
    """The coupon was taken off the sale (or the answer came too late): free the hold."""

    code: CouponCode


class ReceiptLookup(
    _Request, tag="receipt_lookup", kw_only=True, forbid_unknown_fields=True, frozen=True
):
    """The sale behind a receipt number from any till, with what was returned of it so far."""

    receipt_no: ReceiptNumber


class ClaimLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Units of one line of a receipt (pieces, or grams for a weighed line)."""

    line_no: LineNo
    units: Units


class ReturnClaim(
    _Request, tag="return_claim", kw_only=True, forbid_unknown_fields=True, frozen=True
):
    """Reserve these units of a receipt for this return, so no other till returns them too."""

    return_id: Uuid
    original_sale_id: Uuid
    receipt_no: ReceiptNumber
    lines: Annotated[list[ClaimLine], msgspec.Meta(min_length=1, max_length=MAX_LINES)]


class ReturnRelease(
    _Request, tag="return_release", kw_only=True, forbid_unknown_fields=True, frozen=True
):
    """The return was not recorded after all: free its claim."""

    return_id: Uuid


Request = CouponCheck | CouponRelease | ReceiptLookup | ReturnClaim | ReturnRelease


class _Reply(
    msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True, tag_field="kind"
):
    v: int = PROTOCOL_VERSION
    id: RequestId  # the request's correlation id
    terminal_id: Id


class Refused(_Reply, tag="refused", kw_only=True, forbid_unknown_fields=True, frozen=True):
    """No: ``reason`` is one of REFUSALS, ``params`` fill its message, ``detail`` in English."""

    reason: RefusalReason
    params: Annotated[dict[ParamText, ParamText], msgspec.Meta(max_length=8)] = {}
    detail: Annotated[str, msgspec.Meta(max_length=500)] = ""


class CouponGranted(
    _Reply, tag="coupon_granted", kw_only=True, forbid_unknown_fields=True, frozen=True
):
    """Yes: the coupon pays ``amount_fen`` of this sale; one use is held for this till."""

    code: CouponCode
    amount_fen: Fen
    uses_left: Count  # after this one
    hold_s: HoldSeconds


class ReceiptFound(
    _Reply, tag="receipt_found", kw_only=True, forbid_unknown_fields=True, frozen=True
):
    """The sale behind the receipt, what is already returned of it, and the member's returns."""

    receipt_no: ReceiptNumber
    sale_store_id: Id
    sale_terminal_id: Id
    sale: SaleBody
    returned: Annotated[list[ClaimLine], msgspec.Meta(max_length=MAX_LINES)] = []
    member_returns_30d: Count = 0  # chain-wide, for the abuse limit


class ClaimGranted(
    _Reply, tag="claim_granted", kw_only=True, forbid_unknown_fields=True, frozen=True
):
    """Yes: these units are reserved for this return."""

    return_id: Uuid
    hold_s: HoldSeconds


class Released(_Reply, tag="released", kw_only=True, forbid_unknown_fields=True, frozen=True):
    """The hold or claim is gone (or was never there)."""


Reply = Refused | CouponGranted | ReceiptFound | ClaimGranted | Released

#: Request kind -> its Struct (for dispatch tables on either side).
REQUEST_TYPES: Final[Mapping[str, type[_Request]]] = MappingProxyType(
    {
        "coupon_check": CouponCheck,
        "coupon_release": CouponRelease,
        "receipt_lookup": ReceiptLookup,
        "return_claim": ReturnClaim,
        "return_release": ReturnRelease,
    }
)
#: A reply carries a whole sale (up to MAX_LINES lines), so it may be as large as a down change.
MAX_REPLY_BYTES: Final = MAX_DOWN_BYTES
MAX_REQUEST_BYTES: Final = MAX_CONTROL_BYTES

_REQUEST_DECODER: Final = msgspec.json.Decoder(Request)
_REPLY_DECODER: Final = msgspec.json.Decoder(Reply)


def encode_request(request: Request) -> bytes:
    """Serialise a request (refused when over MAX_REQUEST_BYTES)."""
    return _encode_small(request, MAX_REQUEST_BYTES)


def decode_request(payload: bytes) -> Request:
    """Parse and validate a request; any fault is a ProtocolError saying why."""
    # _decode's type argument only names the result; a union is not a ``type`` to mypy.
    decoded: Request = _decode(payload, Request, _REQUEST_DECODER, MAX_REQUEST_BYTES)  # type: ignore[arg-type]
    return decoded


def encode_reply(reply: Reply) -> bytes:
    """Serialise a reply (refused when over MAX_REPLY_BYTES)."""
    return _encode_small(reply, MAX_REPLY_BYTES)


def decode_reply(payload: bytes) -> Reply:
    """Parse and validate a reply."""
    decoded: Reply = _decode(payload, Reply, _REPLY_DECODER, MAX_REPLY_BYTES)  # type: ignore[arg-type]
    return decoded
