"""HQ reports on PostgreSQL over 10M sale lines and 1M members: rollups vs a raw scan, and the page.

Figures:
- ``hq.report_p95_ms``: p95 of the report mix (the dashboard's queries, store drill-downs,
  top products, categories, cashiers, tenders, a quarter by day, a member's points) served from
  the rollups, each query run many times with random stores and days.
- ``hq.report_raw_p95_ms``: the same questions answered by a plain GROUP BY over the raw events
  (JSON bodies parsed with jsonb, the events' own (store, day) index used), in the same run.
- ``hq.report_vs_raw_scan_ratio``: raw p95 over rollup p95 (how many times faster).
- ``hq.dashboard_load_ms``: Chromium loading the signed-in dashboard (chain, one day) until
  its chart is drawn, median of several loads, with the API served by uvicorn.
The data come from benchmarks/_hq_data.py (``--quick``: 200k lines, 20k members).
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks._hq_data import Shape, generate
from cloud.api.app import create_app
from cloud.store import hq_access, queries
from cloud.store.db import CloudDB, open_cloud_db
from cloud.store.reports import REPORTS, Filters
from tests.cloud.api.browser import CHROMIUM
from tests.cloud.api.browser import FLAGS as CHROMIUM_FLAGS
from tests.pg import PgUnavailable, fresh_database, pg_server

PASSWORD = "benchmark password"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000, out


def _raw(cdb: CloudDB, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return list(cdb.database.execute_sql(sql, params).fetchall())


LINES = "jsonb_array_elements(e.body::jsonb -> 'lines')"
WHERE = "e.type = 'sale' AND NOT e.dead AND e.business_day BETWEEN %s AND %s"


def _mix(shape: Shape, rng: random.Random) -> list[tuple[str, Filters, str, list[Any]]]:
    """(report, filters, the raw SQL answering the same question, its parameters)."""
    store = f"S{rng.randint(1, shape.stores):03d}"
    day = shape.first_day + dt.timedelta(days=rng.randint(30, shape.days - 1))
    week, month = day - dt.timedelta(days=6), day - dt.timedelta(days=29)
    one = frozenset({store})
    return [
        (
            "sales-by-store",
            Filters(None, day, day),
            f"SELECT e.store_id, count(*), sum(e.amount_fen) FROM events e WHERE {WHERE} "
            "GROUP BY e.store_id ORDER BY e.store_id",
            [day, day],
        ),
        (
            "sales-by-hour",
            Filters(one, day, day),
            f"SELECT e.business_hour, count(*), sum(e.amount_fen) FROM events e WHERE {WHERE} "
            "AND e.store_id = %s GROUP BY 1 ORDER BY 1",
            [day, day, store],
        ),
        (
            "top-products",
            Filters(None, week, day, None, 10),
            f"SELECT l ->> 'sku', sum((l ->> 'net_fen')::bigint) AS n FROM events e, {LINES} l "
            f"WHERE {WHERE} GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10",
            [week, day],
        ),
        (
            "top-products",
            Filters(one, month, day, None, 10),
            f"SELECT l ->> 'sku', sum((l ->> 'net_fen')::bigint) AS n FROM events e, {LINES} l "
            f"WHERE {WHERE} AND e.store_id = %s GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10",
            [month, day, store],
        ),
        (
            "sales-by-category",
            Filters(None, month, day),
            f"SELECT l ->> 'category', sum((l ->> 'net_fen')::bigint) AS n FROM events e, {LINES} l"
            f" WHERE {WHERE} GROUP BY 1 ORDER BY n DESC, 1",
            [month, day],
        ),
        (
            "sales-by-cashier",
            Filters(one, week, day),
            f"SELECT e.body::jsonb ->> 'cashier_id', count(*), sum(e.amount_fen) FROM events e "
            f"WHERE {WHERE} AND e.store_id = %s GROUP BY 1 ORDER BY 1",
            [week, day, store],
        ),
        (
            "sales-by-tender",
            Filters(one, month, day),
            "SELECT t ->> 'kind', sum((t ->> 'amount_fen')::bigint) FROM events e, "
            f"jsonb_array_elements(e.body::jsonb -> 'tenders') t WHERE {WHERE} AND e.store_id = %s "
            "GROUP BY 1 ORDER BY 1",
            [month, day, store],
        ),
        (
            "sales-by-day",
            Filters(None, shape.first_day, shape.first_day + dt.timedelta(days=shape.days - 1)),
            f"SELECT e.business_day, count(*), sum(e.amount_fen) FROM events e WHERE {WHERE} "
            "GROUP BY 1 ORDER BY 1",
            [shape.first_day, shape.first_day + dt.timedelta(days=shape.days - 1)],
        ),
    ]


def _check_same(name: str, table: Any, raw: list[tuple[Any, ...]]) -> None:
    """The rollups and the raw scan must agree, or the figures compare different things."""
    got: list[tuple[Any, ...]]
    want: list[tuple[Any, ...]]
    if name in ("top-products", "sales-by-category"):
        got = [(r[0], r[7] if name == "top-products" else r[3]) for r in table.rows]
        want = [(k, int(n)) for k, n in raw]
    elif name == "sales-by-tender":
        got = [(r[0], r[2]) for r in table.rows]
        want = [(k, int(a)) for k, a in raw]
    else:
        key = table.columns.index(
            {
                "sales-by-store": "store_id",
                "sales-by-hour": "hour",
                "sales-by-cashier": "cashier_id",
                "sales-by-day": "day",
            }[name]
        )
        got = [(str(r[key]), r[key + 1], r[key + 6]) for r in table.rows]
        want = [(str(k), int(c), int(s)) for k, c, s in raw]
    if got != want:
        raise AssertionError(f"{name}: rollups {got[:3]} differ from the raw scan {want[:3]}")


def _measure_reports(cdb: CloudDB, shape: Shape, rounds: int, raw_rounds: int) -> dict[str, float]:
    rng = random.Random(11)
    rolled: list[float] = []
    by_query: dict[str, list[float]] = {}
    raw: list[float] = []
    members = [f"M{rng.randint(1, shape.members):07d}" for _ in range(rounds)]
    for r in range(rounds):
        for name, f, sql, params in _mix(shape, rng):
            ms, table = _timed(partial(REPORTS[name], cdb, f))
            rolled.append(ms)
            by_query.setdefault(f"{name}{'' if f.stores is None else ' (store)'}", []).append(ms)
            if r < raw_rounds:
                raw_ms, rows = _timed(partial(_raw, cdb, sql, params))
                raw.append(raw_ms)
                _check_same(name, table, rows)
        ms, _ = _timed(partial(queries.member_points, cdb, members[r]))
        rolled.append(ms)
        if r < raw_rounds:
            raw.append(ms)  # no rollup for one member's ledger: the same query on both sides
    for query, times in sorted(by_query.items()):  # which query sets the p95, in the log
        print(
            f"hq: {query:<28} median {statistics.median(times):7.1f} ms, p95 {_p95(times):7.1f} ms",
            flush=True,
        )
    return {
        "hq.report_p95_ms": _p95(rolled),
        "hq.report_raw_p95_ms": _p95(raw),
        "hq.report_vs_raw_scan_ratio": _p95(raw) / _p95(rolled),
    }


class _Offline:
    def publish(self, topic: str, payload: bytes) -> None:
        raise RuntimeError("no broker in this benchmark")


def _dashboard_ms(url: str, day: dt.date, loads: int) -> float:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from provisioning.ports import free_port

    cdb = open_cloud_db(url)
    with cdb.write():
        hq_access.add_user(cdb, "bench-admin", PASSWORD, "admin")
    cdb.close()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(url, _Offline()), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    flags = list(CHROMIUM_FLAGS)  # as the HQ page's browser tests launch it
    samples = []
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
            browser = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=flags
            )
            page = browser.new_page()
            page.goto(f"{base}/login")
            page.fill("input[name=username]", "bench-admin")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_selector("#who")
            target = f"{base}/?date_from={day}&date_to={day}"
            for _ in range(loads + 1):  # the first load warms caches and is left out
                start = time.perf_counter()
                page.goto(target)
                page.wait_for_function("() => document.querySelector('[data-chart]').dataset.drawn")
                samples.append((time.perf_counter() - start) * 1000)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return statistics.median(samples[1:])


def run(quick: bool) -> dict[str, float]:
    """Generate the chain on a fresh PostgreSQL database, then measure."""
    shape = (
        Shape(lines=200_000, members=20_000)
        if quick
        else Shape(lines=10_000_000, members=1_000_000)
    )
    figures: dict[str, float] = {}
    try:
        with pg_server() as admin, fresh_database(admin) as url:
            start = time.perf_counter()
            generate(url, shape)
            print(
                f"hq: generated {shape.lines:,} lines, {shape.members:,} members in "
                f"{time.perf_counter() - start:.0f} s",
                flush=True,
            )
            cdb = open_cloud_db(url)
            try:
                figures.update(
                    _measure_reports(
                        cdb, shape, rounds=10 if quick else 30, raw_rounds=2 if quick else 3
                    )
                )
            finally:
                cdb.close()
            day = shape.first_day + dt.timedelta(days=shape.days - 1)
            figures["hq.dashboard_load_ms"] = _dashboard_ms(url, day, 3 if quick else 7)
    except PgUnavailable as err:
        print(f"hq benchmark skipped: {err}", file=sys.stderr)
    return figures
