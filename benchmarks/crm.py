"""Customer management on PostgreSQL: RFM scoring of every member, and a 100k-row campaign export.

Method: members and their sale events are generated server-side (generate_series) into a
fresh PostgreSQL cloud database: one event row per sale, as ingest stores them, each naming
its member, spread over a year and 50 stores, with returns on 2% of sales. Then:

- ``crm.rfm_1m_members_s``: one run of the ``rfm_segments`` job (aggregates, quintile ranks,
  labels, segment sizes and movements, all in SQL) over every member. Full size is 1M members
  over 10M sale events (``CRM_BENCH_FULL=1``); the default is 200k members over 2M sales,
  ``--quick`` 20k over 200k. The figure's name keeps the goal's size; the sizes measured are
  reported beside it (``crm.rfm_members``, ``crm.rfm_sale_events``).
- ``crm.rfm_raw_baseline_s``: in the same run, a bare ``SELECT member_id, count(*),
  sum(amount_fen), max(business_day) ... GROUP BY member_id`` over the same events, every
  row fetched: the least any scoring must do. ``crm.rfm_vs_raw_ratio`` is the job over it.
- ``crm.campaign_export_100k_s``: building the CSV of a campaign reaching the members of one
  home store (a tenth of the members, less those who opted out): 100k rows at full size.
  ``crm.campaign_export_rows`` is how many rows it wrote; ``crm.campaign_export_jsonl_s``
  the same as JSON lines.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from typing import Any

import psycopg2

from cloud.api.routers.crm_segments import export_campaign
from cloud.jobs.config import JobsConfig
from cloud.jobs.registry import run_job
from cloud.store import engagement
from cloud.store.db import open_cloud_db
from tests.pg import PgUnavailable, fresh_database, pg_server

FIRST_DAY = dt.date(2026, 1, 1)
NOW = dt.datetime(2027, 1, 1, 4, 0)  # noon in Shanghai, the day after the last sale day


def _generate(url: str, members: int, sales: int) -> None:
    open_cloud_db(url).close()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET work_mem = '256MB'; SET maintenance_work_mem = '512MB'")
    # Home store S000..S009 (a tenth each); 5% opted out, uncorrelated with the store.
    cur.execute(
        f"""
        INSERT INTO members (member_id, phone, name, home_store, tier, cumulative_spend_fen,
                             registered_at, updated_at, birthday, gender, opt_out_sms,
                             member_code, cards, rev)
        SELECT 'M' || lpad(g::text, 7, '0'), '139' || lpad(g::text, 8, '0'), '顾客' || g,
               'S' || lpad((g % 10)::text, 3, '0'), 'regular', 0, TIMESTAMP '2025-01-01',
               TIMESTAMP '2025-01-01', DATE '1980-01-01' + (g % 9000), '',
               (g / 10) % 20 = 0, '', '[]', 0
        FROM generate_series(1, {members}) AS g
        """
    )
    # Sales: a member by hash (uneven counts, as in life), a day in the year, an hour, a total.
    cur.execute(
        f"""
        INSERT INTO events (terminal_id, seq, event_id, store_id, type, device_time,
                            clock_synced, received_at, business_day, business_hour, amount_fen,
                            receipt_no, dead, body, epoch, status, member_id)
        SELECT 'S' || lpad((g % 50)::text, 3, '0') || '-T01', g, md5(g::text)::uuid::text,
               'S' || lpad((g % 50)::text, 3, '0'),
               CASE WHEN g % 50 = 0 THEN 'return' ELSE 'sale' END,
               '2026-01-01T00:00:00+00:00', true, TIMESTAMP '2026-01-01',
               DATE '{FIRST_DAY}' + ((hashint4(g) & 2147483647) % 365), 8 + g % 14,
               CASE WHEN g % 50 = 0 THEN 500 ELSE 100 + (hashint4(g * 7) & 2147483647) % 50000 END,
               'R' || g, false, '{{}}', '', 'ok',
               'M' || lpad((1 + (hashint4(g * 13) & 2147483647) % {members})::text, 7, '0')
        FROM generate_series(1, {sales}) AS g
        """
    )
    cur.execute("VACUUM ANALYZE")
    conn.close()


def _raw_baseline(url: str) -> float:
    conn = psycopg2.connect(url)
    try:
        cur = conn.cursor()
        start = time.perf_counter()
        cur.execute(
            "SELECT member_id, count(*), sum(amount_fen), max(business_day) FROM events "
            "WHERE member_id IS NOT NULL AND type = 'sale' GROUP BY member_id"
        )
        rows = cur.fetchall()
        elapsed = time.perf_counter() - start
        assert rows
        return elapsed
    finally:
        conn.close()


def _score(url: str) -> tuple[float, int]:
    cdb = open_cloud_db(url)
    try:
        start = time.perf_counter()
        result = run_job(
            cdb, "rfm_segments", config=JobsConfig(), trigger="cli", actor="bench",
            publish=lambda _: None, clock=lambda: NOW,
        )  # fmt: skip
        elapsed = time.perf_counter() - start
        assert result.state == "ok", result.error
        return elapsed, int(result.summary["counts"]["members_scored"])
    finally:
        cdb.close()


def _export(url: str) -> dict[str, float]:
    cdb = open_cloud_db(url)
    try:
        with cdb.write():
            campaign = engagement.create_campaign(
                cdb, "bench", engagement.Audience(stores=("S001",)), "campaign_notice",
                "zh_CN", "bench", NOW,
            )  # fmt: skip
        out: dict[str, float] = {}
        for fmt, name in (("csv", "crm.campaign_export_100k_s"),
                          ("jsonl", "crm.campaign_export_jsonl_s")):  # fmt: skip
            start = time.perf_counter()
            spooled, rows = export_campaign(cdb, campaign, fmt, masked=False)
            while spooled.read(1 << 20):  # the response reads it out
                pass
            spooled.close()
            out[name] = round(time.perf_counter() - start, 3)
            out["crm.campaign_export_rows"] = rows
        return out
    finally:
        cdb.close()


def run(quick: bool) -> dict[str, float]:
    """Generate members and sales on a fresh PostgreSQL database, then measure."""
    full = os.environ.get("CRM_BENCH_FULL", "") not in ("", "0")
    members, sales = (
        (20_000, 200_000) if quick else (1_000_000, 10_000_000) if full else (200_000, 2_000_000)
    )
    figures: dict[str, Any] = {}
    try:
        with pg_server() as admin, fresh_database(admin) as url:
            start = time.perf_counter()
            _generate(url, members, sales)
            print(f"crm: generated {members:,} members, {sales:,} sale events in "
                  f"{time.perf_counter() - start:.0f} s", flush=True)  # fmt: skip
            raw = _raw_baseline(url)
            scored_s, scored = _score(url)
            raw_after = _raw_baseline(url)  # both sides of the scoring, for a warm cache
            base = min(raw, raw_after)
            figures.update({
                "crm.rfm_1m_members_s": round(scored_s, 3),
                "crm.rfm_raw_baseline_s": round(base, 3),
                "crm.rfm_vs_raw_ratio": round(scored_s / base, 2),
                "crm.rfm_members": scored,
                "crm.rfm_sale_events": sales,
            })  # fmt: skip
            figures.update(_export(url))
    except PgUnavailable as err:
        print(f"crm benchmark skipped: {err}", file=sys.stderr)
    return figures
