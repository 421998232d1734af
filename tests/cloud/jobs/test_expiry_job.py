"""The points-expiry job on SQLite and PostgreSQL, over a history stored by the real ingest.

Hand-worked (default rules: 1 point per ¥10 paid in money, 100 points = ¥10), with points
expiring 365 days after they were recorded:

    M-EXP  day 0    sale ¥3,000                 +300  (lot A)
           day 300  sale ¥500                    +50  (lot B)
           day 310  sale ¥200, redeems 100      -100, then +19 for the ¥190 paid (lot C)
    The redemption takes 100 of lot A, the oldest. On day 400 lot A (older than 365 days)
    still holds 200: they expire, the balance goes 269 -> 69. On day 700 lots B and C are
    old too: 50 + 19 expire, the balance is 0.
    M-OVER day 0    sale ¥1,000                 +100
           day 1    sale ¥1,000, redeems 300    -300, then +97 (over-redeemed offline)
    The balance is -103: nothing can expire.
"""

from __future__ import annotations

import threading

import pytest

from cloud.jobs.config import JobsConfig
from cloud.store.db import CloudDB, open_cloud_db
from tests.cloud.jobs.helpers import Till, day, ledger, member_changes, publish_rules, run


def _history(cdb: CloudDB) -> dict[str, str]:
    till = Till(cdb, "S001-T01")
    sale_a = till.sale("M-EXP", 3000, day(0))
    till.sale("M-EXP", 500, day(300))
    till.sale("M-EXP", 200, day(310), redeem=100)
    till.sale("M-OVER", 1000, day(0))
    Till(cdb, "S002-T01").sale("M-OVER", 1000, day(1), redeem=300)
    till.sale("M-NEW", 100, day(390))
    return {"A": sale_a["sale_id"]}


def _balance(cdb: CloudDB, member: str) -> int:
    return sum(delta for delta, *_ in ledger(cdb, member))


def _expiries(cdb: CloudDB, member: str) -> list[tuple[int, str, str, int]]:
    return [row for row in ledger(cdb, member) if row[1] == "expiry"]


def test_unspent_points_older_than_the_period_expire_oldest_first_once(cloud_db: CloudDB) -> None:
    sales = _history(cloud_db)
    p = cloud_db.models.PointsLedger
    lot_a = p.get((p.member_id == "M-EXP") & (p.delta == 300)).id
    assert _balance(cloud_db, "M-EXP") == 269 and _balance(cloud_db, "M-OVER") == -103

    # A dry run says what would expire, and changes nothing.
    preview, sent = run(cloud_db, "points_expiry", day(400), dry_run=True)
    assert preview.summary["counts"]["points_expired"] == 200 and sent == []
    assert _expiries(cloud_db, "M-EXP") == []
    changes_before = len(member_changes(cloud_db))

    result, sent = run(cloud_db, "points_expiry", day(400))
    assert result.state == "ok" and result.members_changed == 1
    assert result.summary["counts"] == {
        "members_checked": 2,
        "points_expired": 200,
        "lots_expired": 1,
    }
    assert _expiries(cloud_db, "M-EXP") == [(-200, "expiry", "hq:expiry", lot_a)]
    row = p.get((p.member_id == "M-EXP") & (p.reason == "expiry"))
    assert row.origin_sale_id == sales["A"]  # the sale that earned them
    assert _balance(cloud_db, "M-EXP") == 69 and _balance(cloud_db, "M-OVER") == -103
    # The member's new facts were pushed once, in the run's transaction.
    [(kind, items)] = member_changes(cloud_db)[changes_before:]
    assert kind == "upsert" and [(i["member_id"], i["points_balance"]) for i in items] == [
        ("M-EXP", 69)
    ]
    assert [c.version for c in sent] == [len(member_changes(cloud_db))]

    # Running it again changes nothing more: no row, no push.
    again, sent = run(cloud_db, "points_expiry", day(400))
    assert again.members_changed == 0 and sent == [] and len(_expiries(cloud_db, "M-EXP")) == 1
    assert len(member_changes(cloud_db)) == changes_before + 1

    # A year on, the younger lots are old too: 50 + 19 more expire, none of lot A again.
    later, _ = run(cloud_db, "points_expiry", day(700))
    assert later.summary["counts"]["points_expired"] == 69
    assert sorted(d for d, *_ in _expiries(cloud_db, "M-EXP")) == [-200, -50, -19]
    assert _balance(cloud_db, "M-EXP") == 0 and _balance(cloud_db, "M-NEW") == 10


def test_the_period_comes_from_the_rules_in_force(cloud_db: CloudDB) -> None:
    till = Till(cloud_db, "S001-T01")
    till.sale("M-SHORT", 3000, day(0))  # +300
    till.sale("M-SHORT", 500, day(80))  # +50
    # Under the defaults (365 days) nothing is due on day 100.
    result, _ = run(cloud_db, "points_expiry", day(100))
    assert result.summary["counts"].get("points_expired", 0) == 0
    publish_rules(cloud_db, day(90), expiry_days=30)
    result, _ = run(cloud_db, "points_expiry", day(100), JobsConfig())
    # 30 days before day 100 is day 70: the 300 of day 0 expire, the 50 of day 80 stay.
    assert result.summary["counts"]["points_expired"] == 300
    assert _balance(cloud_db, "M-SHORT") == 50
    assert cloud_db.jobs.JobRun.get_by_id(result.run_id).params == {
        "after_days": 30,
        "rules_version": "r1",
    }


@pytest.mark.pg
def test_two_runs_at_once_expire_each_lot_once(fresh_pg_url: str) -> None:
    cdb = open_cloud_db(fresh_pg_url)
    try:
        _history(cdb)
    finally:
        cdb.close()
    results, errors = [], []

    def one() -> None:
        own = open_cloud_db(fresh_pg_url)
        try:
            results.append(run(own, "points_expiry", day(400))[0])
        except Exception as err:  # reported below
            errors.append(err)
        finally:
            own.close()

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == [] and len(results) == 3
    cdb = open_cloud_db(fresh_pg_url)
    try:
        assert [r[0] for r in _expiries(cdb, "M-EXP")] == [-200]
        assert sum(r.summary["counts"].get("points_expired", 0) for r in results) == 200
    finally:
        cdb.close()
