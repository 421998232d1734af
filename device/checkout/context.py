"""What every state-machine handler needs: ports, config, refusals, manager overrides, audit."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Literal

from device.checkout.cart import Cart
from device.checkout.commands import Command, Notify, RecordAudit
from device.checkout.config import CheckoutConfig
from device.checkout.errors import (
    BarcodeError,
    CartError,
    CheckoutError,
    LoyaltyError,
    PermissionDenied,
    PricingError,
    ReturnError,
    ShiftError,
    TenderError,
)
from device.checkout.events import ManagerCreds
from device.checkout.ports import Ports
from device.checkout.records import AuditEntry, Role, Staff
from device.checkout.staff import AUDITED, OVERRIDABLE, Permission, allows, require
from device.checkout.staff import require_manager as _require_manager_role


class Refused(CheckoutError):
    """A refusal with a message key, so the screen can show it in the cashier's language."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = {name: str(value) for name, value in params.items()}

    def __str__(self) -> str:
        shown = ", ".join(f"{name}={value}" for name, value in self.params.items())
        return f"{self.key} ({shown})" if shown else self.key


# Domain errors carry a message of their own (``reason_key``); the key says what kind it is.
_ERROR_KEYS: tuple[tuple[type[CheckoutError], str], ...] = (
    (BarcodeError, "error.barcode"),
    (CartError, "error.cart"),
    (PricingError, "error.pricing"),
    (LoyaltyError, "error.loyalty"),
    (TenderError, "error.tender"),
    (ReturnError, "error.return"),
    (PermissionDenied, "error.permission"),
    (ShiftError, "error.shift"),
)


def refusal_notice(command_id: str, err: CheckoutError) -> Notify:
    """The cashier's error message for a refusal, in the screen's catalogue."""
    if isinstance(err, Refused):
        key, params = err.key, err.params
    else:
        key = next((k for cls, k in _ERROR_KEYS if isinstance(err, cls)), "error.checkout")
        params = {**err.params, "reason": str(err), "reason_key": err.msgid}
    return Notify(command_id=command_id, level="error", message_key=key, params=params)


@dataclass(frozen=True, slots=True)
class Context:
    """The machine's fixed surroundings for one step."""

    ports: Ports
    config: CheckoutConfig

    def new_id(self) -> str:
        return self.ports.ids.new_id()

    def now(self) -> dt.datetime:
        return self.ports.clock.now()

    def _zone(self) -> dt.tzinfo | None:
        try:
            return zoneinfo.ZoneInfo(self.config.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return None

    def local_time(self, when: dt.datetime) -> str:
        """HH:MM in the store's time zone, for messages such as a lockout's end."""
        zone = self._zone()
        if zone is None:
            return when.strftime("%H:%M UTC")
        return when.astimezone(zone).strftime("%H:%M")

    def local_now(self) -> dt.datetime:
        """Now as the store's wall clock reads it (naive), for timed promotions."""
        zone = self._zone()
        return self.now().astimezone(zone if zone is not None else dt.UTC).replace(tzinfo=None)

    def new_cart(self) -> Cart:
        """An empty cart for a sale opening now."""
        return Cart(limits=self.config.cart_limits, opened_at=self.local_now())

    def local_date(self, when: dt.datetime) -> dt.date:
        """The calendar date in the store's time zone (UTC if the zone is unknown)."""
        zone = self._zone()
        return when.astimezone(zone if zone is not None else dt.UTC).date()

    def notify(self, level: Literal["info", "warning"], key: str, **params: object) -> Notify:
        """An info or warning message for the cashier (errors come from Refused)."""
        return Notify(
            command_id=self.new_id(),
            level=level,
            message_key=key,
            params={name: str(value) for name, value in params.items()},
        )

    def audit(self, action: str, staff: Staff, manager_id: str | None, detail: str) -> Command:
        entry = AuditEntry(
            audit_id=self.new_id(),
            action=action,
            staff_id=staff.staff_id,
            manager_id=manager_id,
            detail=detail,
            device_time=self.now(),
        )
        return RecordAudit(command_id=self.new_id(), entry=entry)

    def authorise(self, staff: Staff, permission: Permission, creds: ManagerCreds) -> str | None:
        """Check ``staff`` may do ``permission``, by role or by a manager's PIN.

        Returns the authorising manager's id: the one whose PIN was typed, or the signed-in
        manager; None when a non-manager's role alone allows it. The caller writes the audit
        entry, since only it knows the detail worth recording.
        """
        if creds.manager_id:
            return self._verify_manager(permission, creds)
        if allows(staff.role, permission):
            return staff.staff_id if staff.role is Role.MANAGER else None
        if permission in OVERRIDABLE:
            raise Refused("manager.pin_required")
        require(staff.role, permission)
        return None  # pragma: no cover - require raised

    def _verify_manager(self, permission: Permission, creds: ManagerCreds) -> str:
        result = self.ports.staff.verify(creds.manager_id, creds.manager_pin)
        if not result.ok or result.staff is None:
            if result.locked_until is not None:
                raise Refused("login.locked", until=self.local_time(result.locked_until))
            if result.attempts_left > 0:
                raise Refused("manager.wrong_pin", attempts=result.attempts_left)
            raise Refused("manager.refused", reason=result.reason or "wrong PIN")
        try:
            _require_manager_role(result.staff.role, permission)
        except PermissionDenied as err:
            raise Refused("manager.not_manager") from err
        return result.staff.staff_id


def is_audited(permission: Permission) -> bool:
    """Whether an authorised use of ``permission`` goes to the audit log."""
    return permission in AUDITED
