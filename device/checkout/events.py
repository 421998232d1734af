"""Input events the UI and the runtime feed into the checkout state machine."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from device.checkout.records import SaleRecord, TenderKind

# Several events carry a manager's credentials for an override. When the signed-in staff
# member is a manager the credentials may be left empty: their own login authorises it.


@dataclass(frozen=True, slots=True)
class ManagerCreds:
    """A manager's id and PIN typed at the till to authorise an override."""

    manager_id: str = ""
    manager_pin: str = ""


# --- staff and shift -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Login:
    staff_id: str
    pin: str  # or, at a first sign-in, the one-time code from HQ
    new_pin: str | None = None  # the PIN chosen at a first sign-in


@dataclass(frozen=True, slots=True)
class Logout:
    pass


@dataclass(frozen=True, slots=True)
class OpenShift:
    float_fen: int
    manager: ManagerCreds = ManagerCreds()


@dataclass(frozen=True, slots=True)
class CashIn:
    amount_fen: int
    reason: str


@dataclass(frozen=True, slots=True)
class CashOut:
    amount_fen: int
    reason: str


@dataclass(frozen=True, slots=True)
class XReport:
    pass


@dataclass(frozen=True, slots=True)
class CloseShift:
    """Close with the counted cash; other tenders' settlement totals may be given too."""

    counted_cash_fen: int
    manager: ManagerCreds = ManagerCreds()
    # e.g. ((TenderKind.CARD, 45_600),) from the bank terminal's settlement slip
    counted_other: tuple[tuple[TenderKind, int], ...] = ()


# --- selling ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scan:
    """A barcode from the scanner, or digits typed on the keypad.

    ``weight_g`` is the weight read from the counter scale (or keyed) for an item sold by
    weight whose barcode carries no weight of its own.
    """

    raw: str
    source: Literal["scanner", "keypad"] = "scanner"
    weight_g: int | None = None


@dataclass(frozen=True, slots=True)
class SetQuantity:
    """Quantity for a line; ``line_no`` None means the last line scanned."""

    quantity: int
    line_no: int | None = None


@dataclass(frozen=True, slots=True)
class VoidLine:
    line_no: int


@dataclass(frozen=True, slots=True)
class OverridePrice:
    line_no: int
    price_fen: int
    manager: ManagerCreds = ManagerCreds()


@dataclass(frozen=True, slots=True)
class DiscountLine:
    """A line discount: exactly one of ``percent_bp`` and ``amount_fen``."""

    line_no: int
    percent_bp: int | None = None
    amount_fen: int | None = None
    manager: ManagerCreds = ManagerCreds()


@dataclass(frozen=True, slots=True)
class DiscountSale:
    """A whole-sale discount: exactly one of ``percent_bp`` and ``amount_fen``."""

    percent_bp: int | None = None
    amount_fen: int | None = None
    manager: ManagerCreds = ManagerCreds()


@dataclass(frozen=True, slots=True)
class IdentifyMember:
    """A member card swipe, a scanned member code, or a phone typed on the keypad."""

    by: Literal["card", "phone", "code"]
    value: str


@dataclass(frozen=True, slots=True)
class RegisterMember:
    """Register a new member at the till; only the phone is required."""

    phone: str
    name: str = ""
    gender: str = ""
    birthday: dt.date | None = None


@dataclass(frozen=True, slots=True)
class ClearMember:
    pass


@dataclass(frozen=True, slots=True)
class LookupMember:
    """A member lookup that does not touch any sale (the sales guide's tool)."""

    by: Literal["card", "phone", "code"]
    value: str


@dataclass(frozen=True, slots=True)
class AddMemberNote:
    """A follow-up note; without ``member_id`` it is about the current member."""

    note: str
    member_id: str = ""


@dataclass(frozen=True, slots=True)
class FileComplaint:
    """A complaint against the current member, or a receipt (typed or scanned), or both."""

    text: str
    receipt: str = ""


@dataclass(frozen=True, slots=True)
class Subtotal:
    """Finish scanning and go to payment."""


@dataclass(frozen=True, slots=True)
class BackToSale:
    """Leave payment to change the sale; only before any tender is taken."""


@dataclass(frozen=True, slots=True)
class AddTender:
    kind: TenderKind
    amount_fen: int
    approval_code: str = ""
    reference: str = ""


@dataclass(frozen=True, slots=True)
class RedeemPoints:
    points: int


@dataclass(frozen=True, slots=True)
class CancelTender:
    """Remove the last tender taken (card and mobile tenders are reversed externally)."""


@dataclass(frozen=True, slots=True)
class CancelSale:
    """Abandon the sale in progress before any tender is taken."""


@dataclass(frozen=True, slots=True)
class Suspend:
    pass


@dataclass(frozen=True, slots=True)
class Recall:
    suspend_id: str


@dataclass(frozen=True, slots=True)
class Feedback:
    rating: int


@dataclass(frozen=True, slots=True)
class SkipFeedback:
    pass


# --- returns and manager operations ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartReturn:
    """A receipt's barcode or QR as scanned, or its number as typed."""

    receipt: str


@dataclass(frozen=True, slots=True)
class ReturnItem:
    """One line to return: the original line number and how many units (or grams) come back.

    For a weighed line ``weight_g`` None returns all that is left of it.
    """

    line_no: int
    quantity: int = 1
    weight_g: int | None = None


@dataclass(frozen=True, slots=True)
class ReturnLines:
    lines: tuple[ReturnItem, ...]
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CancelReturn:
    pass


@dataclass(frozen=True, slots=True)
class NoReceiptReturn:
    """A manager-authorised return by item; ``receipt`` names another till's receipt that
    could not be opened because HQ was unreachable (allowed only under a capped policy)."""

    sku: str
    quantity: int
    unit_price_fen: int
    manager: ManagerCreds = ManagerCreds()
    reason: str = ""
    receipt: str = ""


@dataclass(frozen=True, slots=True)
class NoSale:
    manager: ManagerCreds = ManagerCreds()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class VoidSale:
    """Void a completed sale: a full reversal of what is left of it, authorised and audited."""

    receipt: str
    manager: ManagerCreds = ManagerCreds()


@dataclass(frozen=True, slots=True)
class Reprint:
    receipt: str


# --- HQ's answers (device.checkout.hq): from the sync layer, through the runtime -------------


@dataclass(frozen=True, slots=True)
class HqCouponGranted:
    """HQ says the coupon pays ``amount_fen`` of this sale and holds one use for this till."""

    request_id: str
    code: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class HqReceiptFound:
    """The sale behind another till's receipt, what is returned of it, the member's returns."""

    request_id: str
    receipt_no: str
    sale: SaleRecord
    returned: tuple[tuple[int, int], ...]  # (line_no, units) returned at any till or in flight
    member_returns_30d: int = 0


@dataclass(frozen=True, slots=True)
class HqClaimGranted:
    """HQ reserved the return's units for this till."""

    request_id: str
    return_id: str


@dataclass(frozen=True, slots=True)
class HqRefused:
    """HQ said no; ``reason`` is one of protocol.remote.REFUSALS."""

    request_id: str
    reason: str
    params: tuple[tuple[str, str], ...] = ()
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HqUnreachable:
    """No answer: the link is down ("offline"), the answer is late ("timeout") or unreadable."""

    request_id: str
    why: Literal["offline", "timeout", "bad_reply"] = "offline"


HqAnswer = HqCouponGranted | HqReceiptFound | HqClaimGranted | HqRefused | HqUnreachable


# --- hardware and time -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DrawerOpened:
    pass


@dataclass(frozen=True, slots=True)
class DrawerClosed:
    pass


@dataclass(frozen=True, slots=True)
class Tick:
    """Time passes; the runtime feeds this about once a second (drawer-open alarm)."""


Event = (
    Login
    | Logout
    | OpenShift
    | CashIn
    | CashOut
    | XReport
    | CloseShift
    | Scan
    | SetQuantity
    | VoidLine
    | OverridePrice
    | DiscountLine
    | DiscountSale
    | IdentifyMember
    | RegisterMember
    | ClearMember
    | LookupMember
    | AddMemberNote
    | FileComplaint
    | Subtotal
    | BackToSale
    | AddTender
    | RedeemPoints
    | CancelTender
    | CancelSale
    | Suspend
    | Recall
    | Feedback
    | SkipFeedback
    | StartReturn
    | ReturnLines
    | CancelReturn
    | NoReceiptReturn
    | NoSale
    | VoidSale
    | Reprint
    | DrawerOpened
    | DrawerClosed
    | Tick
    | HqCouponGranted
    | HqReceiptFound
    | HqClaimGranted
    | HqRefused
    | HqUnreachable
)
