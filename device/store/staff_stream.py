"""The HQ staff stream on the till: who may sign in, in which role, with which PIN hash or code.

HQ sends slow hashes only. A person added at HQ arrives with a one-time code hash and no PIN;
their first sign-in here uses the code and sets the PIN (device.store.staff). Until HQ has
heard of that PIN, an older change can still arrive naming the spent code: the till then
keeps the PIN it set rather than going back to the code.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec

from device.store import bulk
from device.store.db import Database
from device.store.serialize import iso_utc
from protocol.staff import StaffItem

STREAM: Final = "staff"

_UPSERT: Final = """
INSERT INTO staff (staff_id, name, role, pin_hash, failed_attempts, locked_until, updated_at,
                   code_hash, code_expires, active)
VALUES (?, ?, ?, ?, 0, NULL, ?, ?, ?, ?)
ON CONFLICT (staff_id) DO UPDATE SET
    name = excluded.name, role = excluded.role, active = excluded.active,
    failed_attempts = CASE WHEN staff.pin_hash = excluded.pin_hash
                           THEN staff.failed_attempts ELSE 0 END,
    locked_until = CASE WHEN staff.pin_hash = excluded.pin_hash
                        THEN staff.locked_until ELSE NULL END,
    pin_hash = excluded.pin_hash, code_hash = excluded.code_hash,
    code_expires = excluded.code_expires, updated_at = excluded.updated_at
"""


def _decode(items: Iterable[Mapping[str, Any]]) -> list[StaffItem]:
    out = []
    for index, item in enumerate(items):
        try:
            out.append(msgspec.convert(item, StaffItem))
        except (msgspec.ValidationError, TypeError) as exc:
            raise bulk.row_error("staff", index, item, exc) from exc
    return out


def apply_staff(
    db: Database,
    items: Iterable[Mapping[str, Any]],
    *,
    version: int | None,
    replace: bool = False,
) -> int:
    """Upsert staff rows from HQ; a snapshot (replace) deactivates everyone it leaves out."""
    decoded = _decode(items)  # all or nothing: one bad row rejects the change
    now = iso_utc(dt.datetime.now(dt.UTC))

    def change(conn: sqlite3.Connection) -> int:
        for s in decoded:
            local = conn.execute(
                "SELECT pin_hash, code_used FROM staff WHERE staff_id = ?", (s.staff_id,)
            ).fetchone()
            spent = local is not None and s.code_hash is not None and local[1] == s.code_hash
            pin, code, expires = s.pin_hash or "", s.code_hash, s.code_expires
            if spent:
                pin, code, expires = local[0], None, None  # HQ has not heard of our PIN yet
            conn.execute(_UPSERT, (s.staff_id, s.name, s.role, pin, now, code, expires,
                                   int(s.active)))  # fmt: skip
        if replace:
            keep = [s.staff_id for s in decoded]
            marks = ",".join("?" * len(keep))
            where = f"staff_id NOT IN ({marks})" if keep else "1 = 1"
            conn.execute(f"UPDATE staff SET active = 0 WHERE {where}", keep)
        return len(decoded)

    return bulk.apply_change(db, STREAM, version, change)
