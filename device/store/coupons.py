"""Coupons pushed by HQ (e.g. birthday coupons), looked up at the till, redeemed by sales."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from device.store import bulk
from device.store.db import Database

STREAM: Final = "coupons"
KINDS: Final = ("amount", "percent", "gift")


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
    redeemed_sale_id: str | None


class CouponCache:
    """Coupon lookups and the coupons stream; redemption is written by record_sale."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, code: str) -> Coupon | None:
        """The coupon with this code, or None."""
        rows = self._db.query(
            "SELECT code, kind, value, min_spend_fen, member_id, valid_from, valid_until, "
            "redeemed_sale_id FROM coupon WHERE code = ?",
            (code.strip(),),
        )
        return Coupon(*rows[0]) if rows else None

    def upsert(self, items: Iterable[Mapping[str, Any]], *, version: int | None = None) -> int:
        """Add or change coupons (idempotent; a local redemption is never undone by HQ data)."""

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
                    )  # fmt: skip
                except (KeyError, TypeError, ValueError) as exc:
                    raise bulk.row_error("coupon", index, item, exc) from exc
                conn.execute(
                    "INSERT INTO coupon (code, kind, value, min_spend_fen, member_id, valid_from, "
                    "valid_until) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO UPDATE SET "
                    "kind = excluded.kind, value = excluded.value, "
                    "min_spend_fen = excluded.min_spend_fen, member_id = excluded.member_id, "
                    "valid_from = excluded.valid_from, valid_until = excluded.valid_until",
                    row,
                )
                applied += 1
            return applied

        return bulk.apply_change(self._db, STREAM, version, change)
