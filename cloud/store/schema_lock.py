"""One schema change at a time across processes (ingest, API, jobs starting together)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import peewee as pw


@contextmanager
def schema_change(database: pw.Database, key: int) -> Iterator[None]:
    """A transaction that holds the schema lock ``key`` until it ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: BEGIN IMMEDIATE, the write lock
    up front; a deferred transaction that reads the table list and then creates fails at
    once with "database is locked" when another process wrote in between, instead of
    waiting on busy_timeout.
    """
    if isinstance(database, pw.PostgresqlDatabase):
        with database.atomic():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (key,))
            yield
    else:
        with database.atomic("IMMEDIATE"):  # type: ignore[call-arg]
            yield
