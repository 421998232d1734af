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

from protocol.bounds import (
    MAX_CARDS,
    MAX_COUPONS,
    MAX_DISCOUNTS_PER_LINE,
    MAX_LINES,
    MAX_MAP_ENTRIES,
    MAX_POINTS_ROWS,
    MAX_SEQ,
    MAX_TENDERS,
    TEXT_CHARS,
    Barcode,
    BasisPoints,
    Category,
    Code,
    Count,
    Epoch,
    Fen,
    Label,
    LineNo,
    MemberId,
    Name,
    OptRecordId,
    Phone,
    Points,
    PointsDelta,
    Quantity,
    ReceiptNo,
    RecordId,
    SignedFen,
    Sku,
    StaffId,
    Text,
    WeightG,
)
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
FenMap = Annotated[dict[Label, SignedFen], msgspec.Meta(max_length=MAX_MAP_ENTRIES)]


class DiscountBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.Discount."""

    kind: Label
    label: Label
    amount_fen: Fen


class SaleLineBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.SaleLine."""

    line_no: LineNo
    sku: Sku
    barcode: Barcode
    name_zh: Name
    name_en: Name
    category: Category
    quantity: Quantity
    weight_g: WeightG | None
    unit_price_fen: Fen
    gross_fen: Fen
    discounts: Annotated[list[DiscountBody], msgspec.Meta(max_length=MAX_DISCOUNTS_PER_LINE)]
    net_fen: Fen
    tax_rate_bp: BasisPoints
    returnable: bool
    price_overridden: bool = False


class TenderLineBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.TenderLine."""

    kind: TenderKindName
    amount_fen: Fen
    tendered_fen: Fen = 0
    approval_code: Code = ""
    reference: Code = ""


class PointsDeltaBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.PointsDelta."""

    member_id: MemberId
    delta: PointsDelta
    reason: PointsReasonName
    origin_sale_id: OptRecordId = ""


class SaleBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.SaleRecord, plus the receipt number the store assigned."""

    sale_id: Uuid
    cashier_id: StaffId
    shift_id: OptRecordId
    member_id: MemberId | None
    member_tier: TierName | None
    lines: Annotated[list[SaleLineBody], msgspec.Meta(max_length=MAX_LINES)]
    gross_fen: Fen
    discount_fen: Fen
    total_fen: Fen
    tenders: Annotated[list[TenderLineBody], msgspec.Meta(max_length=MAX_TENDERS)]
    change_fen: Fen
    points_earned: Points
    points_redeemed: Points
    points: Annotated[list[PointsDeltaBody], msgspec.Meta(max_length=MAX_POINTS_ROWS)]
    device_time: IsoTime
    clock_synced: bool
    coupon_codes: Annotated[list[Code], msgspec.Meta(max_length=MAX_COUPONS)] = []
    receipt_no: ReceiptNo
    # The loyalty/pricing rules version the till priced the sale with ("" = built-in defaults).
    rules_version: Label = ""


class ReturnLineBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.ReturnLine."""

    # 0: a return without a receipt line to point at (a manager's return by item).
    original_line_no: Annotated[int, msgspec.Meta(ge=0, le=MAX_LINES)]
    sku: Sku
    quantity: Quantity
    weight_g: WeightG | None
    refund_fen: Fen


class ReturnBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.ReturnRecord, plus the receipt number of the return itself."""

    return_id: Uuid
    original_sale_id: OptRecordId | None
    original_receipt_no: ReceiptNo | None
    cashier_id: StaffId
    shift_id: OptRecordId
    member_id: MemberId | None
    lines: Annotated[list[ReturnLineBody], msgspec.Meta(max_length=MAX_LINES)]
    refund_fen: Fen
    refunds: Annotated[list[TenderLineBody], msgspec.Meta(max_length=MAX_TENDERS)]
    points: Annotated[list[PointsDeltaBody], msgspec.Meta(max_length=MAX_POINTS_ROWS)]
    authorised_by: StaffId | None
    device_time: IsoTime
    clock_synced: bool
    reason: Label = ""
    receipt_no: ReceiptNo
    # The rules version the till planned the return with ("" = built-in defaults).
    rules_version: Label = ""


class PointsAdjustmentBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A manual or expiry points change outside a sale."""

    member_id: MemberId
    delta: PointsDelta
    reason: PointsReasonName
    origin_sale_id: OptRecordId = ""
    note: Text = ""


class MemberRegisteredBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.Member as registered at the till, plus who registered it and when.

    Only member_id and phone are required (the phone is the account key; everything else
    is optional at the till, so a shorter body from an older sender still decodes).
    """

    member_id: MemberId
    phone: Phone
    name: Name = ""
    tier: TierName = "regular"
    points_balance: PointsDelta = 0
    cumulative_spend_fen: Fen = 0
    birthday: IsoDate | None = None
    opt_out_sms: bool = False
    member_code: Code = ""
    gender: Literal["", "f", "m", "x"] = ""  # "" is "not given"
    cards: Annotated[list[Code], msgspec.Meta(max_length=MAX_CARDS)] = []
    registered_by: StaffId = ""
    device_time: IsoTime | None = None
    registered_at: IsoTime | None = None  # older senders' name for device_time


class ShiftOpenedBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A shift opened with a counted float (as the terminal stores it)."""

    shift_id: RecordId
    opened_by: StaffId
    float_fen: Fen
    device_time: IsoTime


class ShiftClosedBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.ShiftReport (the Z report), plus who closed the shift and when."""

    shift_id: RecordId
    kind: Literal["Z"]
    float_fen: Fen
    sales_count: Count
    returns_count: Count
    by_tender: FenMap
    cash_in_fen: SignedFen
    cash_out_fen: SignedFen
    expected_cash_fen: SignedFen
    counted_cash_fen: SignedFen | None = None
    difference_fen: SignedFen | None = None
    extras: FenMap = {}
    counted_by_tender: FenMap = {}
    closed_by: StaffId
    device_time: IsoTime


class CashMovementBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.CashMovement."""

    movement_id: RecordId
    shift_id: RecordId
    amount_fen: SignedFen
    reason: Label
    staff_id: StaffId
    device_time: IsoTime


class FeedbackBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A customer's 1-5 rating of a sale, captured at the till after it."""

    feedback_id: RecordId
    sale_id: RecordId
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    comment: Text = ""
    device_time: IsoTime


class AuditBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Mirrors records.AuditEntry."""

    audit_id: RecordId
    action: Label
    staff_id: StaffId
    manager_id: StaffId | None
    detail: Text
    device_time: IsoTime


class ComplaintBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A complaint recorded against a member or a sale, with its status."""

    complaint_id: RecordId
    member_id: MemberId | None = None
    sale_id: OptRecordId | None = None
    staff_id: StaffId
    text: Text
    status: Literal["open", "resolved"] = "open"
    device_time: IsoTime


class MemberNoteBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A follow-up note on a member, written at the till by a cashier or sales guide."""

    note_id: RecordId
    member_id: MemberId
    staff_id: StaffId
    role: Literal["manager", "cashier", "guide"]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=TEXT_CHARS)]
    device_time: IsoTime


class EpochStartedBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """The first event of a new store-file epoch, written by the technician's repair.

    A store restored from a backup (or copied) had written seqs the cloud already holds
    from the original file. The repair gives the file a new epoch and continues its seqs
    above everything the cloud holds: this event sits at the first seq of the new epoch.
    Seqs in (cloud_high_water, this seq) that the cloud does not hold were in the lost file
    and never come: the cloud records them as abandoned instead of waiting for them. The
    next ``carried`` events are the restored file's unacknowledged events sent again; any of
    them the cloud already holds (same event id, at a seq above ``carried_after_seq``) is
    kept as a duplicate, not applied twice.
    """

    epoch: Epoch
    previous_epoch: Epoch
    reason: Literal["restored", "cloned", "technician"]
    cloud_high_water: Annotated[int, msgspec.Meta(ge=0)]
    cloud_max_seq: Annotated[int, msgspec.Meta(ge=0)]
    carried_after_seq: Annotated[int, msgspec.Meta(ge=0)]
    carried: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]
    note: Text = ""
    device_time: IsoTime


class SeqsLostBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Seqs a cloud restored from an older backup lost and this till can no longer send.

    The till keeps acknowledged events for its resend window and sends a restored cloud the
    ones it lost; seqs ``from_seq``..``to_seq`` are older than that window. The cloud records
    them as *lost* (placeholders, the terminal flagged for HQ, who recovers the sales from
    the till's journal) so its mark can pass them and the till's later events still drain.
    A range names at most ``MAX_SEQS_LOST`` seqs; a longer one goes in several events.
    """

    from_seq: Annotated[int, msgspec.Meta(ge=1, le=MAX_SEQ)]
    to_seq: Annotated[int, msgspec.Meta(ge=1, le=MAX_SEQ)]
    cloud_high_water: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
    acked_seq: Annotated[int, msgspec.Meta(ge=0, le=MAX_SEQ)]
    resend_window_days: Annotated[int, msgspec.Meta(ge=0, le=3650)]
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
    | MemberNoteBody
    | EpochStartedBody
    | StaffPinSetBody
    | SeqsLostBody
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
        "member_note": MemberNoteBody,
        "epoch_started": EpochStartedBody,
        "staff_pin_set": StaffPinSetBody,
        "seqs_lost": SeqsLostBody,
    }
)
