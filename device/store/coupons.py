"""Coupons pushed by HQ, looked up at the till, and the uses this till's sales made of them.

The cloud counts every coupon's uses and pushes the count with the coupon (``uses``). A use
made here counts on top of that until the cloud has acknowledged the sale that made it (its
seq at or below the outbox's ACKED counter): that is when the cloud's count includes it. So
``used`` is never below the truth this till can know, and a use never counts twice once the
cloud's next push arrives. Offline uses (not confirmed by HQ at the time) are counted apart
for the policy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from device.store import bulk
from device.store.db import Database
from device.store.outbox import ACKED_SQL
from device.store.serialize import decode, encode

STREAM: Final = "coupons"
KINDS: Final = ("amount", "percent", "gift")

_GET: Final = (
    "SELECT c.code, c.kind, c.value, c.min_spend_fen, c.member_id, c.valid_from, c.valid_until, "
    "c.stores, c.max_uses, c.revoked, c.cloud_uses, "
    # This till's uses the cloud has not counted yet: their sale is still in the outbox.
    # (Its outbox row may be kept after the ACK, for resending: only seq > acked counts.)
    "(SELECT count(*) FROM coupon_use AS u JOIN outbox AS o ON o.seq = u.seq "
    f" WHERE u.code = c.code AND o.seq > {ACKED_SQL}), "
    "(SELECT count(*) FROM coupon_use AS u JOIN outbox AS o ON o.seq = u.seq "
    f" WHERE u.code = c.code AND u.confirmed = 0 AND o.seq > {ACKED_SQL}) "
    "FROM coupon AS c WHERE c.code = ?"
)
_UPSERT: Final = (
    "INSERT INTO coupon (code, kind, value, min_spend_fen, member_id, valid_from, valid_until, "
    "stores, max_uses, cloud_uses, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (code) DO UPDATE SET kind = excluded.kind, value = excluded.value, "
    "min_spend_fen = excluded.min_spend_fen, member_id = excluded.member_id, "
    "valid_from = excluded.valid_from, valid_until = excluded.valid_until, "
    "stores = excluded.stores, max_uses = excluded.max_uses, "
    # A push never lowers the count: an older push arriving late must not free a use.
    "cloud_uses = max(coupon.cloud_uses, excluded.cloud_uses), revoked = excluded.revoked"
)
USE: Final = "INSERT OR IGNORE INTO coupon_use (code, seq, sale_id, confirmed) VALUES (?, ?, ?, ?)"


@dataclass(frozen=True, slots=True)
class Coupon:
    """A coupon as the till knows it; ``value`` is fen (amount) or basis points (percent)."""

    code: str
    kind: str
    value: int
    min_spend_fen: int
    member_id: str | None
    valid_from: str | None
    valid_until: str | None
    stores: tuple[str, ...]
    max_uses: int
    revoked: bool
    cloud_uses: int
    own_uncounted: int  # this till's uses the cloud has not counted yet
    offline_uses: int  # of those, the ones HQ never confirmed

    @property
    def used(self) -> int:
        """Uses as far as this till can know: the cloud's count plus its own uncounted ones."""
        return self.cloud_uses + self.own_uncounted


class CouponCache:
    """Coupon lookups and the coupons stream; uses are written by record_sale."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, code: str) -> Coupon | None:
        """The coupon with this code, or None."""
        rows = self._db.query(_GET, (code.strip(),))
        if not rows:
            return None
        (code_, kind, value, min_spend, member_id, valid_from, valid_until, stores, max_uses,
         revoked, cloud_uses, own, offline) = rows[0]  # fmt: skip
        return Coupon(
            code=code_, kind=kind, value=int(value), min_spend_fen=int(min_spend),
            member_id=member_id, valid_from=valid_from, valid_until=valid_until,
            stores=tuple(str(s) for s in decode(stores) or ()), max_uses=int(max_uses),
            revoked=bool(revoked), cloud_uses=int(cloud_uses), own_uncounted=int(own),
            offline_uses=int(offline),
        )  # fmt: skip

    def upsert(self, items: Iterable[Mapping[str, Any]], *, version: int | None = None) -> int:
        """Add or change coupons (idempotent; this till's own uses are never undone by HQ)."""

        def change(conn: sqlite3.Connection) -> int:
            applied = 0
            for index, item in enumerate(items):
                try:
                    kind = str(item["kind"])
                    value = item["value"]
                    if kind not in KINDS:
                        raise ValueError(f"unknown coupon kind {kind!r}")
                    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                        raise ValueError(f"value must be a non-negative integer, got {value!r}")
                    row = (
                        str(item["code"]).strip(), kind, value, int(item.get("min_spend_fen", 0)),
                        item.get("member_id"), item.get("valid_from"), item.get("valid_until"),
                        encode(list(item.get("stores") or [])), int(item.get("max_uses", 1)),
                        int(item.get("uses", 0)), int(bool(item.get("revoked", False))),
                    )  # fmt: skip
                except (KeyError, TypeError, ValueError) as exc:
                    raise bulk.row_error("coupon", index, item, exc) from exc
                conn.execute(_UPSERT, row)
                applied += 1
            return applied

        return bulk.apply_change(self._db, STREAM, version, change)
