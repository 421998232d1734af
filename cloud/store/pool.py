"""A connection pool for the HQ API on PostgreSQL: a request borrows a connection, not opens one.

Opening a PostgreSQL connection costs a server process and several milliseconds; the API
used to pay that on every request. Here ``close()`` hands the connection back to a bounded
pool, and every checkout first proves the connection alive with a round trip (peewee's
PostgreSQL pool does), so a database restart leaves no dead connection to fail a request.
"""

from __future__ import annotations

from typing import Any

from playhouse.pool import MaxConnectionsExceeded, PooledDatabase

from cloud.store.pipeline import PipelinedPostgres

__all__ = ["MaxConnectionsExceeded", "PooledPipelinedPostgres"]


class PooledPipelinedPostgres(PooledDatabase, PipelinedPostgres):
    """PipelinedPostgres whose connections return to a pool of at most ``max_connections``."""

    def _is_closed(self, conn: Any) -> bool:
        return bool(conn.closed) or bool(self._adapter.is_connection_closed(conn))

    def _can_reuse(self, conn: Any) -> bool:
        # Rolls back a transaction a failed request left open; a lost connection is dropped.
        return bool(self._adapter.is_connection_reusable(conn))
