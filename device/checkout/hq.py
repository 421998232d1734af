"""What the till asks HQ before it acts (coupons, other tills' receipts), and the offline policy.

The checkout core never waits: it emits an ``AskHq`` command with one of the queries below and
keeps the question in its state (``State.asking``) while the cashier sees "checking with
HQ...". The runtime hands the question to the sync layer, which answers with an event
(device.checkout.events: ``HqCouponGranted``, ``HqReceiptFound``, ``HqClaimGranted``,
``HqRefused`` or ``HqUnreachable`` when the link is down or the answer is late). Anything HQ
granted that the till does not use is given back with a ``TellHq`` release.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from device.checkout.errors import CheckoutError
from device.checkout.records import AuditEntry, ReturnRecord, SaleRecord


@dataclass(frozen=True, slots=True)
class CouponQuery:
    """May this sale use the coupon, for how much? A yes holds one use for this till."""

    code: str
    member_id: str | None
    total_fen: int
    requested_fen: int  # 0: all of its worth


@dataclass(frozen=True, slots=True)
class CouponFree:
    """The coupon HQ confirmed is not used after all: free its hold."""

    code: str


@dataclass(frozen=True, slots=True)
class ReceiptQuery:
    """The sale behind a receipt printed at another till, and what was returned of it."""

    receipt_no: str


@dataclass(frozen=True, slots=True)
class ClaimQuery:
    """Reserve these units (pieces, or grams of a weighed line) of a receipt for one return."""

    return_id: str
    original_sale_id: str
    receipt_no: str
    lines: tuple[tuple[int, int], ...]  # (line_no, units)


@dataclass(frozen=True, slots=True)
class ClaimFree:
    """The return HQ reserved units for was not recorded: free the claim."""

    return_id: str


Query = CouponQuery | CouponFree | ReceiptQuery | ClaimQuery | ClaimFree


@dataclass(frozen=True, slots=True)
class CouponAsk:
    """Waiting to take a coupon tender (the cashier's tender, as typed)."""

    code: str
    requested_fen: int


@dataclass(frozen=True, slots=True)
class ReceiptAsk:
    """Waiting to open another till's receipt for a return."""

    receipt_no: str


@dataclass(frozen=True, slots=True)
class ClaimAsk:
    """Waiting to record a return whose units HQ is reserving.

    ``own`` is True when the sale is in this till's journal: offline, the till then records
    the return on what it knows (the cloud reconciles it with other tills' returns later).
    """

    ret: ReturnRecord
    sale: SaleRecord
    receipt_no: str
    own: bool
    key: str = "return.done"  # "void.done" for a manager's void
    audit: AuditEntry | None = None


Purpose = CouponAsk | ReceiptAsk | ClaimAsk


@dataclass(frozen=True, slots=True)
class Asking:
    """A question out to HQ; nothing else happens at the till until it is answered."""

    request_id: str
    query: Query
    purpose: Purpose
    asked_at: dt.datetime


@dataclass(frozen=True, slots=True)
class HqPolicy:
    """How long the till waits for HQ, and what it may do when HQ cannot be reached.

    Coupons offline: ``refuse`` every coupon, or ``allow`` one the till's cache knows, at most
    ``coupon_offline_uses`` uses of one coupon per till until the cloud has counted them, each
    paying at most ``coupon_offline_cap_fen`` (0: no cap). Other tills' receipts offline:
    ``refuse`` (the till has no copy of the sale), or ``capped``: a manager may return items
    against the receipt as a no-receipt return up to ``other_receipt_offline_cap_fen``,
    recorded with the receipt number so the cloud can reconcile it with the sale.
    """

    timeout_s: float = 5.0
    coupons_offline: Literal["refuse", "allow"] = "allow"
    coupon_offline_uses: int = 1
    coupon_offline_cap_fen: int = 5_000
    other_receipts_offline: Literal["refuse", "capped"] = "refuse"
    other_receipt_offline_cap_fen: int = 10_000

    def __post_init__(self) -> None:
        if not 0.5 <= self.timeout_s <= 60:
            raise CheckoutError("the HQ timeout must be 0.5-60 seconds")
        if self.coupons_offline not in ("refuse", "allow"):
            raise CheckoutError("coupons_offline must be 'refuse' or 'allow'")
        if self.other_receipts_offline not in ("refuse", "capped"):
            raise CheckoutError("other_receipts_offline must be 'refuse' or 'capped'")
        if self.coupon_offline_uses < 0 or self.coupon_offline_cap_fen < 0:
            raise CheckoutError("offline coupon limits cannot be negative")
        if self.other_receipt_offline_cap_fen < 0:
            raise CheckoutError("the offline return cap cannot be negative")

    @property
    def give_up_after(self) -> dt.timedelta:
        """When the core stops waiting by itself (the sync layer answers well before)."""
        return dt.timedelta(seconds=self.timeout_s * 3 + 5)


def request_id(new_id: str) -> str:
    """A correlation id for the wire (hex) from one of the ports' fresh ids."""
    hexed = "".join(ch for ch in new_id.lower() if ch in "0123456789abcdef")
    return (hexed or "0")[:32].rjust(8, "0")
