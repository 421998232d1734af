"""One schema change at a time across processes (ingest, API, jobs starting together)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import peewee as pw
from playhouse.migrate import SchemaMigrator, migrate


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


def add_missing_columns(
    database: pw.Database, model: type[pw.Model], names: Sequence[str], key: int
) -> list[str]:
    """Add the model's columns ``names`` that its (existing) table lacks; return those added.

    Reads the table's columns first and takes the schema lock only when one is missing, so
    the usual open changes nothing and waits for nobody.
    """
    table = model._meta.table_name

    def missing() -> list[str]:
        have = {c.name for c in database.get_columns(table)}
        return [n for n in names if model._meta.fields[n].column_name not in have]

    if not missing():
        return []
    with schema_change(database, key):
        todo = missing()
        migrator = SchemaMigrator.from_database(database)
        migrate(*(migrator.add_column(table, model._meta.fields[n].column_name,
                                      model._meta.fields[n]) for n in todo))  # fmt: skip
    return todo
