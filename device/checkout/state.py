"""The checkout state machine's immutable state: phase, staff, shift, cart, tenders, drawer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from device.checkout.cart import Cart
from device.checkout.hq import Asking
from device.checkout.records import Member, ReturnRecord, SaleRecord, Staff, TenderLine
from device.checkout.shifts import Shift


class Phase(StrEnum):
    """Where the till is in its loop."""

    LOGGED_OUT = "logged_out"
    NO_SHIFT = "no_shift"  # signed in, no shift open yet
    IDLE = "idle"  # ready for the first scan
    SELLING = "selling"  # a cart with lines
    TENDERING = "tendering"  # subtotal pressed, taking payment
    RETURNING = "returning"  # a receipt is open for return
    FEEDBACK = "feedback"  # sale done; waiting for an optional 1-5 rating


@dataclass(frozen=True, slots=True)
class Suspended:
    """A sale put aside to serve the next customer."""

    suspend_id: str
    cart: Cart  # the identified member travels inside the cart


@dataclass(frozen=True, slots=True)
class ReturnSession:
    """A receipt opened for return, with what was already returned against it."""

    sale: SaleRecord
    receipt_no: str
    earlier: tuple[ReturnRecord, ...]
    own: bool = True  # the sale is in this till's journal (False: opened through HQ)


@dataclass(frozen=True, slots=True)
class State:
    """Everything the till remembers between two events."""

    phase: Phase = Phase.LOGGED_OUT
    staff: Staff | None = None
    # The shift belongs to the terminal, so it outlives a logout (cashiers hand over mid-shift).
    shift: Shift | None = None
    cart: Cart | None = None  # holds the identified member too; None when no sale is open
    tenders: tuple[TenderLine, ...] = ()
    redeemed_points: int = 0
    suspended: tuple[Suspended, ...] = ()
    returning: ReturnSession | None = None
    last_sale_id: str | None = None
    drawer_open: bool = False
    drawer_opened_at: dt.datetime | None = None
    drawer_alarmed: bool = False
    message_key: str = ""
    # A question out to HQ (device.checkout.hq); other events wait until it is answered.
    asking: Asking | None = None
    # The member last looked up (the sales guide's tool): notes and complaints are about them
    # when no sale names a member.
    consulted: Member | None = None

    @property
    def suspended_ids(self) -> tuple[str, ...]:
        """The ids of the suspended sales, oldest first."""
        return tuple(s.suspend_id for s in self.suspended)
