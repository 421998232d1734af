"""HQ's staff register: accounts, one-time enrolment codes, and PIN hashes learnt from the tills.

Only slow hashes are kept: a one-time code is shown once to HQ (to hand to the new staff
member) and stored as its argon2id hash; a PIN is never seen here at all, only the hash a
till reports in a staff_pin_set event. Every change becomes a versioned change on the "staff"
stream for each store the person works in, so the tills of those stores learn it.

The tables are this module's own (created by ``ensure_tables``), beside the cloud's models.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import peewee as pw
from argon2 import PasswordHasher

from cloud.store.db import CloudDB
from cloud.store.downstream import append_linked_change
from cloud.store.errors import CloudStoreError
from cloud.store.models import JsonText
from protocol.envelope import utc_iso
from protocol.staff import STAFF_STREAM, StaffItem, StaffPinSetBody

CODE_DIGITS: Final = 8
CODE_DAYS: Final = 7
# The tills verify codes with the same argon2id cost they use for PINs.
HASHER: Final = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class StaffError(CloudStoreError):
    """A staff change HQ asked for cannot be made; the message says why."""


@dataclass(frozen=True)
class StaffModels:
    """This module's tables, bound to one database."""

    Account: Any
    SpentPinEvent: Any


def staff_models(cdb: CloudDB) -> StaffModels:
    """The staff tables bound to this cloud database."""

    class Base(pw.Model):
        class Meta:
            pass

    Base._meta.database = cdb.database

    class Account(Base):
        staff_id = pw.CharField(primary_key=True, max_length=12)
        name = pw.CharField(max_length=64)
        role = pw.CharField(max_length=16)
        stores = JsonText()  # list of store ids
        active = pw.BooleanField(default=True)
        pin_hash = pw.CharField(max_length=256, null=True)
        code_hash = pw.CharField(max_length=256, null=True)
        code_expires = pw.CharField(max_length=40, null=True)
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "staff_account"

    class SpentPinEvent(Base):
        # (terminal, seq) of every staff_pin_set event already taken into the register.
        terminal_id = pw.CharField(max_length=32)
        seq = pw.BigIntegerField()

        class Meta:
            table_name = "staff_pin_event"
            primary_key = pw.CompositeKey("terminal_id", "seq")

    return StaffModels(Account, SpentPinEvent)


def ensure_tables(cdb: CloudDB) -> StaffModels:
    """Create the staff tables if missing; return them."""
    models = staff_models(cdb)
    cdb.database.create_tables([models.Account, models.SpentPinEvent], safe=True)
    return models


def item_of(row: Any) -> StaffItem:
    """What the tills get for one account (hashes only)."""
    return StaffItem(staff_id=row.staff_id, name=row.name, role=row.role, active=row.active,
                     pin_hash=row.pin_hash, code_hash=row.code_hash,
                     code_expires=row.code_expires)  # fmt: skip


def _push(
    cdb: CloudDB, row: Any, stores: list[str], now: dt.datetime, *, active: bool | None = None
) -> list[dict[str, Any]]:
    """Append the account's current state to the staff stream of each store; the changes."""
    item = msgspec.to_builtins(item_of(row))
    if active is not None:
        item["active"] = active
    out = []
    for store in stores:
        version, previous = append_linked_change(cdb, STAFF_STREAM, store, "upsert", [item], now)
        out.append({"stream": STAFF_STREAM, "version": version, "scope": store,
                    "kind": "upsert", "items": [item], "previous": previous})  # fmt: skip
    return out


def _new_code(now: dt.datetime) -> tuple[str, str, str]:
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    aware = now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)  # storage is naive UTC
    return code, HASHER.hash(code), utc_iso(aware + dt.timedelta(days=CODE_DAYS))


@dataclass(frozen=True)
class Issued:
    """A one-time code, shown once; the changes to publish."""

    code: str
    expires: str
    changes: list[dict[str, Any]]


def create(
    cdb: CloudDB, staff_id: str, name: str, role: str, stores: list[str], now: dt.datetime
) -> Issued:
    """A new account with a one-time code for its first sign-in at a till."""
    item = StaffItem(staff_id=staff_id, name=name, role=role)  # validates  # type: ignore[arg-type]
    m = ensure_tables(cdb)
    code, code_hash, expires = _new_code(now)
    with cdb.write():
        if m.Account.get_or_none(m.Account.staff_id == item.staff_id) is not None:
            raise StaffError(f"staff {staff_id} exists already")
        row = m.Account.create(
            staff_id=staff_id, name=name, role=role, stores=stores, code_hash=code_hash,
            code_expires=expires, updated_at=now,
        )  # fmt: skip
        changes = _push(cdb, row, stores, now)
    return Issued(code, expires, changes)


def reissue_code(cdb: CloudDB, staff_id: str, now: dt.datetime) -> Issued:
    """A new one-time code (forgotten PIN): the PIN is cleared until the code is used."""
    m = ensure_tables(cdb)
    code, code_hash, expires = _new_code(now)
    with cdb.write():
        row = _get(m, staff_id)
        row.pin_hash, row.code_hash, row.code_expires, row.updated_at = (
            None, code_hash, expires, now)  # fmt: skip
        row.save()
        changes = _push(cdb, row, list(row.stores), now)
    return Issued(code, expires, changes)


def update(
    cdb: CloudDB, staff_id: str, changes: dict[str, Any], now: dt.datetime
) -> list[dict[str, Any]]:
    """Change name, role, stores or active; a store removed gets the account deactivated."""
    m = ensure_tables(cdb)
    with cdb.write():
        row = _get(m, staff_id)
        before = list(row.stores)
        for key in ("name", "role", "stores", "active"):
            if key in changes and changes[key] is not None:
                setattr(row, key, changes[key])
        StaffItem(staff_id=row.staff_id, name=row.name, role=row.role)  # type: ignore[arg-type]
        row.updated_at = now
        row.save()
        out = _push(cdb, row, list(row.stores), now)
        # Tills of a store the person left keep the row (the audit log names it), inactive.
        gone = [s for s in before if s not in row.stores]
        out += _push(cdb, row, gone, now, active=False)
    return out


def _get(m: StaffModels, staff_id: str) -> Any:
    row = m.Account.get_or_none(m.Account.staff_id == staff_id)
    if row is None:
        raise StaffError(f"no staff {staff_id}")
    return row


def listing(cdb: CloudDB) -> list[dict[str, Any]]:
    """Every account for HQ (whether a PIN is set, never the hashes)."""
    m = ensure_tables(cdb)
    return [
        {"staff_id": r.staff_id, "name": r.name, "role": r.role, "stores": r.stores,
         "active": r.active, "pin_set": r.pin_hash is not None,
         "code_pending": r.code_hash is not None, "code_expires": r.code_expires}
        for r in m.Account.select().order_by(m.Account.staff_id)
    ]  # fmt: skip


def absorb_pin_events(cdb: CloudDB, now: dt.datetime) -> list[dict[str, Any]]:
    """Take PINs set at tills (staff_pin_set events ingest stored) into the register.

    Idempotent: each event is taken once. A PIN set with a code HQ has since replaced is
    ignored (the newer code stands). Returns the staff-stream changes to publish, so the
    person's other tills learn the PIN. Ingest may call this after each commit; the staff
    API calls it before answering.
    """
    m = ensure_tables(cdb)
    e = cdb.models.Event
    spent = m.SpentPinEvent
    out: list[dict[str, Any]] = []
    with cdb.write():
        taken = spent.select().where((spent.terminal_id == e.terminal_id) & (spent.seq == e.seq))
        query = e.select().where((e.type == "staff_pin_set") & ~pw.fn.EXISTS(taken))
        for event in query.order_by(e.received_at, e.terminal_id, e.seq):
            spent.insert(terminal_id=event.terminal_id, seq=event.seq).execute()
            try:
                body = msgspec.convert(event.body, StaffPinSetBody)
            except msgspec.ValidationError:
                continue
            row = m.Account.get_or_none(m.Account.staff_id == body.staff_id)
            if row is None or row.code_hash != body.code_hash:
                continue
            row.pin_hash, row.code_hash, row.code_expires, row.updated_at = (
                body.pin_hash, None, None, now)  # fmt: skip
            row.save()
            out += _push(cdb, row, list(row.stores), now)
    return out
