"""Plain value types the checkout core hands to storage, printing and sync."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from device.checkout.money import tax_included_fen


class Tier(StrEnum):
    """Member tiers; the order is the upgrade order."""

    REGULAR = "regular"
    SILVER = "silver"
    GOLD = "gold"


class Role(StrEnum):
    """Staff roles."""

    MANAGER = "manager"
    CASHIER = "cashier"
    GUIDE = "guide"  # sales guide: lookup and follow-up notes only


class TenderKind(StrEnum):
    """Ways a customer pays (or is refunded)."""

    CASH = "cash"
    CARD = "card"
    MOBILE = "mobile"  # mobile QR payment; the approval code comes from the external terminal
    POINTS = "points"
    COUPON = "coupon"


class PointsReason(StrEnum):
    """Why a points-ledger delta exists."""

    EARN = "earn"
    REDEEM = "redeem"
    RETURN_REVERSAL = "return_reversal"  # earned points taken back for returned lines
    RETURN_REFUND = "return_refund"  # redeemed points given back for returned lines
    EXPIRY = "expiry"
    ADJUST = "adjust"


@dataclass(frozen=True, slots=True)
class Product:
    """A catalogue item as the till sees it. Prices include tax."""

    sku: str
    name_zh: str
    name_en: str
    category: str
    price_fen: int  # per unit, or per kilogram when sold_by_weight
    tax_rate_bp: int = 1300  # for reports only; prices are tax-inclusive
    sold_by_weight: bool = False
    returnable: bool = True
    tier_discount: bool = True  # eligible for the member tier discount
    barcodes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Member:
    """The slice of a member the till needs (privacy: nothing more)."""

    member_id: str
    phone: str
    name: str = ""
    tier: Tier = Tier.REGULAR
    points_balance: int = 0  # as last known from the cloud
    cumulative_spend_fen: int = 0
    birthday: dt.date | None = None
    opt_out_sms: bool = False
    member_code: str = ""


@dataclass(frozen=True, slots=True)
class Staff:
    """A staff account (no PIN material here)."""

    staff_id: str
    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class Discount:
    """One discount applied to one line, visible on the receipt and used by returns."""

    kind: str  # "tier" | "promo" | "line" | "sale" | "points" | "coupon"
    label: str
    amount_fen: int  # positive: money taken off


@dataclass(frozen=True, slots=True)
class SaleLine:
    """A priced line of a completed sale."""

    line_no: int
    sku: str
    barcode: str
    name_zh: str
    name_en: str
    category: str
    quantity: int  # units; 1 for a weighed line
    weight_g: int | None  # grams for a weighed line
    unit_price_fen: int  # after any price override
    gross_fen: int  # unit price times quantity (or weight) before discounts
    discounts: tuple[Discount, ...]
    net_fen: int  # gross minus discounts; what the customer pays for the line
    tax_rate_bp: int
    returnable: bool
    price_overridden: bool = False

    @property
    def tax_fen(self) -> int:
        """Tax included in this line's net, for reports (see money.tax_included_fen)."""
        return tax_included_fen(self.net_fen, self.tax_rate_bp)


@dataclass(frozen=True, slots=True)
class TenderLine:
    """One tender of a sale, or one refund of a return."""

    kind: TenderKind
    amount_fen: int  # the amount applied to the sale (cash: after change)
    tendered_fen: int = 0  # cash handed over; 0 for other kinds
    approval_code: str = ""  # card / mobile approval from the external terminal
    reference: str = ""  # coupon code, or points used for a points tender


@dataclass(frozen=True, slots=True)
class PointsDelta:
    """A signed points-ledger row."""

    member_id: str
    delta: int
    reason: PointsReason
    origin_sale_id: str = ""


@dataclass(frozen=True, slots=True)
class SaleRecord:
    """Everything recorded for a completed sale; the store assigns receipt_no and seq."""

    sale_id: str  # UUID
    cashier_id: str
    shift_id: str
    member_id: str | None
    member_tier: Tier | None
    lines: tuple[SaleLine, ...]
    gross_fen: int
    discount_fen: int
    total_fen: int  # what the customer owes after all discounts
    tenders: tuple[TenderLine, ...]
    change_fen: int
    points_earned: int
    points_redeemed: int
    points: tuple[PointsDelta, ...]
    device_time: dt.datetime
    clock_synced: bool
    coupon_codes: tuple[str, ...] = ()
    rules_version: str = ""  # the HQ rules version priced with; "" is the built-in defaults


@dataclass(frozen=True, slots=True)
class ReturnLine:
    """One returned line: what came back and what was refunded for it."""

    original_line_no: int
    sku: str
    quantity: int
    weight_g: int | None
    refund_fen: int


@dataclass(frozen=True, slots=True)
class ReturnRecord:
    """A return, linked to its original sale unless authorised without receipt."""

    return_id: str  # UUID
    original_sale_id: str | None
    original_receipt_no: str | None
    cashier_id: str
    shift_id: str
    member_id: str | None
    lines: tuple[ReturnLine, ...]
    refund_fen: int
    refunds: tuple[TenderLine, ...]
    points: tuple[PointsDelta, ...]
    authorised_by: str | None  # manager id for a no-receipt return
    device_time: dt.datetime
    clock_synced: bool
    reason: str = ""
    rules_version: str = ""  # the HQ rules version the return was planned with


@dataclass(frozen=True, slots=True)
class CashMovement:
    """Cash put into or taken out of the drawer during a shift."""

    movement_id: str
    shift_id: str
    amount_fen: int  # positive in, negative out
    reason: str
    staff_id: str
    device_time: dt.datetime


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """A manager override or other audited action."""

    audit_id: str
    # "price_override" | "discount" | "no_receipt_return" | "no_sale" | "void_sale" | ...
    action: str
    staff_id: str  # who asked
    manager_id: str | None  # who authorised
    detail: str
    device_time: dt.datetime


@dataclass(frozen=True, slots=True)
class ShiftReport:
    """An X (interim) or Z (closing) report."""

    shift_id: str
    kind: str  # "X" | "Z"
    float_fen: int
    sales_count: int
    returns_count: int
    by_tender: dict[str, int]  # tender kind -> net amount taken
    cash_in_fen: int
    cash_out_fen: int
    expected_cash_fen: int
    counted_cash_fen: int | None = None  # Z only
    difference_fen: int | None = None  # counted minus expected, Z only
    extras: dict[str, int] = field(default_factory=dict)
    # Z only: tender kind -> amount counted at close; "cash" is always there, other kinds
    # when their settlement totals were entered (see shifts.tender_differences)
    counted_by_tender: dict[str, int] = field(default_factory=dict)
