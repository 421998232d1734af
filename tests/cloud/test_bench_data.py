"""The benchmarks' generated chains are what the product reads.

`make bench` is not part of CI, so a schema or signature change can break a generator unseen
(two once did). These build the generators' data at a tiny size and read it the product's way.
"""

from __future__ import annotations

from benchmarks import crm
from benchmarks._hq_data import Shape, generate
from benchmarks.hq import _measure_reports
from cloud.store.db import open_cloud_db


def test_the_hq_chain_reads_the_same_through_reports_as_by_a_raw_scan(fresh_pg_url: str) -> None:
    shape = Shape(lines=4000, members=300, stores=3, days=35, skus=60, categories=6)
    generate(fresh_pg_url, shape)
    cdb = open_cloud_db(fresh_pg_url)
    try:
        # Each report is checked against a raw scan of the events inside (it raises if not).
        figures = _measure_reports(cdb, shape, rounds=2, raw_rounds=2)
        sales, with_member, members = cdb.database.execute_sql(
            "SELECT count(*), count(member_id), (SELECT count(*) FROM members) FROM events "
            "WHERE type = 'sale' AND status = 'ok'"
        ).fetchone()
    finally:
        cdb.close()
    assert figures["hq.report_raw_p95_ms"] > 0
    assert sales == shape.sales and members == shape.members
    assert with_member == shape.sales // 3  # every third sale is a member's, as generated


def test_the_crm_chain_is_scored_by_the_rfm_job(fresh_pg_url: str) -> None:
    crm._generate(fresh_pg_url, members=200, sales=1500)
    _elapsed, scored = crm._score(fresh_pg_url)
    cdb = open_cloud_db(fresh_pg_url)
    try:
        (buyers,) = cdb.database.execute_sql(
            "SELECT count(DISTINCT member_id) FROM events WHERE type = 'sale' AND status = 'ok'"
        ).fetchone()
    finally:
        cdb.close()
    assert 0 < buyers == scored
