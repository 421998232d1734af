"""The returns watchlist and the tier history, for a user kept to some stores, on SQLite and
PostgreSQL: what was recorded at another store stays that store's, as in the member 360.

M1 (home S001) buys at both stores in the last month, is upgraded to silver by a sale at S002,
and returns goods twice at each store; M3 (home S002) returns once at S001 and three times at
S002; M4 (home S002) returns only at S002. With the limit at 3, M1 and M3 are on the watchlist.
S001's manager sees M1 and M3 (a member of the store, and one who returned goods in it), each
with the member's chain-wide return count (the count every till holds for the abuse limit),
and of the refunds, days and stores only S001's. M1's tier history keeps the upgrade (a tier is
the member's across the chain) without naming S002's till. HQ sees everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cloud.store.db import open_cloud_db
from tests.cloud.api.access import kept_to_s001, signed_in
from tests.cloud.factories import sale_body
from tests.cloud.jobs.helpers import Till

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the test stores' time zone (tests/cloud/api/access.py)
UPGRADE_RECEIPT = "S002-T01-0003"


def _ago(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=days)


def _store_day(at: dt.datetime) -> str:
    return at.astimezone(SHANGHAI).date().isoformat()


def _sell(till: Till, member_id: str, yuan: int, at: dt.datetime) -> dict[str, Any]:
    """Four units of SKU-1 for ``yuan`` in all (so four returns of one unit each fit)."""
    body = sale_body([("SKU-1", 4, yuan * 100)], member_id=member_id, time=at,
                     receipt_no=f"{till.terminal_id}-{till.seq + 1:04d}")  # fmt: skip
    till.send(body, at)
    return body


@pytest.fixture
def chain(cloud_url: str) -> Iterator[dict[str, Any]]:
    admin = kept_to_s001(cloud_url)
    cdb = open_cloud_db(cloud_url)
    try:
        t1, t2 = Till(cdb, "S001-T01"), Till(cdb, "S002-T01")
        t1.register("M1", "13800000001", _ago(20))
        t2.register("M3", "13900000003", _ago(20))
        t2.register("M4", "13900000004", _ago(20))
        here = _sell(t1, "M1", 100, _ago(10))
        there = _sell(t2, "M1", 2500, _ago(9))  # ¥2,000 or more: silver, at S002's till
        assert there["receipt_no"] == UPGRADE_RECEIPT
        t1.refund(here, 25, 2, _ago(8))
        t1.refund(here, 25, 2, _ago(7))
        t2.refund(there, 625, 62, _ago(6))
        t2.refund(there, 625, 62, _ago(5))
        m3_there, m3_here = _sell(t2, "M3", 400, _ago(9)), _sell(t1, "M3", 40, _ago(9))
        t1.refund(m3_here, 10, 1, _ago(6))
        m4 = _sell(t2, "M4", 400, _ago(9))
        for days in (4, 3, 2):
            t2.refund(m3_there, 100, 10, _ago(days))
            t2.refund(m4, 100, 10, _ago(days))
        yield {"url": cloud_url, "admin": admin}
    finally:
        cdb.close()


def _watchlist(client: Any, **headers: str) -> dict[str, dict[str, Any]]:
    got = client.get("/api/returns/watchlist", params={"limit": 3}, headers=headers)
    assert got.status_code == 200, got.text
    return {row["member_id"]: row for row in got.json()}


def test_hq_sees_every_stores_returns_and_the_till_that_upgraded_a_member(
    chain: dict[str, Any],
) -> None:
    """The control: the S002 business is there for HQ, so its absence below is the scope's."""
    with signed_in(chain["url"], "lin") as client:  # any client: HQ's token is the header
        rows = _watchlist(client, **chain["admin"])
        view = client.get("/api/crm/members/M1", headers=chain["admin"]).json()
        page = client.get("/members/M1", headers=chain["admin"]).text
    assert sorted(rows) == ["M1", "M3", "M4"]
    m1 = rows["M1"]
    assert (m1["returns_30d"], m1["refund_fen_30d"]) == (4, 130_000)
    assert m1["stores"] == ["S001", "S002"] and m1["last_return_day"] == _store_day(_ago(5))
    assert (rows["M3"]["returns_30d"], rows["M3"]["refund_fen_30d"]) == (4, 31_000)
    [upgrade] = view["tier_history"]
    assert (upgrade["old_tier"], upgrade["new_tier"]) == ("regular", "silver")
    assert (upgrade["origin_terminal"], upgrade["origin_seq"]) == ("S002-T01", 3)
    assert "S002-T01" in page


def test_a_store_manager_sees_the_watchlist_with_their_stores_refunds_only(
    chain: dict[str, Any],
) -> None:
    with signed_in(chain["url"], "lin") as lin:
        rows = _watchlist(lin)
    assert sorted(rows) == ["M1", "M3"]  # M4 is S002's and returned nothing at S001
    m1, m3 = rows["M1"], rows["M3"]
    # The member's return count is chain-wide: every till holds it for the abuse limit.
    assert m1["returns_30d"] == 4 and m3["returns_30d"] == 4
    # What was refunded, when and where: S001's own returns only.
    assert (m1["refund_fen_30d"], m1["stores"]) == (5_000, ["S001"])
    assert m1["last_return_day"] == _store_day(_ago(7))
    assert (m3["refund_fen_30d"], m3["stores"]) == (1_000, ["S001"])
    assert m3["last_return_day"] == _store_day(_ago(6))
    assert m1["masked"] and m1["phone"] == "138****0001"


@pytest.mark.parametrize("username", ["lin", "guide1"])
def test_the_tier_history_keeps_the_change_but_not_another_stores_till(
    chain: dict[str, Any], username: str
) -> None:
    with signed_in(chain["url"], username) as staff:
        view = staff.get("/api/crm/members/M1").json()
        page = staff.get("/members/M1")
    [upgrade] = view["tier_history"]
    # The tier and its history are the member's across the chain, as every till holds them.
    assert (upgrade["old_tier"], upgrade["new_tier"]) == ("regular", "silver")
    assert view["profile"]["tier"] == "silver"
    assert upgrade["spend_fen"] == 260_000 and upgrade["changed_at"]
    # Which sale at which of S002's tills made it is S002's business.
    assert (upgrade["origin_terminal"], upgrade["origin_seq"]) == ("", 0)
    assert upgrade["origin_elsewhere"] is True
    assert page.status_code == 200 and 'id="tier-history"' in page.text
    assert "其他门店的一笔销售" in page.text or "a sale at another store" in page.text
    for trace in ("S002-T01", UPGRADE_RECEIPT):
        assert trace not in page.text, trace
