"""Member 360 on PostgreSQL: the whole view of one member, against a bare read of its row.

Figures:
- ``crm.member360_p95_ms``: p95 of ``cloud.store.crm.member_360`` (profile, tags,
  preferences, tier history, ledger and balance, purchases with items and ratings, returns,
  complaints, notes, coupons held and used) for random members.
- ``crm.member360_api_p95_ms``: the same through the HQ API in-process (routing, the role
  check, masking, JSON), as an analyst.
- ``crm.member_row_raw_p95_ms``: the raw baseline, in the same run: a bare indexed
  ``SELECT * FROM members WHERE member_id = %s``.
- ``crm.member360_vs_raw_ratio``: how many bare row reads one 360 costs.
- ``crm.member_search_p95_ms``: search by phone, by card and by the start of a name.
- ``crm.dataset_lines`` / ``crm.dataset_members``: the size measured on.

The data come from benchmarks/_crm_data.py. Sizes: ``--quick`` 200k sale lines and 20k
members; by default 2M lines and 200k members (about 5 minutes to generate on a shared 2-core
machine); ``CRM_BENCH_FULL=1`` generates the goal's 10M sale lines and 1M members (about 17
minutes there). Measured at full size on that machine (load average 12-14): 360 p95 27 ms,
median 16 ms, bare row read p95 4 ms, search p95 13 ms, API p95 97 ms (the API opens a
PostgreSQL connection per request, which dominates its figure).
"""

from __future__ import annotations

import os
import random
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks._crm_data import Shape, generate
from benchmarks._stats import percentile
from cloud.domain.crm import search_term
from cloud.store import crm, hq_access
from cloud.store.db import CloudDB, open_cloud_db
from tests.pg import PgUnavailable, fresh_database, pg_server

FULL_ENV = "CRM_BENCH_FULL"


def _fetch(cdb: Any, sql: str, member_id: str) -> list[Any]:
    return list(cdb.database.execute_sql(sql, (member_id,)).fetchall())


def _ms(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000, out


def _measure(cdb: CloudDB, shape: Shape, rounds: int) -> dict[str, float]:
    rng = random.Random(12)
    ids = [f"M{rng.randint(1, shape.members):07d}" for _ in range(rounds)]
    raw, whole, search = [], [], []
    sql = "SELECT * FROM members WHERE member_id = %s"
    for member_id in ids[:20]:  # warm the caches both sides read
        cdb.database.execute_sql(sql, (member_id,)).fetchall()
        crm.member_360(cdb, member_id)
    for member_id in ids:
        ms, rows = _ms(partial(_fetch, cdb, sql, member_id))
        assert len(rows) == 1
        raw.append(ms)
        ms, view = _ms(partial(crm.member_360, cdb, member_id))
        assert view is not None and view["profile"]["member_id"] == member_id
        whole.append(ms)
    for n in (int(m[1:]) for m in ids[: rounds // 3]):
        name = f"{'王李张刘陈'[n % 5]}会员{n}"
        for q in (f"13{n * 7919 % 1_000_000_000:09d}", f"C{n:09d}", name):
            ms, hits = _ms(partial(crm.search, cdb, search_term(q), None))
            assert f"M{n:07d}" in {h["member_id"] for h in hits.members}, q
            search.append(ms)
    busiest = max(len(crm.member_360(cdb, m)["purchases"]) for m in ids)  # type: ignore[index]
    print(f"crm: the busiest member measured had {busiest} purchases", flush=True)
    p95, raw95 = percentile(whole, 95), percentile(raw, 95)
    return {
        "crm.member360_p95_ms": p95,
        "crm.member360_median_ms": percentile(whole, 50),
        "crm.member_row_raw_p95_ms": raw95,
        "crm.member360_vs_raw_ratio": p95 / raw95,
        "crm.member_search_p95_ms": percentile(search, 95),
    }


def _measure_api(url: str, shape: Shape, rounds: int) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from cloud.api.app import create_app
    from tests.cloud.api.recorder import Recorder

    cdb = open_cloud_db(url)
    with cdb.write():
        user = hq_access.add_user(cdb, "bench-analyst", "benchmark password", "analyst")
        _, token = hq_access.create_token(cdb, user.user_id, "bench", "bench")
    cdb.close()
    rng = random.Random(13)
    times = []
    with TestClient(create_app(url, Recorder()), headers={"Authorization": f"Bearer {token}"}) as c:
        for n in range(rounds + 10):
            member_id = f"M{rng.randint(1, shape.members):07d}"
            ms, reply = _ms(partial(c.get, f"/api/crm/members/{member_id}"))
            assert reply.status_code == 200 and reply.json()["masked"] is True
            if n >= 10:  # the first calls warm the app
                times.append(ms)
    return percentile(times, 95)


def run(quick: bool) -> dict[str, float]:
    """Generate the members and their history on a fresh PostgreSQL database, then measure."""
    if quick:
        shape = Shape(lines=200_000, members=20_000)
    elif os.environ.get(FULL_ENV):
        shape = Shape(lines=10_000_000, members=1_000_000)
    else:
        shape = Shape(lines=2_000_000, members=200_000)
    rounds = 100 if quick else 400
    figures: dict[str, float] = {}
    try:
        with pg_server() as admin, fresh_database(admin) as url:
            start = time.perf_counter()
            generate(url, shape)
            print(
                f"crm: generated {shape.lines:,} lines, {shape.members:,} members in "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
            cdb = open_cloud_db(url)
            try:
                figures.update(_measure(cdb, shape, rounds))
            finally:
                cdb.close()
            figures["crm.member360_api_p95_ms"] = _measure_api(url, shape, rounds // 2)
            figures["crm.dataset_lines"] = float(shape.lines)
            figures["crm.dataset_members"] = float(shape.members)
    except PgUnavailable as err:
        print(f"crm benchmark skipped: {err}", file=sys.stderr)
    return figures
