"""Assertions that a cloud database holds exactly a Workload: nothing lost, nothing twice."""

from __future__ import annotations

import peewee as pw

from cloud.store.db import CloudDB
from tests.cloud.ingest.workload import Workload


def assert_exact(cdb: CloudDB, w: Workload) -> None:
    """Compare every figure the workload implies against the database."""
    m = cdb.models
    assert m.Event.select().count() == w.events
    per_terminal = {
        t: (int(s or 0), int(n))
        for t, s, n in m.DailyTotals.select(
            m.DailyTotals.terminal_id, pw.fn.SUM(m.DailyTotals.sales_fen),
            pw.fn.SUM(m.DailyTotals.sales_count),
        ).group_by(m.DailyTotals.terminal_id).tuples()
    }  # fmt: skip
    expected = {t: (w.sales_fen[t], sum(len(b) for b in w.messages[t])) for t in w.messages}
    assert per_terminal == expected
    sku_qty = {
        (store, sku): int(q)
        for store, sku, q in m.SkuSales.select(
            m.SkuSales.store_id, m.SkuSales.sku, pw.fn.SUM(m.SkuSales.quantity)
        ).group_by(m.SkuSales.store_id, m.SkuSales.sku).tuples()
    }  # fmt: skip
    assert sku_qty == w.sku_qty
    points = {
        member: int(total)
        for member, total in m.PointsLedger.select(
            m.PointsLedger.member_id, pw.fn.SUM(m.PointsLedger.delta)
        ).group_by(m.PointsLedger.member_id).tuples()
    }  # fmt: skip
    assert points == w.member_points
    marks = {t.terminal_id: t.high_water for t in m.Terminal.select()}
    assert marks == {t: sum(len(b) for b in w.messages[t]) for t in w.messages}
