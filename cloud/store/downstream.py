"""Downstream change log: per-stream versions for HQ pushes and tier changes, and catch-up reads."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cloud.store.db import CloudDB
from cloud.store.errors import UnknownStream
from protocol.topics import STREAMS


def append_change(
    cdb: CloudDB, stream: str, scope: str, kind: str, items: list[dict[str, Any]], now: dt.datetime
) -> int:
    """Store a change under the stream's next version and return that version.

    Must run inside a write transaction: the counter row's update lock keeps versions gapless
    and unique when the API and several ingest workers append at once.
    """
    if stream not in STREAMS:
        raise UnknownStream(f"stream {stream!r} is not one of {', '.join(STREAMS)}")
    m = cdb.models
    m.StreamVersion.insert(stream=stream, version=0).on_conflict_ignore().execute()
    m.StreamVersion.update(version=m.StreamVersion.version + 1).where(
        m.StreamVersion.stream == stream
    ).execute()
    version = int(m.StreamVersion.get(m.StreamVersion.stream == stream).version)
    m.DownChange.insert(
        stream=stream, version=version, scope=scope, kind=kind, items=items, created_at=now
    ).execute()
    return version


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


def current_version(cdb: CloudDB, stream: str) -> int:
    """The stream's latest version (0 before any change)."""
    m = cdb.models
    row = m.StreamVersion.get_or_none(m.StreamVersion.stream == stream)
    return int(row.version) if row else 0
