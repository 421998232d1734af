"""PostgreSQL with deferred statements: writes nobody reads the result of ride on the next trip.

An ingest transaction runs some thirty statements; most are additive upserts whose result
nobody reads. Sent one by one, each waits a network round trip and a wake-up of the server
process, which on a busy machine costs more than the statement. Here ``BEGIN`` and every
statement passed to ``defer`` wait in a per-thread queue and go out in one simple query with
the next statement that needs its result (or with ``COMMIT``), so a transaction costs as many
round trips as it has reads. Order within the transaction is unchanged, and an error in a
deferred statement fails the transaction exactly as it would have sent alone (it surfaces
one statement later, before the commit). SQLite has no round trips: there ``defer`` runs
the statement at once (see CloudDB.defer).
"""

from __future__ import annotations

import threading
from typing import Any

import peewee as pw


class PipelinedPostgres(pw.PostgresqlDatabase):
    """A PostgresqlDatabase (psycopg2) whose BEGIN and deferred writes share the next trip."""

    def init(self, database: Any, **kwargs: Any) -> None:
        """Set up the per-thread queues (peewee connections are per thread too)."""
        self._queues = threading.local()
        super().init(database, **kwargs)

    def _queue(self) -> list[str]:
        queue: list[str] | None = getattr(self._queues, "items", None)
        if queue is None:
            queue = self._queues.items = []
        return queue

    def _take(self) -> list[str]:
        queue = self._queue()
        taken = list(queue)
        queue.clear()
        return taken

    def _text(self, sql: str, params: Any) -> str:
        # psycopg2 binds parameters on the client anyway: mogrify is what execute would send.
        raw = self.cursor().mogrify(sql, params)
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    def defer(self, sql: str, params: Any = ()) -> None:
        """Queue a statement whose result is not needed; it runs before the next one."""
        with pw.__exception_wrapper__:
            self._queue().append(self._text(sql, params))

    def pending(self) -> int:
        """Statements queued on this thread (0 after every commit or rollback)."""
        return len(self._queue())

    def flush(self) -> None:
        """Send whatever is queued now (before a statement that bypasses execute_sql)."""
        if taken := self._take():
            with pw.__exception_wrapper__:
                self.cursor().execute("; ".join(taken))

    def copy_in(self, statements: list[str], copy_sql: str, data: Any) -> Any:
        """Run the queue, then ``statements``, then ``COPY ... FROM STDIN`` fed from ``data``.

        One simple query: the server runs the statements and then asks for the COPY data.
        """
        with pw.__exception_wrapper__:
            cursor = self.cursor()
            cursor.copy_expert("; ".join([*self._take(), *statements, copy_sql]), data)
        return cursor

    def _execute_cursor(self, sql: str, params: Any, **cursor_options: Any) -> Any:
        taken = self._take()
        if not taken:
            return super()._execute_cursor(sql, params, **cursor_options)
        with pw.__exception_wrapper__:
            cursor = self.cursor(**cursor_options)
            # No parameters on the joined text: the values are already bound into it.
            cursor.execute("; ".join([*taken, self._text(sql, params or ())]))
        return cursor

    def begin(self, isolation_level: Any = None) -> None:
        """Queue BEGIN: it travels with the transaction's first statement."""
        if isolation_level is None and not self._isolation_level:
            if self.is_closed():
                self.connect()
            self._queue().append("BEGIN")
            return
        self.flush()
        super().begin(isolation_level)

    def commit(self) -> None:
        """COMMIT together with the statements still queued."""
        if self.is_closed():
            raise pw.InterfaceError("Cannot commit, database connection not open.")
        taken = self._take()
        if taken == ["BEGIN"]:
            return  # nothing reached the server: there is no transaction to end
        with pw.__exception_wrapper__:
            self.cursor().execute("; ".join([*taken, "COMMIT"]))

    def rollback(self) -> None:
        """Drop what is queued; roll back what the server has seen."""
        taken = self._take()
        if taken and taken[0] == "BEGIN":
            return  # the transaction never started on the server
        super().rollback()

    def _close(self, conn: Any) -> None:
        self._take()  # statements for a connection that is gone must not reach the next one
        super()._close(conn)
