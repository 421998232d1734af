"""The catalogue cache: barcode and SKU lookups, snapshots, product and price changes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any, Final

from device.checkout.records import Product
from device.store import bulk
from device.store.db import Database

STREAM: Final = "catalogue"
PRICE_STREAM: Final = "prices"
_SEP: Final = "\x1f"  # unit separator: cannot occur in a barcode
_COLUMNS: Final = (
    "sku, name_zh, name_en, category, price_fen, tax_rate_bp, sold_by_weight, returnable, "
    "tier_discount"
)
# Prepared SQL on the hot path, for the same reason as the member lookups (see models.py).
_BARCODES: Final = f"(SELECT group_concat(code, '{_SEP}') FROM barcode AS b2 WHERE b2.sku = p.sku)"
_BY_BARCODE: Final = (
    "SELECT p.sku, p.name_zh, p.name_en, p.category, p.price_fen, p.tax_rate_bp, "
    f"p.sold_by_weight, p.returnable, p.tier_discount, {_BARCODES} "
    "FROM barcode AS b JOIN product AS p ON p.sku = b.sku WHERE b.code = ?"
)
_BY_SKU: Final = (
    "SELECT p.sku, p.name_zh, p.name_en, p.category, p.price_fen, p.tax_rate_bp, "
    f"p.sold_by_weight, p.returnable, p.tier_discount, {_BARCODES} FROM product AS p "
    "WHERE p.sku = ?"
)
_INSERT: Final = f"INSERT INTO {{table}} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UPSERT: Final = (
    f"INSERT INTO product ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (sku) DO UPDATE SET name_zh = excluded.name_zh, name_en = excluded.name_en, "
    "category = excluded.category, price_fen = excluded.price_fen, "
    "tax_rate_bp = excluded.tax_rate_bp, sold_by_weight = excluded.sold_by_weight, "
    "returnable = excluded.returnable, tier_discount = excluded.tier_discount"
)


def _product(row: tuple[Any, ...]) -> Product:
    codes = row[9]
    return Product(
        sku=row[0],
        name_zh=row[1],
        name_en=row[2],
        category=row[3],
        price_fen=row[4],
        tax_rate_bp=row[5],
        sold_by_weight=bool(row[6]),
        returnable=bool(row[7]),
        tier_discount=bool(row[8]),
        barcodes=tuple(sorted(codes.split(_SEP))) if codes else (),
    )


def product_row(item: Mapping[str, Any]) -> tuple[tuple[Any, ...], tuple[str, ...] | None]:
    """Validate one incoming product (records.Product field names) into a row and its barcodes."""
    sku = str(item["sku"]).strip()
    if not sku:
        raise ValueError("empty sku")
    price = item["price_fen"]
    if not isinstance(price, int) or isinstance(price, bool) or price < 0:
        raise ValueError(f"price_fen must be a non-negative integer of fen, got {price!r}")
    codes = item.get("barcodes")
    row = (
        sku, str(item.get("name_zh") or ""), str(item.get("name_en") or ""),
        str(item.get("category") or ""), price, int(item.get("tax_rate_bp", 1300)),
        int(bool(item.get("sold_by_weight", False))), int(bool(item.get("returnable", True))),
        int(bool(item.get("tier_discount", True))),
    )  # fmt: skip
    if not row[1] and not row[2]:
        raise ValueError("a product needs a Chinese or English name")
    return row, bulk.key_list(codes, "barcodes")


class CatalogueCache:
    """The Catalogue port plus the loaders the sync layer feeds."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def by_barcode(self, code: str) -> Product | None:
        """The product with this (normalised) barcode, or None."""
        row = self._db.row(_BY_BARCODE, (code.strip(),))
        return None if row is None else _product(row)

    def by_sku(self, sku: str) -> Product | None:
        """The product with this SKU, or None."""
        row = self._db.row(_BY_SKU, (sku.strip(),))
        return None if row is None else _product(row)

    def count(self) -> int:
        """Products in the cache."""
        return int(self._db.query("SELECT count(*) FROM product")[0][0])

    def load_snapshot(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        version: int | None = None,
        batch_size: int = 20_000,
    ) -> int:
        """Replace the whole catalogue with a snapshot; all or nothing (see MemberCache)."""
        loaded = 0

        def fill(shadow: Mapping[str, str]) -> None:
            nonlocal loaded
            loaded = bulk.fill(
                self._db.conn(), items, batch_size, "product", product_row,
                _INSERT.format(table=shadow["product"]),
                f'INSERT INTO "{shadow["barcode"]}" (code, sku) VALUES (?, ?)',
            )  # fmt: skip

        with self._db.write() as conn:
            bulk.replace_tables(conn, ("product", "barcode"), fill)
            if version is not None:
                bulk.set_stream_version(conn, STREAM, version)
        return loaded

    def upsert(self, items: Iterable[Mapping[str, Any]], *, version: int | None = None) -> int:
        """Add or change products (idempotent); a barcode moves to the product now naming it."""

        def change(conn: sqlite3.Connection) -> int:
            applied = 0
            for index, item in enumerate(items):
                try:
                    row, codes = product_row(item)
                except (KeyError, TypeError, ValueError) as exc:
                    raise bulk.row_error("product", index, item, exc) from exc
                conn.execute(_UPSERT, row)
                if codes is not None:
                    conn.execute("DELETE FROM barcode WHERE sku = ?", (row[0],))
                    conn.executemany(
                        "INSERT OR REPLACE INTO barcode (code, sku) VALUES (?, ?)",
                        [(code, row[0]) for code in codes],
                    )
                applied += 1
            return applied

        return bulk.apply_change(self._db, STREAM, version, change)

    def update_prices(
        self, items: Iterable[Mapping[str, Any]], *, version: int | None = None
    ) -> int:
        """Apply a price list ({sku, price_fen} items); unknown SKUs are skipped."""

        def change(conn: sqlite3.Connection) -> int:
            updated = 0
            for index, item in enumerate(items):
                price = item.get("price_fen")
                if not isinstance(price, int) or isinstance(price, bool) or price < 0:
                    raise bulk.row_error(
                        "price", index, item, ValueError(f"bad price_fen {price!r}")
                    )
                updated += conn.execute(
                    "UPDATE product SET price_fen = ? WHERE sku = ?", (price, str(item["sku"]))
                ).rowcount
            return updated

        return bulk.apply_change(self._db, PRICE_STREAM, version, change)

    def delete(self, skus: Iterable[str], *, version: int | None = None) -> int:
        """Remove products and their barcodes; unknown SKUs are ignored. Returns rows removed."""

        def change(conn: sqlite3.Connection) -> int:
            removed = 0
            for sku in skus:
                conn.execute("DELETE FROM barcode WHERE sku = ?", (sku,))
                removed += conn.execute("DELETE FROM product WHERE sku = ?", (sku,)).rowcount
            return removed

        return bulk.apply_change(self._db, STREAM, version, change)
