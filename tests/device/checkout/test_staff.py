"""Roles and permissions at the till, as the mission's staff table states them."""

from __future__ import annotations

import pytest

from device.checkout.errors import PermissionDenied
from device.checkout.records import Role
from device.checkout.staff import OVERRIDABLE, Permission, allows, require, require_manager


def test_manager_may_do_everything() -> None:
    for permission in Permission:
        require(Role.MANAGER, permission)


@pytest.mark.parametrize(
    "permission",
    [
        Permission.SELL,
        Permission.IDENTIFY_MEMBER,
        Permission.REGISTER_MEMBER,
        Permission.RETURN_WITH_RECEIPT,
    ],
)
def test_cashier_sells_handles_members_and_receipt_returns(permission: Permission) -> None:
    require(Role.CASHIER, permission)


@pytest.mark.parametrize(
    "permission",
    [
        Permission.PRICE_OVERRIDE,
        Permission.DISCOUNT_OVER_THRESHOLD,
        Permission.NO_RECEIPT_RETURN,
        Permission.NO_SALE,
        Permission.VOID_SALE,
    ],
)
def test_cashier_needs_a_manager_for_overrides(permission: Permission) -> None:
    assert permission in OVERRIDABLE
    with pytest.raises(PermissionDenied, match=r"a cashier may not .* without a manager's PIN"):
        require(Role.CASHIER, permission)


def test_no_sale_refusal_reads_well() -> None:
    with pytest.raises(PermissionDenied) as info:
        require(Role.CASHIER, Permission.NO_SALE)
    assert str(info.value) == "a cashier may not open the drawer (no sale) without a manager's PIN"


def test_guide_only_looks_up_members_and_writes_notes_and_complaints() -> None:
    allowed = {p for p in Permission if allows(Role.GUIDE, p)}
    assert allowed == {Permission.MEMBER_LOOKUP, Permission.MEMBER_NOTES, Permission.COMPLAINTS}
    with pytest.raises(PermissionDenied, match="a sales guide may not sell"):
        require(Role.GUIDE, Permission.SELL)


def test_cashier_and_manager_write_notes_and_take_complaints_on_their_own_login() -> None:
    for role in (Role.CASHIER, Role.MANAGER):
        require(role, Permission.MEMBER_NOTES)
        require(role, Permission.COMPLAINTS)
    assert Permission.MEMBER_NOTES not in OVERRIDABLE and Permission.COMPLAINTS not in OVERRIDABLE


def test_only_a_manager_authorises_overrides() -> None:
    require_manager(Role.MANAGER, Permission.NO_SALE)
    for role in (Role.CASHIER, Role.GUIDE):
        with pytest.raises(PermissionDenied, match="only a manager can authorise"):
            require_manager(role, Permission.NO_SALE)
