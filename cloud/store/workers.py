"""Ingest workers' heartbeats: each writes its row; HQ reads it as ok, idle, stale or stopped.

A heartbeat row rather than a retained MQTT status: the API already reads the database, a
row survives broker restarts, and "the last beat is old" is exactly what a killed worker (or
one whose process hangs) looks like, without trusting a last will the broker may deliver late.
A stale or stopped worker whose persistent session still exists keeps receiving its share of
the events at the broker; the API says so and names the retire command.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from cloud.store.db import CloudDB

#: A worker whose last beat is older than this many intervals is reported stale (dead or hung).
STALE_INTERVALS: Final = 3
#: A connected worker that committed nothing for this long while its queue is empty is idle.
IDLE_AFTER: Final = dt.timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class Beat:
    """One heartbeat: what the worker says about itself now."""

    client_id: str
    host: str
    pid: int
    started_at: dt.datetime
    now: dt.datetime
    connected: bool
    last_commit_at: dt.datetime | None
    commits: int
    queue_depth: int
    interval_s: float
    stopped: bool = False


def beat(cdb: CloudDB, b: Beat) -> None:
    """Write (upsert) the worker's row; one short transaction."""
    w = cdb.hq.WorkerHeartbeat
    fields = {
        "host": b.host[:100],
        "pid": b.pid,
        "started_at": b.started_at,
        "beat_at": b.now,
        "connected": b.connected,
        "last_commit_at": b.last_commit_at,
        "commits": b.commits,
        "queue_depth": b.queue_depth,
        "interval_s": b.interval_s,
        "stopped_at": b.now if b.stopped else None,
    }
    with cdb.write():
        w.insert(client_id=b.client_id[:64], **fields).on_conflict(
            conflict_target=[w.client_id], update={getattr(w, k): v for k, v in fields.items()}
        ).execute()


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=dt.UTC).isoformat()


def state_of(row: Any, now: dt.datetime) -> tuple[str, str]:
    """(state, what to do): ok, idle, stale or stopped."""
    retire = f"python -m cloud.ingest --retire --client-id {row.client_id}"
    if row.stopped_at is not None:
        return "stopped", (
            f"stopped cleanly; if it is not coming back, retire its session: {retire}"
        )
    if now - row.beat_at > dt.timedelta(seconds=STALE_INTERVALS * row.interval_s):
        return "stale", (
            f"no heartbeat for {int((now - row.beat_at).total_seconds())} s: the "
            f"process died or hangs, and its persistent session keeps taking a "
            f"share of the events; restart it or retire it: {retire}"
        )
    if not row.connected:
        return "disconnected", "running but not connected to the broker"
    last = row.last_commit_at or row.started_at
    if row.queue_depth == 0 and now - last > IDLE_AFTER:
        return "idle", "connected, nothing committed lately (no traffic, or no share of it)"
    return "ok", ""


def worker_states(cdb: CloudDB, now: dt.datetime) -> list[dict[str, Any]]:
    """Every worker that ever beat, with its state."""
    w = cdb.hq.WorkerHeartbeat
    out = []
    for row in w.select().order_by(w.client_id):
        state, advice = state_of(row, now)
        out.append(
            {
                "client_id": row.client_id,
                "host": row.host,
                "pid": row.pid,
                "state": state,
                "advice": advice,
                "started_at": _iso(row.started_at),
                "beat_at": _iso(row.beat_at),
                "beat_age_s": round((now - row.beat_at).total_seconds(), 1),
                "connected": row.connected,
                "last_commit_at": _iso(row.last_commit_at),
                "commits": row.commits,
                "queue_depth": row.queue_depth,
            }
        )
    return out
