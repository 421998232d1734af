"""Downstream change log: per-stream versions for HQ pushes and tier changes, and catch-up reads."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from cloud.store.bulk import add_rows
from cloud.store.db import CloudDB
from cloud.store.errors import UnknownStream
from protocol.envelope import MAX_PREVIOUS_SCOPES
from protocol.topics import ALL_STORES, STREAMS


def append_change(
    cdb: CloudDB, stream: str, scope: str, kind: str, items: list[dict[str, Any]], now: dt.datetime
) -> int:
    """Store a change under the stream's next version and return that version.

    Must run inside a write transaction: the counter row's update lock keeps versions gapless
    and unique when the API and several ingest workers append at once.
    """
    return append_linked_change(cdb, stream, scope, kind, items, now)[0]


def previous_versions(cdb: CloudDB, stream: str, scope: str, version: int) -> dict[str, int] | None:
    """DownChange.previous for a change at ``version``: per scope, the latest earlier change a
    receiver of this one also receives (see protocol.envelope.DownChange).

    Under the stream counter's lock, so no change below ``version`` can still appear.
    None when a change for all would have to name more stores than a message allows.
    """
    p = cdb.database.param
    # Each part reads the (stream, scope, version) or (stream, version) index: the log's
    # length does not matter.
    last = (f"SELECT MAX(version) FROM down_changes "
            f"WHERE stream = {p} AND scope = {p} AND version < {p}")  # fmt: skip
    if scope == ALL_STORES:
        # Every store with a change of its own since the last change for all; older ones are
        # covered by that change's version.
        sql = (f"SELECT {p}, ({last}) UNION ALL "
               f"SELECT scope, MAX(version) FROM down_changes WHERE stream = {p} "
               f"AND version > COALESCE(({last}), 0) AND version < {p} GROUP BY scope "
               f"LIMIT {MAX_PREVIOUS_SCOPES + 1}")  # fmt: skip
        params: list[Any] = [ALL_STORES, stream, ALL_STORES, version, stream, stream,
                             ALL_STORES, version, version]  # fmt: skip
    else:
        sql = f"SELECT {p}, ({last}) UNION ALL SELECT {p}, ({last})"
        params = [ALL_STORES, stream, ALL_STORES, version, scope, stream, scope, version]
    rows = [(s, v) for s, v in cdb.database.execute_sql(sql, params) if v is not None]
    found = {str(s): int(v) for s, v in rows}
    if len(found) > MAX_PREVIOUS_SCOPES:
        return None
    found.setdefault(ALL_STORES, 0)
    if scope != ALL_STORES:
        found.setdefault(scope, 0)
    return found


def append_linked_change(
    cdb: CloudDB, stream: str, scope: str, kind: str, items: list[dict[str, Any]], now: dt.datetime
) -> tuple[int, dict[str, int] | None]:
    """append_change, also returning the change's DownChange.previous."""
    if stream not in STREAMS:
        raise UnknownStream(f"stream {stream!r} is not one of {', '.join(STREAMS)}")
    m = cdb.models
    # One statement creates, bumps and reads the counter, holding its row lock to commit.
    [(version,)] = add_rows(cdb, "stream_versions", ["stream"], ["version"], [(stream, 1)],
                            returning=("version",))  # fmt: skip
    cdb.defer_query(
        m.DownChange.insert(
            stream=stream, version=int(version), scope=scope, kind=kind, items=items,
            created_at=now,
        )
    )  # fmt: skip
    return int(version), previous_versions(cdb, stream, scope, int(version))


def changes_since(
    cdb: CloudDB, stream: str, store_id: str, from_version: int, limit: int = 1000
) -> list[dict[str, Any]]:
    """Changes on ``stream`` after ``from_version`` meant for ``store_id`` (or for all stores)."""
    m = cdb.models
    query = (
        m.DownChange.select()
        .where(
            (m.DownChange.stream == stream)
            & (m.DownChange.version > from_version)
            & (m.DownChange.scope.in_([store_id, "all"]))
        )
        .order_by(m.DownChange.version)
        .limit(limit)
    )
    return [
        {"stream": c.stream, "version": c.version, "scope": c.scope, "kind": c.kind,
         "items": c.items}
        for c in query
    ]  # fmt: skip


#: The most one catch-up request can raise a stream's counter (a forged request cannot run the
#: counter to its limit; a till far ahead raises it again at its next catch-up).
MAX_RAISE: Final = 10_000_000


def raise_to(cdb: CloudDB, stream: str, version: int) -> int | None:
    """Number the stream's next changes above ``version``, which a till says it holds; inside
    a write transaction. Returns the counter it was raised from, or None when it was not.

    A till can hold more than the log only when the cloud's database is older than the till's
    view of it (restored from a backup). Without this, every change the cloud makes next would
    carry a version the till already holds, and the till would skip it as a duplicate.
    """
    if version <= current_version(cdb, stream):
        # The usual case (every status, every catch-up): no row lock, so a till's status never
        # waits on an ingest commit holding the counter.
        return None
    m = cdb.models
    row = cdb.locking(m.StreamVersion.select().where(m.StreamVersion.stream == stream)).first()
    current = int(row.version) if row is not None else 0
    if version <= current:
        return None
    target = min(version, current + MAX_RAISE)
    if row is None:
        m.StreamVersion.insert(stream=stream, version=target).execute()
    else:
        m.StreamVersion.update(version=target).where(m.StreamVersion.stream == stream).execute()
    return current


def current_version(cdb: CloudDB, stream: str) -> int:
    """The stream's latest version (0 before any change)."""
    m = cdb.models
    row = m.StreamVersion.get_or_none(m.StreamVersion.stream == stream)
    return int(row.version) if row else 0
