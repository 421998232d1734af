"""Atomic replacement of cache tables from a snapshot, and stream versions kept with each change."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, TypeVar

from device.store.db import Database
from device.store.errors import SnapshotError

T = TypeVar("T")
SHADOW_SUFFIX = "__load"


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of at most ``size`` items."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _schema(conn: sqlite3.Connection, table: str) -> tuple[str, list[str]]:
    rows = conn.execute(
        "SELECT type, sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL", (table,)
    ).fetchall()
    create = [sql for kind, sql in rows if kind == "table"]
    if len(create) != 1:
        raise SnapshotError(f"cache table {table} is missing from the database schema")
    return create[0], [sql for kind, sql in rows if kind == "index"]


def replace_tables(
    conn: sqlite3.Connection,
    tables: Sequence[str],
    fill: Callable[[Mapping[str, str]], None],
) -> None:
    """Rebuild ``tables`` from scratch inside the caller's transaction, then swap them in.

    Shadow copies are created from the live tables' own DDL (so they follow every migration),
    ``fill`` inserts into them while they have no secondary indexes (a bulk insert followed by
    one sorted index build is several times faster than maintaining indexes row by row), and
    the live tables are dropped and replaced. Because all of this is one transaction, a failure
    anywhere — a bad row, a duplicate key, a crash — leaves the old tables exactly as they were,
    and readers on other connections keep seeing the old cache until the commit.
    """
    shadows = {table: table + SHADOW_SUFFIX for table in tables}
    indexes: list[str] = []
    for table, shadow in shadows.items():
        create, table_indexes = _schema(conn, table)
        indexes.extend(table_indexes)
        conn.execute(f'DROP TABLE IF EXISTS "{shadow}"')
        pattern = rf'^(CREATE TABLE\s+)("?){re.escape(table)}\2'
        conn.execute(re.sub(pattern, rf'\1"{shadow}"', create, count=1, flags=re.IGNORECASE))
    fill(shadows)
    for table, shadow in shadows.items():
        conn.execute(f'DROP TABLE "{table}"')
        conn.execute(f'ALTER TABLE "{shadow}" RENAME TO "{table}"')
    for sql in indexes:
        try:
            conn.execute(sql)
        except sqlite3.IntegrityError as exc:
            raise SnapshotError(
                f"snapshot rejected, the previous cache is kept: duplicate key ({exc})"
            ) from exc


def fill(
    conn: sqlite3.Connection,
    items: Iterable[Mapping[str, Any]],
    batch_size: int,
    kind: str,
    parse: Callable[[Mapping[str, Any]], tuple[tuple[Any, ...], Sequence[str] | None]],
    insert_rows: str,
    insert_keys: str,
) -> int:
    """Validate ``items`` with ``parse`` and insert them in batches; returns how many.

    ``parse`` gives a row (its key first) and the row's secondary keys (cards, barcodes),
    which ``insert_keys`` stores as (key, row key) pairs. A bad item rejects the whole load.
    """
    loaded = 0
    for batch in batches(items, batch_size):
        rows: list[tuple[Any, ...]] = []
        keys: list[tuple[str, Any]] = []
        for item in batch:
            try:
                row, held = parse(item)
            except (KeyError, TypeError, ValueError) as exc:
                raise row_error(kind, loaded + len(rows), item, exc) from exc
            rows.append(row)
            keys.extend((key, row[0]) for key in held or ())
        try:
            conn.executemany(insert_rows, rows)
            conn.executemany(insert_keys, keys)
        except sqlite3.IntegrityError as exc:
            raise SnapshotError(
                f"{kind} snapshot rejected near row {loaded + len(rows)}, the previous cache is "
                f"kept: duplicate key ({exc})"
            ) from exc
        loaded += len(rows)
    return loaded


def apply_change(
    db: Database,
    stream: str,
    version: int | None,
    change: Callable[[sqlite3.Connection], int],
) -> int:
    """One transaction: skip a version already applied, run ``change``, record the version.

    Returns what ``change`` returns (rows applied), or 0 for a stale or repeated version.
    """
    with db.write() as conn:
        if version is not None and version <= stream_version(conn, stream):
            return 0
        applied = change(conn)
        if version is not None:
            set_stream_version(conn, stream, version)
    return applied


def stream_version(conn: sqlite3.Connection, stream: str) -> int:
    """The version of a downstream stream applied here (0 when never applied)."""
    row = conn.execute("SELECT version FROM stream_version WHERE stream = ?", (stream,)).fetchone()
    return int(row[0]) if row else 0


def set_stream_version(conn: sqlite3.Connection, stream: str, version: int) -> None:
    """Record a stream version inside the transaction that applied the change."""
    conn.execute(
        "INSERT INTO stream_version (stream, version) VALUES (?, ?) "
        "ON CONFLICT (stream) DO UPDATE SET version = excluded.version",
        (stream, version),
    )


def key_list(value: Any, what: str) -> tuple[str, ...] | None:
    """An incoming list of secondary keys (cards, barcodes), stripped; None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        raise ValueError(f"{what} must be a list, not a single string")
    return tuple(str(key).strip() for key in value if str(key).strip())


def row_error(kind: str, index: int, item: Any, exc: Exception) -> SnapshotError:
    """A readable rejection for one bad incoming row."""
    key = item.get(f"{kind}_id", item.get("sku", "?")) if isinstance(item, Mapping) else "?"
    return SnapshotError(f"{kind} row {index} ({key}) rejected: {exc}; nothing from it was applied")
