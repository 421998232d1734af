"""The small ports through which the pure checkout core reads storage and time."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from device.checkout.records import Member, Product, ReturnRecord, SaleRecord, Staff


class Catalogue(Protocol):
    """Read-only product lookups."""

    def by_barcode(self, code: str) -> Product | None:
        """Return the product with this (normalised) barcode, or None."""
        ...

    def by_sku(self, sku: str) -> Product | None:
        """Return the product with this SKU (item code), or None."""
        ...


class Members(Protocol):
    """Read-only member-cache lookups."""

    def by_card(self, card_id: str) -> Member | None:
        """Return the member holding this card (magstripe or NFC UID), or None."""
        ...

    def by_phone(self, phone: str) -> Member | None:
        """Return the member with this phone number, or None."""
        ...

    def by_code(self, member_code: str) -> Member | None:
        """Return the member with this member code (from a QR or barcode), or None."""
        ...


@dataclass(frozen=True, slots=True)
class PinResult:
    """Outcome of a PIN check; failures already counted by the port."""

    ok: bool
    staff: Staff | None = None
    attempts_left: int = 0
    locked_until: dt.datetime | None = None
    reason: str = ""
    needs_new_pin: bool = False  # first sign-in: the one-time code was right, choose a PIN


class StaffAuth(Protocol):
    """PIN verification; the implementation persists failures and owns the lockout policy.

    Failures must survive a restart (otherwise pulling the plug would reset the count),
    which is why counting lives behind the port and not in the pure machine.
    """

    def verify(self, staff_id: str, pin: str, new_pin: str | None = None) -> PinResult:
        """Check a PIN, counting a failure towards the lockout.

        For a person with no PIN yet, ``pin`` is HQ's one-time code and ``new_pin`` the PIN
        they chose; without it a right code answers ``needs_new_pin``.
        """
        ...


class Journal(Protocol):
    """Read-only view of recorded sales and returns, for returns validation."""

    def sale_by_receipt(self, receipt_no: str) -> tuple[SaleRecord, str] | None:
        """Return (sale, receipt_no) for a receipt number, or None."""
        ...

    def returns_for_sale(self, sale_id: str) -> list[ReturnRecord]:
        """Return the earlier returns against a sale."""
        ...

    def member_returns_since(self, member_id: str, since: dt.datetime) -> int:
        """Count returns by a member since a time (abuse limit)."""
        ...


class CouponInfo(Protocol):
    """A coupon as the till's cache holds it (the store's coupon rows fit this shape).

    ``kind`` is "amount" (``value`` in fen), "percent" (``value`` in basis points of the
    sale) or "gift" (an item, not a tender). Dates are ISO strings; only the date part is
    used, inclusive at both ends, in the store's time zone. ``stores`` empty: every store.
    ``used`` counts the uses the cloud last told of plus this till's own it has not counted
    yet; ``offline_uses`` are this till's uses taken without HQ's confirmation and not yet
    counted by the cloud (the offline policy limits them).
    """

    @property
    def code(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def value(self) -> int: ...
    @property
    def min_spend_fen(self) -> int: ...
    @property
    def member_id(self) -> str | None: ...
    @property
    def valid_from(self) -> str | None: ...
    @property
    def valid_until(self) -> str | None: ...
    @property
    def stores(self) -> tuple[str, ...]: ...
    @property
    def max_uses(self) -> int: ...
    @property
    def used(self) -> int: ...
    @property
    def offline_uses(self) -> int: ...
    @property
    def revoked(self) -> bool: ...


class Coupons(Protocol):
    """Coupon lookups (HQ pushes coupons; a sale that uses one marks it redeemed)."""

    def get(self, code: str) -> CouponInfo | None:
        """Return the coupon with this code, or None."""
        ...


class Clock(Protocol):
    """Device time, which may be wrong at boot (no RTC on the Pi)."""

    def now(self) -> dt.datetime:
        """Current UTC time."""
        ...

    def synced(self) -> bool:
        """Whether the clock has been synchronised since boot."""
        ...


class Ids(Protocol):
    """Source of unique ids for records and commands."""

    def new_id(self) -> str:
        """Return a fresh UUID string."""
        ...


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything the checkout machine may consult, bundled for one bootstrap function."""

    catalogue: Catalogue
    members: Members
    staff: StaffAuth
    journal: Journal
    clock: Clock
    ids: Ids
    # Optional so a till wired before coupons existed still builds; without it a coupon is
    # taken only when HQ confirms it online, because an unchecked code could pay for anything.
    coupons: Coupons | None = None
