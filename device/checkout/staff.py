"""Staff roles and what each may do at the till, plus which operations need a manager override."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from device.checkout.errors import PermissionDenied
from device.checkout.records import Role


class Permission(StrEnum):
    """One thing a staff member may do at the till."""

    SELL = "sell"
    IDENTIFY_MEMBER = "identify_member"
    REGISTER_MEMBER = "register_member"
    MEMBER_LOOKUP = "member_lookup"
    MEMBER_NOTES = "member_notes"
    COMPLAINTS = "complaints"
    RETURN_WITH_RECEIPT = "return_with_receipt"
    REPRINT = "reprint"
    CASH_MOVEMENT = "cash_movement"
    X_REPORT = "x_report"
    OPEN_SHIFT = "open_shift"
    CLOSE_SHIFT = "close_shift"
    PRICE_OVERRIDE = "price_override"
    DISCOUNT_OVER_THRESHOLD = "discount_over_threshold"
    NO_RECEIPT_RETURN = "no_receipt_return"
    NO_SALE = "no_sale"
    VOID_SALE = "void_sale"


# Readable names for refusals; the cashier sees "a cashier may not open the drawer (no sale)".
_DESCRIPTIONS: Final[Mapping[Permission, str]] = MappingProxyType(
    {
        Permission.SELL: "sell",
        Permission.IDENTIFY_MEMBER: "identify members",
        Permission.REGISTER_MEMBER: "register members",
        Permission.MEMBER_LOOKUP: "look up members",
        Permission.MEMBER_NOTES: "write member notes",
        Permission.COMPLAINTS: "take down complaints",
        Permission.RETURN_WITH_RECEIPT: "take returns",
        Permission.REPRINT: "reprint receipts",
        Permission.CASH_MOVEMENT: "put cash in or take cash out",
        Permission.X_REPORT: "print an X report",
        Permission.OPEN_SHIFT: "open a shift",
        Permission.CLOSE_SHIFT: "close a shift",
        Permission.PRICE_OVERRIDE: "override a price",
        Permission.DISCOUNT_OVER_THRESHOLD: "give a discount this large",
        Permission.NO_RECEIPT_RETURN: "take a return without a receipt",
        Permission.NO_SALE: "open the drawer (no sale)",
        Permission.VOID_SALE: "void a completed sale",
    }
)

_ROLE_NAMES: Final[Mapping[Role, str]] = MappingProxyType(
    {
        Role.MANAGER: "a manager",
        Role.CASHIER: "a cashier",
        Role.GUIDE: "a sales guide",
    }
)

# Manager: everything. Cashier: sell, members, returns with a receipt, and the drawer's
# routine cash handling, follow-up notes and complaints. Guide: member lookup, follow-up notes
# and complaints only.
PERMISSIONS: Final[Mapping[Role, frozenset[Permission]]] = MappingProxyType(
    {
        Role.MANAGER: frozenset(Permission),
        Role.CASHIER: frozenset(
            {
                Permission.SELL,
                Permission.IDENTIFY_MEMBER,
                Permission.REGISTER_MEMBER,
                Permission.MEMBER_LOOKUP,
                Permission.MEMBER_NOTES,
                Permission.COMPLAINTS,
                Permission.RETURN_WITH_RECEIPT,
                Permission.REPRINT,
                Permission.CASH_MOVEMENT,
                Permission.X_REPORT,
            }
        ),
        Role.GUIDE: frozenset(
            {Permission.MEMBER_LOOKUP, Permission.MEMBER_NOTES, Permission.COMPLAINTS}
        ),
    }
)

# What a manager can authorise at the till on a cashier's behalf by entering their PIN.
# Each such override is audited.
OVERRIDABLE: Final[frozenset[Permission]] = frozenset(
    {
        Permission.PRICE_OVERRIDE,
        Permission.DISCOUNT_OVER_THRESHOLD,
        Permission.NO_RECEIPT_RETURN,
        Permission.NO_SALE,
        Permission.VOID_SALE,
        Permission.OPEN_SHIFT,
        Permission.CLOSE_SHIFT,
    }
)

# Overrides that are written to the audit log even when a manager does them on their own login.
AUDITED: Final[frozenset[Permission]] = frozenset(
    {
        Permission.PRICE_OVERRIDE,
        Permission.DISCOUNT_OVER_THRESHOLD,
        Permission.NO_RECEIPT_RETURN,
        Permission.NO_SALE,
        Permission.VOID_SALE,
    }
)


def allows(role: Role, permission: Permission) -> bool:
    """Whether ``role`` may do ``permission`` on its own login."""
    return permission in PERMISSIONS[role]


def describe(permission: Permission) -> str:
    """The human wording of a permission, as used in refusals."""
    return _DESCRIPTIONS[permission]


def require(role: Role, permission: Permission) -> None:
    """Raise PermissionDenied with a readable reason unless ``role`` may do ``permission``."""
    if allows(role, permission):
        return
    words = {"role": _ROLE_NAMES[role], "permission": describe(permission)}
    if permission in OVERRIDABLE:
        raise PermissionDenied("{role} may not {permission} without a manager's PIN", **words)
    raise PermissionDenied("{role} may not {permission}", **words)


def require_manager(role: Role, permission: Permission) -> None:
    """Raise PermissionDenied unless ``role`` may authorise ``permission`` as a manager override."""
    if role is not Role.MANAGER:
        raise PermissionDenied(
            "only a manager can authorise: {permission}", permission=describe(permission)
        )
