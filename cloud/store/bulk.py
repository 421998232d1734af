"""Multi-row INSERT and additive UPSERT in plain SQL for the ingest hot path, on both engines.

peewee's query builder spends ~10 µs per value building an INSERT (measured: more than half
of a 250-event batch's time went to SQL generation), so the rows written once per event go
through these few lines instead. Identifiers here are our own table and column names, never
input; every value travels as a bound parameter or, on PostgreSQL's COPY path, as escaped
COPY text (the server parses COPY rows about twice as fast as a multi-row VALUES list).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import peewee as pw

from cloud.store.db import CloudDB
from cloud.store.pipeline import PipelinedPostgres

#: Stay below SQLite's bound-parameter limit (32766 since 3.32) in one statement.
MAX_PARAMS = 30_000


def _q(name: str) -> str:
    return f'"{name}"'


def insert_rows(
    cdb: CloudDB,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    on_conflict: str = "",
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """INSERT ``rows`` in as few statements as the parameter limit allows; return RETURNING rows."""
    if not rows:
        return []
    param = cdb.database.param
    one = "(" + ", ".join([param] * len(columns)) + ")"
    head = f"INSERT INTO {_q(table)} ({', '.join(_q(c) for c in columns)}) VALUES "
    tail = f" {on_conflict}" if on_conflict else ""
    if returning:
        tail += " RETURNING " + ", ".join(_q(c) for c in returning)
    per_statement = max(1, MAX_PARAMS // len(columns))
    out: list[tuple[Any, ...]] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        sql = head + ", ".join([one] * len(chunk)) + tail
        params = [value for row in chunk for value in row]
        if not returning:
            cdb.defer(sql, params)  # nobody reads a result: it rides with the next statement
            continue
        cursor = cdb.database.execute_sql(sql, params)
        out.extend(tuple(r) for r in cursor.fetchall())
    return out


def _copy_text(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return copy_escape(value)
    if kind is int:
        return str(value)
    if value is None:
        return "\\N"
    if kind is bool:
        return "t" if value else "f"
    return copy_escape(str(value))


def copy_escape(text: str) -> str:
    """A text value as COPY text format spells it inside a line."""
    # Backslash first, then the three characters that delimit fields and rows. Most values
    # hold none of them, and looking is cheaper than replacing.
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                .replace("\r", "\\r"))  # fmt: skip
    return text


def copy_line(row: Sequence[Any]) -> str:
    """One row in COPY text format, newline included (what copy_insert_rows sends for it)."""
    return "\t".join(map(_copy_text, row)) + "\n"


def copy_insert_rows(
    cdb: CloudDB,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    conflict: Sequence[str],
    returning: Sequence[str],
    lines: Sequence[str] | None = None,
) -> list[tuple[Any, ...]]:
    """INSERT ... ON CONFLICT (conflict) DO NOTHING RETURNING, fed by COPY on PostgreSQL.

    The rows are copied into a session temporary table emptied at each commit, then moved
    with one INSERT ... SELECT, inside the caller's transaction, so the idempotency rule is
    the same ON CONFLICT as insert_rows uses. On SQLite this is insert_rows. ``lines``, when
    given, are ``copy_line`` of each row, made beforehand (ingest makes them off the commit
    path).
    """
    on_conflict = f"ON CONFLICT ({', '.join(_q(c) for c in conflict)}) DO NOTHING"
    if not rows:
        return []
    if not cdb.is_postgres:
        return insert_rows(cdb, table, columns, rows, on_conflict=on_conflict, returning=returning)
    staging = _q(f"incoming_{table}")
    cols = ", ".join(_q(c) for c in columns)
    if lines is None:
        lines = [copy_line(row) for row in rows]
    elif len(lines) != len(rows):
        raise ValueError(f"{len(lines)} COPY lines for {len(rows)} rows")
    buf = io.StringIO("".join(lines))
    # peewee maps driver errors to its own (DataError, IntegrityError...) only for the queries
    # it runs itself; the wrapper does the same for these raw cursor calls, so callers can
    # tell "the database refused this content" from a lost connection on both engines.
    prepare = [
        # IF NOT EXISTS: the table lives as long as the connection, which a retry may replace.
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE {_q(table)}) ON COMMIT DELETE ROWS",
        # Emptied at every commit, but a transaction storing a refused batch event by event
        # copies several times: each INSERT below must see only its own rows.
        f"DELETE FROM {staging}",
    ]
    copy = f"COPY {staging} ({cols}) FROM STDIN"
    database = cdb.database
    with pw.__exception_wrapper__:
        if isinstance(database, PipelinedPostgres):
            # Deferred statements, the staging table and the rows: one round trip.
            cursor = database.copy_in(prepare, copy, buf)
        else:
            cursor = database.cursor()
            for statement in prepare:
                cursor.execute(statement)
            cursor.copy_expert(copy, buf)
        cursor.execute(
            f"INSERT INTO {_q(table)} ({cols}) SELECT {cols} FROM {staging} {on_conflict} "
            f"RETURNING {', '.join(_q(c) for c in returning)}"
        )
        return [tuple(r) for r in cursor.fetchall()]


def copy_rows(cdb: CloudDB, table: str, columns: Sequence[str], lines: Sequence[str]) -> int:
    """COPY ``lines`` (``copy_line`` of each row) straight into ``table`` (PostgreSQL only).

    For rows the caller knows are new (ingest: seqs above everything its terminal has stored,
    under the terminal's lock): no staging table and no INSERT ... SELECT, so the server
    writes each row once. A row that is not new fails the statement, as a plain INSERT
    would. Returns the rows the server counted.
    """
    if not cdb.is_postgres:
        raise ValueError("copy_rows is for PostgreSQL; SQLite takes insert_rows")
    if not lines:
        return 0
    copy = f"COPY {_q(table)} ({', '.join(_q(c) for c in columns)}) FROM STDIN"
    buf = io.StringIO("".join(lines))
    database = cdb.database
    with pw.__exception_wrapper__:
        if isinstance(database, PipelinedPostgres):
            cursor = database.copy_in([], copy, buf)  # the deferred statements ride along
        else:
            cursor = database.cursor()
            cursor.copy_expert(copy, buf)
    return int(cursor.rowcount)


def add_rows(
    cdb: CloudDB,
    table: str,
    keys: Sequence[str],
    counters: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    also_set: Sequence[str] = (),
    insert_only: Sequence[str] = (),
    returning: Sequence[str] = (),
    touch: str = "",
) -> list[tuple[Any, ...]]:
    """UPSERT adding each counter to the stored one.

    Each row is keys, then counters, then ``also_set`` (overwritten on conflict), then
    ``insert_only`` (written only when the row is new). ``touch`` names a column set to
    itself, for an upsert that changes nothing but must lock and return the row.

    Callers pass rows sorted by key, so concurrent writers on PostgreSQL take row locks in one
    order and cannot deadlock each other.
    """
    updates = [f"{_q(c)} = {_q(table)}.{_q(c)} + EXCLUDED.{_q(c)}" for c in counters]
    updates += [f"{_q(c)} = EXCLUDED.{_q(c)}" for c in also_set]
    if touch:
        updates.append(f"{_q(touch)} = {_q(table)}.{_q(touch)}")
    conflict = f"ON CONFLICT ({', '.join(_q(k) for k in keys)}) DO UPDATE SET {', '.join(updates)}"
    return insert_rows(
        cdb,
        table,
        [*keys, *counters, *also_set, *insert_only],
        rows,
        on_conflict=conflict,
        returning=returning,
    )
