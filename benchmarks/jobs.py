"""Cloud jobs: the points-expiry job over a chain's ledger on SQLite, vs a raw read of that ledger.

Method: N members, each with three lots (one older than the period) and one redemption,
written straight into a fresh SQLite cloud file. The job runs once (it replays every
member's ledger under the member's lock, writes one expiry row per member and pushes each
member's facts), then again (it finds nothing due). The baseline reads the same ledger rows
in member order with one plain SQL cursor in the same run: the least any expiry must do.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
import time
from pathlib import Path

from cloud.jobs.config import JobsConfig
from cloud.jobs.registry import run_job
from cloud.store.bulk import insert_rows
from cloud.store.db import open_cloud_db
from cloud.store.effects import LEDGER_COLUMNS

NOW = dt.datetime(2027, 1, 1)


def _fill(url: str, members: int) -> None:
    cdb = open_cloud_db(url)
    try:
        old, recent = str(NOW - dt.timedelta(days=500)), str(NOW - dt.timedelta(days=30))
        ledger, people = [], []
        for n in range(members):
            m = f"M{n:07d}"
            people.append({"member_id": m, "phone": f"139{n:08d}", "updated_at": NOW})
            ledger += [
                (m, 300, "earn", f"s{n}a", "S001-T01", 4 * n + 1, 0, old),
                (m, 50, "earn", f"s{n}b", "S001-T01", 4 * n + 2, 0, recent),
                (m, -100, "redeem", f"s{n}c", "S001-T01", 4 * n + 3, 0, recent),
                (m, 19, "earn", f"s{n}c", "S001-T01", 4 * n + 3, 1, recent),
            ]
        with cdb.write():
            for start in range(0, len(people), 500):
                cdb.models.Member.insert_many(people[start : start + 500]).execute()
            insert_rows(cdb, "points_ledger", LEDGER_COLUMNS, ledger)
    finally:
        cdb.close()


def _raw_read(path: Path) -> float:
    start = time.perf_counter()
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT id, member_id, created_at, delta, reason, origin_sale_id FROM points_ledger "
            "ORDER BY member_id, id"
        ).fetchall()
    assert rows
    return time.perf_counter() - start


def run(quick: bool) -> dict[str, float]:
    """The figures (members per second, seconds, ratios)."""
    members = 2_000 if quick else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cloud.db"
        url = f"sqlite:///{path}"
        _fill(url, members)
        raw = min(_raw_read(path) for _ in range(3))
        cdb = open_cloud_db(url)
        try:
            timings = []
            for _ in range(2):
                start = time.perf_counter()
                result = run_job(
                    cdb,
                    "points_expiry",
                    config=JobsConfig(),
                    trigger="cli",
                    actor="bench",
                    publish=lambda _: None,
                    clock=lambda: NOW,
                )
                timings.append(time.perf_counter() - start)
                assert result.state == "ok"
            expired = cdb.models.PointsLedger.select().where(
                cdb.models.PointsLedger.reason == "expiry"
            )
            assert expired.count() == members  # each member's 200 left of lot A, once
        finally:
            cdb.close()
    first, second = timings
    return {
        "jobs.expiry_members_per_s": members / first,
        "jobs.expiry_first_run_s": first,
        "jobs.expiry_second_run_s": second,
        "jobs.expiry_raw_ledger_read_s": raw,
        "jobs.expiry_vs_raw_read_ratio": first / raw,
    }
