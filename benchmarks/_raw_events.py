"""A bare insert of the same events into the cloud's own database: the floor for a storing drain.

The rows are what ingest writes to ``events`` (ids, seq, type, times, amounts, the body as
JSON), built before the clock starts; they go into ``raw_events``, a table with the same
columns, key and indexes as ``events``, with one executemany (SQLite) or execute_values
(PostgreSQL, psycopg2) and one commit per message, so only the database's own cost per event
is timed: no decoding, checks or projections.
"""

from __future__ import annotations

import re
import sqlite3
import time
from typing import Any

import msgspec
import psycopg2
import psycopg2.extras

from cloud.store.db import SQLITE_PRAGMAS

COLUMNS = ("terminal_id", "seq", "event_id", "store_id", "type", "device_time", "clock_synced",
           "business_day", "business_hour", "amount_fen", "receipt_no", "dead", "body", "epoch",
           "status", "member_id", "received_at")  # fmt: skip


def rows_of(payloads: list[bytes]) -> list[list[tuple[Any, ...]]]:
    """Event rows per message, as ingest would store them (figures computed up front)."""
    out = []
    for payload in payloads:
        batch = msgspec.json.decode(payload)
        out.append([
            (e["terminal_id"], e["seq"], e["id"], e["store_id"], e["type"], e["device_time"],
             e["clock_synced"], "2026-11-23", 14, e["body"].get("total_fen", 0),
             e["body"].get("receipt_no", ""), False,
             msgspec.json.encode(e["body"], order="sorted").decode(), e.get("epoch", ""), "ok",
             e["body"].get("member_id"), "2026-11-23 06:00:00")
            for e in batch["events"]
        ])  # fmt: skip
    return out


def _clone_events_table(conn: sqlite3.Connection) -> None:
    """raw_events: the events table's DDL and indexes under another name."""
    for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL "
        "ORDER BY type DESC"  # the table before its indexes
    ).fetchall():
        # Quoted or not, as each DDL statement happens to spell the names.
        sql = re.sub(r'\bON "?events"? ', "ON raw_events ", sql)
        sql = re.sub(r'^CREATE TABLE "events"', "CREATE TABLE raw_events", sql)
        sql = re.sub(r'INDEX "?(\w+)"? ON', r"INDEX raw_\1 ON", sql)
        conn.execute(sql)


def insert_sqlite(path: str, batches: list[list[tuple[Any, ...]]]) -> float:
    """Events per second: executemany per message into raw_events of the SQLite file at path."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for name, value in SQLITE_PRAGMAS:
            conn.execute(f"PRAGMA {name} = {value}")
        conn.execute("DROP TABLE IF EXISTS raw_events")
        _clone_events_table(conn)
        sql = (f"INSERT INTO raw_events ({', '.join(COLUMNS)}) VALUES "
               f"({', '.join('?' * len(COLUMNS))}) ON CONFLICT DO NOTHING")  # fmt: skip
        start = time.perf_counter()
        for rows in batches:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    return sum(len(r) for r in batches) / elapsed


def insert_pg(url: str, batches: list[list[tuple[Any, ...]]]) -> float:
    """Events per second: execute_values per message into raw_events of the database at url."""
    conn = psycopg2.connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS raw_events")
            cur.execute("CREATE TABLE raw_events (LIKE events INCLUDING ALL)")
        sql = f"INSERT INTO raw_events ({', '.join(COLUMNS)}) VALUES %s ON CONFLICT DO NOTHING"
        start = time.perf_counter()
        for rows in batches:
            with conn, conn.cursor() as cur:
                psycopg2.extras.execute_values(cur, sql, rows, page_size=len(rows))
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    return sum(len(r) for r in batches) / elapsed
