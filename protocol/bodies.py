"""Typed event bodies; each mirrors a record in device/checkout/records.py field for field.

On the wire, enums are their string values, datetimes UTC ISO-8601 strings, dates
"YYYY-MM-DD" and tuples lists, which is exactly what msgspec.to_builtins makes of the
device's dataclasses. Unknown fields are refused so a drift between the two sides shows up
as a clear SchemaError instead of silently dropped data.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Final, Literal

import msgspec

from protocol.envelope import Uuid
from protocol.staff import StaffPinSetBody

TierName = Literal["regular", "silver", "gold"]
TenderKindName = Literal["cash", "card", "mobile", "points", "coupon"]
PointsReasonName = Literal["earn", "redeem", "return_reversal", "return_refund", "expiry", "adjust"]
#: Any ISO-8601 date-time with an explicit offset (device times are recorded aware).
IsoTime = Annotated[
    str,
    msgspec.Meta(pattern=r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$"),
]
IsoDate = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d\d-\d\d$")]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class DiscountBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.Discount."""

    kind: str
    label: str
    amount_fen: NonNegative


class SaleLineBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.SaleLine."""

    line_no: int
    sku: str
    barcode: str
    name_zh: str
    name_en: str
    category: str
    quantity: int
    weight_g: int | None
    unit_price_fen: NonNegative
    gross_fen: NonNegative
    discounts: list[DiscountBody]
    net_fen: NonNegative
    tax_rate_bp: int
    returnable: bool
    price_overridden: bool = False


class TenderLineBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.TenderLine."""

    kind: TenderKindName
    amount_fen: NonNegative
    tendered_fen: NonNegative = 0
    approval_code: str = ""
    reference: str = ""


class PointsDeltaBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.PointsDelta."""

    member_id: str
    delta: int
    reason: PointsReasonName
    origin_sale_id: str = ""


class SaleBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.SaleRecord, plus the receipt number the store assigned."""

    sale_id: Uuid
    cashier_id: str
    shift_id: str
    member_id: str | None
    member_tier: TierName | None
    lines: list[SaleLineBody]
    gross_fen: NonNegative
    discount_fen: NonNegative
    total_fen: NonNegative
    tenders: list[TenderLineBody]
    change_fen: NonNegative
    points_earned: NonNegative
    points_redeemed: NonNegative
    points: list[PointsDeltaBody]
    device_time: IsoTime
    clock_synced: bool
    coupon_codes: list[str] = []
    receipt_no: str


class ReturnLineBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.ReturnLine."""

    original_line_no: int
    sku: str
    quantity: int
    weight_g: int | None
    refund_fen: NonNegative


class ReturnBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.ReturnRecord, plus the receipt number of the return itself."""

    return_id: Uuid
    original_sale_id: str | None
    original_receipt_no: str | None
    cashier_id: str
    shift_id: str
    member_id: str | None
    lines: list[ReturnLineBody]
    refund_fen: NonNegative
    refunds: list[TenderLineBody]
    points: list[PointsDeltaBody]
    authorised_by: str | None
    device_time: IsoTime
    clock_synced: bool
    reason: str = ""
    receipt_no: str


class PointsAdjustmentBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A manual or expiry points change outside a sale."""

    member_id: str
    delta: int
    reason: PointsReasonName
    origin_sale_id: str = ""
    note: str = ""


class MemberRegisteredBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.Member as registered at the till, plus who registered it and when.

    Only member_id and phone are required (the phone is the account key; everything else
    is optional at the till, so a shorter body from an older sender still decodes).
    """

    member_id: str
    phone: str
    name: str = ""
    tier: TierName = "regular"
    points_balance: int = 0
    cumulative_spend_fen: NonNegative = 0
    birthday: IsoDate | None = None
    opt_out_sms: bool = False
    member_code: str = ""
    gender: str = ""  # "" (not given) | "f" | "m" | "x"
    cards: list[str] = []
    registered_by: str = ""
    device_time: IsoTime | None = None
    registered_at: IsoTime | None = None  # older senders' name for device_time


class ShiftOpenedBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A shift opened with a counted float (as the terminal stores it)."""

    shift_id: str
    opened_by: str
    float_fen: NonNegative
    device_time: IsoTime


class ShiftClosedBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.ShiftReport (the Z report), plus who closed the shift and when."""

    shift_id: str
    kind: Literal["Z"]
    float_fen: int
    sales_count: int
    returns_count: int
    by_tender: dict[str, int]
    cash_in_fen: int
    cash_out_fen: int
    expected_cash_fen: int
    counted_cash_fen: int | None = None
    difference_fen: int | None = None
    extras: dict[str, int] = {}
    counted_by_tender: dict[str, int] = {}
    closed_by: str
    device_time: IsoTime


class CashMovementBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.CashMovement."""

    movement_id: str
    shift_id: str
    amount_fen: int
    reason: str
    staff_id: str
    device_time: IsoTime


class FeedbackBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A customer's 1-5 rating of a sale, captured at the till after it."""

    feedback_id: str
    sale_id: str
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: str = ""
    device_time: IsoTime


class AuditBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.AuditEntry."""

    audit_id: str
    action: str
    staff_id: str
    manager_id: str | None
    detail: str
    device_time: IsoTime


class ComplaintBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A complaint recorded against a member or a sale, with its status."""

    complaint_id: str
    member_id: str | None = None
    sale_id: str | None = None
    staff_id: str
    text: str
    status: Literal["open", "resolved"] = "open"
    device_time: IsoTime


EventBody = (
    SaleBody
    | ReturnBody
    | PointsAdjustmentBody
    | MemberRegisteredBody
    | ShiftOpenedBody
    | ShiftClosedBody
    | CashMovementBody
    | FeedbackBody
    | AuditBody
    | ComplaintBody
    | StaffPinSetBody
)

#: Envelope.type -> the Struct its body must match.
EVENT_TYPES: Final[Mapping[str, type[EventBody]]] = MappingProxyType(
    {
        "sale": SaleBody,
        "return": ReturnBody,
        "points_adjustment": PointsAdjustmentBody,
        "member_registered": MemberRegisteredBody,
        "shift_opened": ShiftOpenedBody,
        "shift_closed": ShiftClosedBody,
        "cash_movement": CashMovementBody,
        "feedback": FeedbackBody,
        "audit": AuditBody,
        "complaint": ComplaintBody,
        "staff_pin_set": StaffPinSetBody,
    }
)
