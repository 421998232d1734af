"""Assertions that a cloud database holds exactly a Workload: nothing lost, nothing twice."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

import peewee as pw
import pytest

from cloud.store.db import CloudDB, open_cloud_db
from tests.cloud.ingest.workload import Workload
from tests.pg import create_database, drop_database


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


def stored_contents(cdb: CloudDB) -> dict[str, Any]:
    """Everything ingest writes that does not depend on when or how often it committed."""
    m, r = cdb.models, cdb.rollups

    def rows(query: Any) -> list[tuple[Any, ...]]:
        return sorted(tuple(str(v) for v in row) for row in query.tuples())

    out = {
        "events": rows(m.Event.select(m.Event.terminal_id, m.Event.seq, m.Event.event_id,
                                      m.Event.status, m.Event.member_id, m.Event.body,
                                      m.Event.amount_fen, m.Event.business_day)),
        "members": rows(m.Member.select(m.Member.member_id, m.Member.cumulative_spend_fen,
                                        m.Member.tier)),
        "ledger": rows(m.PointsLedger.select(m.PointsLedger.member_id, m.PointsLedger.delta,
                                             m.PointsLedger.reason, m.PointsLedger.origin_terminal,
                                             m.PointsLedger.origin_seq)),
        "totals": rows(m.DailyTotals.select()),
        "skus": rows(m.SkuSales.select()),
        "marks": rows(m.Terminal.select(m.Terminal.terminal_id, m.Terminal.high_water,
                                        m.Terminal.max_seq, m.Terminal.epoch, m.Terminal.flagged)),
        "conflicts": rows(m.EventConflict.select(m.EventConflict.terminal_id, m.EventConflict.seq,
                                                 m.EventConflict.event_id)),
        "held": rows(m.EventFlag.select(m.EventFlag.terminal_id, m.EventFlag.seq)),
        "dead": rows(m.DeadLetter.select(m.DeadLetter.topic, m.DeadLetter.terminal_id,
                                         m.DeadLetter.reason, m.DeadLetter.payload_size)),
    }  # fmt: skip
    for model in r.all():
        fields = [f for f in model._meta.sorted_fields if f.name not in ("id", "updated_at")]
        out[model._meta.table_name] = rows(model.select(*fields))
    return out


def two_databases(request: pytest.FixtureRequest, tmp_path: Any, engine: str) -> list[str]:
    """Two fresh cloud database URLs on ``engine`` ("sqlite" or "pg"), dropped after the test."""
    if engine == "sqlite":
        return [f"sqlite:///{tmp_path}/grouped.db", f"sqlite:///{tmp_path}/alone.db"]
    admin = request.getfixturevalue("pg_admin_url")
    urls = [create_database(admin), create_database(admin)]
    for url in urls:
        request.addfinalizer(lambda url=url: drop_database(admin, url))
    return urls


@contextmanager
def opened(*urls: str) -> Iterator[list[CloudDB]]:
    """The cloud databases at ``urls``, open, closed afterwards."""
    dbs = [open_cloud_db(url) for url in urls]
    try:
        yield dbs
    finally:
        for cdb in dbs:
            cdb.close()


def assert_same_contents(
    got: CloudDB, want: CloudDB, *, skip: Collection[str] = ()
) -> dict[str, Any]:
    """Assert both databases store the same (tables in ``skip`` aside); return ``got``'s."""
    mine, theirs = stored_contents(got), stored_contents(want)
    for table in theirs:
        if table not in skip:
            assert mine[table] == theirs[table], table
    return mine
