"""A full database: a clear error before payment, no partial sale, nothing earlier lost."""

# SQLITE_FULL is produced honestly with PRAGMA max_page_count: SQLite itself refuses to grow
# the file (and rolls the whole transaction back).

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device.store.errors import DatabaseFull
from device.store.store import Store
from tests.device.store.builders import FakeClock, make_sale, store_config


def _pages(path: Path) -> int:
    s = Store.open(path, store_config(), create=True, clock=FakeClock())
    pages = int(s.db.conn().execute("PRAGMA page_count").fetchone()[0])
    s.close()
    return pages


def test_full_database_refuses_the_sale_and_keeps_every_earlier_one(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    limit = _pages(path) + 40
    s = Store.open(path, store_config(max_pages=limit, headroom_pages=8), clock=FakeClock())
    s.members.upsert([{"member_id": "M0001", "phone": "13800000001"}])
    recorded = []
    warned_at = None
    with pytest.raises(DatabaseFull, match="the sale was NOT recorded") as raised:
        for i in range(10_000):
            if warned_at is None:
                try:
                    s.check_headroom()
                except DatabaseFull as exc:
                    assert "do not take payment" in str(exc)
                    warned_at = i
            sale = make_sale(10, seed=i)
            recorded.append((sale, s.record_sale(sale)))
    assert warned_at is not None and warned_at <= len(recorded)  # the warning came first
    assert "free space or call support" in str(raised.value)

    # Nothing partial from the refused sale: every row belongs to a recorded sale.
    n = len(recorded)
    q = s.db.query
    assert q("SELECT count(*) FROM sale")[0][0] == n
    assert q("SELECT count(*) FROM outbox")[0][0] == n
    assert q("SELECT count(*) FROM sale_line")[0][0] == 10 * n
    assert q("SELECT count(DISTINCT seq) FROM points_ledger")[0][0] == n
    assert s.db.integrity_check() == []
    member = s.members.by_id("M0001")  # the refused sale's spend was rolled back with it
    assert member is not None
    assert member.cumulative_spend_fen == sum(sale.total_fen for sale, _ in recorded)
    for sale, rec in recorded:
        assert s.journal.sale_by_receipt(rec.receipt_no) == (sale, rec.receipt_no)
    s.close()

    # Space freed: the next sale continues the numbering with no gap.
    s = Store.open(path, store_config(max_pages=limit + 200, headroom_pages=8), clock=FakeClock())
    s.check_headroom()
    nxt = s.record_sale(make_sale(10, seed=99_999))
    assert nxt.seq == n + 1
    assert nxt.receipt_no == f"S001-T01-20261123-{n + 1:04d}"
    bodies = [json.loads(e.body)["receipt_no"] for e in s.outbox_pending(limit=10_000)]
    assert bodies == [f"S001-T01-20261123-{i:04d}" for i in range(1, n + 2)]
    s.close()
