"""Members' spend and visits by business day (SQLite and PostgreSQL): kept by ingest, refilled.

Hand-worked: M1 buys ¥100 and ¥50 on day 0 and returns ¥30 of the first on day 2 (a visit
each sale, none for the return); M2 buys ¥20 on day 1.
"""

from __future__ import annotations

import datetime as dt

from cloud.domain.tier_review import TierPolicy
from cloud.store import tier_spend
from cloud.store.db import CloudDB, open_cloud_db
from tests.cloud.jobs.helpers import Till, day

START = day(0).astimezone(dt.timezone(dt.timedelta(hours=8))).date()  # the Shanghai day


def _history(cdb: CloudDB) -> None:
    till = Till(cdb, "S001-T01")
    sale = till.sale("M1", 100, day(0))
    till.sale("M1", 50, day(0))
    till.sale("M2", 20, day(1))
    till.refund(sale, 30, 3, day(2))


def _days(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


EXPECTED = [
    ("M1", _days(0), 15_000, 2),
    ("M1", _days(2), -3_000, 0),
    ("M2", _days(1), 2_000, 1),
]


def test_ingest_counts_each_members_days_and_a_window_sums_them(cloud_db: CloudDB) -> None:
    _history(cloud_db)
    assert tier_spend.members_days(cloud_db, ["M1", "M2"]) == EXPECTED
    spend = TierPolicy(window_days=2)
    assert tier_spend.measures(cloud_db, ["M1", "M2", "M3"], _days(2), spend) == {
        "M1": -3_000,  # days 1..2: the refund only
        "M2": 2_000,
        "M3": 0,
    }
    since_joining = TierPolicy(window_days=0)
    assert tier_spend.measures(cloud_db, ["M1"], _days(2), since_joining) == {"M1": 12_000}
    visits = TierPolicy(basis="visits", window_days=3, silver=1, gold=2)
    assert tier_spend.measures(cloud_db, ["M1", "M2"], _days(2), visits) == {"M1": 2, "M2": 1}


def test_a_database_opened_without_the_table_fills_it_from_its_events(cloud_url: str) -> None:
    cdb = open_cloud_db(cloud_url)
    try:
        _history(cdb)
        cdb.database.execute_sql(f"DROP TABLE {tier_spend.TABLE}")
    finally:
        cdb.close()
    again = open_cloud_db(cloud_url)
    try:
        assert tier_spend.members_days(again, ["M1", "M2"]) == EXPECTED
    finally:
        again.close()
    third = open_cloud_db(cloud_url)  # opened again: filled once, not twice
    try:
        assert tier_spend.members_days(third, ["M1", "M2"]) == EXPECTED
    finally:
        third.close()
