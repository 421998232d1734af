"""Staff accounts: PINs as argon2id hashes, failed attempts and lockouts that survive restarts."""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from device.checkout.ports import Clock, PinResult
from device.checkout.records import Role, Staff
from device.store import outbox
from device.store.db import Database
from device.store.errors import InvalidRecord
from device.store.models import Models
from device.store.serialize import iso_utc, parse_utc


@dataclass(frozen=True, slots=True)
class PinPolicy:
    """Lockout rules and argon2id cost.

    The default cost is the OWASP minimum for argon2id (19 MiB, 2 passes, 1 lane): about
    50-100 ms on a Raspberry Pi 4, slow enough to make an offline guess of every PIN in a
    stolen database take hours per account, fast enough for a cashier at the keypad. A
    4-6 digit PIN is still a small space, which is why wrong guesses at the till lock the
    account and the file itself is readable only by the service user.
    """

    max_attempts: int = 5
    lockout_minutes: int = 15
    time_cost: int = 2
    memory_cost_kib: int = 19 * 1024
    parallelism: int = 1
    min_pin_digits: int = 4
    max_pin_digits: int = 8

    @classmethod
    def for_tests(cls, **overrides: int) -> PinPolicy:
        """The cheapest argon2 parameters, so tests hash in microseconds (never in production)."""
        values: dict[str, int] = {"time_cost": 1, "memory_cost_kib": 8, "parallelism": 1}
        values.update(overrides)
        return cls(**values)


class StaffDirectory:
    """The StaffAuth port: PIN checks with persistent failure counting and lockout."""

    def __init__(
        self, db: Database, models: Models, clock: Clock, policy: PinPolicy, tz: ZoneInfo
    ) -> None:
        self._db = db
        self._m = models
        self._clock = clock
        self._policy = policy
        self._tz = tz
        self._hasher = PasswordHasher(
            time_cost=policy.time_cost,
            memory_cost=policy.memory_cost_kib,
            parallelism=policy.parallelism,
        )

    def _check_pin(self, pin: str) -> None:
        p = self._policy
        if not (pin.isdigit() and p.min_pin_digits <= len(pin) <= p.max_pin_digits):
            raise InvalidRecord(f"a PIN is {p.min_pin_digits} to {p.max_pin_digits} digits")

    def add_staff(self, staff_id: str, name: str, role: Role, pin: str) -> None:
        """Create or replace a staff account with a new PIN (clears any lockout)."""
        self._check_pin(pin)
        row = self._m.staff
        digest = self._hasher.hash(pin)
        now = iso_utc(self._clock.now())
        with self._db.write():
            row.insert(
                staff_id=staff_id, name=name, role=Role(role).value, pin_hash=digest,
                failed_attempts=0, locked_until=None, updated_at=now,
            ).on_conflict_replace().execute()  # fmt: skip

    def set_pin(self, staff_id: str, pin: str) -> None:
        """Change a PIN (and clear any lockout)."""
        self._check_pin(pin)
        row = self._m.staff
        digest = self._hasher.hash(pin)
        with self._db.write():
            changed = (
                row.update(pin_hash=digest, failed_attempts=0, locked_until=None,
                           updated_at=iso_utc(self._clock.now()))
                .where(row.staff_id == staff_id)
                .execute()
            )  # fmt: skip
        if not changed:
            raise InvalidRecord(f"no staff member {staff_id}")

    def get(self, staff_id: str) -> Staff | None:
        """The staff account (without PIN material), or None."""
        row = self._m.staff.get_or_none(self._m.staff.staff_id == staff_id)
        return None if row is None else Staff(row.staff_id, row.name, Role(row.role))

    def _local(self, moment: dt.datetime) -> str:
        return moment.astimezone(self._tz).strftime("%H:%M")

    def verify(self, staff_id: str, pin: str, new_pin: str | None = None) -> PinResult:
        """Check a PIN; a failure is counted on disk before this returns.

        A person HQ added has no PIN yet: ``pin`` is then their one-time code, and with a
        valid ``new_pin`` it becomes their PIN (see _first_sign_in).
        """
        policy = self._policy
        model = self._m.staff
        now = self._clock.now()
        row = model.get_or_none(model.staff_id == staff_id)
        if row is None:
            return PinResult(ok=False, reason="unknown staff number or wrong PIN")
        active, code_hash, code_expires = self._db.query(
            "SELECT active, code_hash, code_expires FROM staff WHERE staff_id = ?", (staff_id,)
        )[0]
        if not active:
            return PinResult(ok=False, reason="this staff number is disabled at HQ")
        locked_until = parse_utc(row.locked_until) if row.locked_until else None
        if locked_until is not None and locked_until > now:
            return PinResult(
                ok=False,
                locked_until=locked_until,
                reason=f"too many wrong PINs: locked until {self._local(locked_until)}",
            )
        if not row.pin_hash:
            return self._first_sign_in(row, pin, new_pin, code_hash, code_expires)
        ok: bool
        try:
            ok = self._hasher.verify(row.pin_hash, pin)
        except VerifyMismatchError:
            ok = False
        except (InvalidHashError, VerificationError):
            return PinResult(
                ok=False, reason="stored PIN is unreadable; a manager must set a new PIN"
            )
        staff = Staff(row.staff_id, row.name, Role(row.role))
        if ok:
            rehash = self._hasher.check_needs_rehash(row.pin_hash)
            with self._db.write():
                changes: dict[str, object] = {"failed_attempts": 0, "locked_until": None}
                if rehash:
                    changes["pin_hash"] = self._hasher.hash(pin)
                model.update(**changes).where(model.staff_id == staff_id).execute()
            return PinResult(ok=True, staff=staff, attempts_left=policy.max_attempts)
        return self._count_failure(staff_id, now)

    def _first_sign_in(
        self, row: object, code: str, new_pin: str | None, code_hash: str | None,
        code_expires: str | None,
    ) -> PinResult:  # fmt: skip
        """The one-time code from HQ, then the PIN the person chooses (only its hash is kept)."""
        staff_id = str(getattr(row, "staff_id", ""))
        now = self._clock.now()
        if code_hash is None:
            return PinResult(ok=False, reason="no PIN set yet: ask HQ for a one-time code")
        if code_expires and parse_utc(code_expires) <= now:
            return PinResult(ok=False, reason="the one-time code has expired: ask HQ for a new one")
        try:
            ok = self._hasher.verify(code_hash, code)
        except VerifyMismatchError:
            ok = False
        except (InvalidHashError, VerificationError):
            return PinResult(ok=False, reason="the one-time code from HQ is unreadable: ask again")
        if not ok:
            return self._count_failure(staff_id, now)
        if new_pin is None:
            return PinResult(ok=False, needs_new_pin=True, reason="first sign-in: choose a PIN")
        try:
            self._check_pin(new_pin)
        except InvalidRecord as err:
            return PinResult(ok=False, needs_new_pin=True, reason=str(err))
        digest = self._hasher.hash(new_pin)
        stamp = iso_utc(now)
        with self._db.write() as conn:
            conn.execute(
                "UPDATE staff SET pin_hash = ?, failed_attempts = 0, locked_until = NULL, "
                "code_hash = NULL, code_expires = NULL, code_used = ?, updated_at = ? "
                "WHERE staff_id = ?",
                (digest, code_hash, stamp, staff_id),
            )
            # HQ learns the hash (never the PIN), and the person's other tills with it.
            outbox.emit(conn, "staff_pin_set", stamp, self._clock.synced(),
                        {"staff_id": staff_id, "pin_hash": digest, "code_hash": code_hash},
                        stamp)  # fmt: skip
        staff = Staff(staff_id, str(getattr(row, "name", "")), Role(getattr(row, "role", "")))
        return PinResult(ok=True, staff=staff, attempts_left=self._policy.max_attempts)

    def _count_failure(self, staff_id: str, now: dt.datetime) -> PinResult:
        policy = self._policy
        model = self._m.staff
        with self._db.write() as conn:
            row = model.get(model.staff_id == staff_id)
            previous = row.failed_attempts
            if row.locked_until and parse_utc(row.locked_until) <= now:
                previous = 0  # an expired lockout starts a fresh count
            attempts = previous + 1
            if attempts < policy.max_attempts:
                model.update(failed_attempts=attempts, locked_until=None).where(
                    model.staff_id == staff_id
                ).execute()
                left = policy.max_attempts - attempts
                return PinResult(
                    ok=False,
                    attempts_left=left,
                    reason=f"wrong PIN, {left} attempt{'s' if left != 1 else ''} left",
                )
            until = now + dt.timedelta(minutes=policy.lockout_minutes)
            model.update(failed_attempts=0, locked_until=iso_utc(until)).where(
                model.staff_id == staff_id
            ).execute()
            self._audit_lockout(conn, staff_id, now, until)
        return PinResult(
            ok=False,
            locked_until=until,
            reason=f"too many wrong PINs: locked until {self._local(until)}",
        )

    def _audit_lockout(
        self, conn: sqlite3.Connection, staff_id: str, now: dt.datetime, until: dt.datetime
    ) -> None:
        audit_id = str(uuid.uuid4())
        detail = f"locked until {iso_utc(until)} after {self._policy.max_attempts} wrong PINs"
        stamp = iso_utc(now)
        seq = outbox.emit(
            conn, "audit", stamp, self._clock.synced(),
            {"audit_id": audit_id, "action": "pin_lockout", "staff_id": staff_id,
             "manager_id": None, "detail": detail, "device_time": stamp},
            stamp,
        )  # fmt: skip
        conn.execute(
            "INSERT INTO audit_log (audit_id, action, staff_id, manager_id, detail, device_time, "
            "seq) VALUES (?, 'pin_lockout', ?, NULL, ?, ?, ?)",
            (audit_id, staff_id, detail, stamp, seq),
        )

    def unlock(self, staff_id: str) -> None:
        """Clear a lockout early (a manager's action, audited by the caller)."""
        model = self._m.staff
        with self._db.write():
            model.update(failed_attempts=0, locked_until=None).where(
                model.staff_id == staff_id
            ).execute()
