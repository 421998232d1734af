"""A store manager's view of their own member stops at their own stores, on SQLite and PostgreSQL.

M1 (home S001, tests/cloud/api/crm_world.py) also shops at S002: a ¥300 sale paid partly with a
coupon, rated, partly returned, and complained about there. S001's manager, signed in on the
page's session, asks for that S002 business by every route that could show it; S001's own
records and the member's chain-wide facts stay visible, and HQ still sees everything.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.store.db import open_cloud_db
from protocol.envelope import utc_iso
from tests.cloud.api import crm_world as w
from tests.cloud.api.access import kept_to_s001, signed_in
from tests.cloud.api.recorder import Recorder
from tests.cloud.factories import sale_body
from tests.cloud.jobs.helpers import day

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

#: What M1 did at S002, as the 360 and the ledger name it.
ELSEWHERE_RECEIPT = "S002-T01-0009"
ELSEWHERE_COMPLAINT = "TC-S002"
ELSEWHERE_TEXT = "the fitting room at S002 was locked"


def _shop_at_s002(t2: Any, admin: Any) -> dict[str, Any]:
    """M1's visit to S002: ¥300 (¥10 by coupon, 29 points earned), rated 2/5, ¥100 of it
    returned (reversing 10 points), a complaint."""
    issued = admin.post("/api/coupons", json={"kind": "amount", "value": 1000,
                                              "member_ids": ["M1"]})  # fmt: skip
    assert issued.status_code == 201, issued.text
    [code] = issued.json()["codes"]
    sale = sale_body([("SKU-1", 1, 30000)], member_id="M1", time=day(4), earn=29,
                     receipt_no=ELSEWHERE_RECEIPT)  # fmt: skip
    sale["tenders"] = [
        {"kind": "coupon", "amount_fen": 1000, "tendered_fen": 0, "approval_code": "",
         "reference": code},
        {"kind": "cash", "amount_fen": 29000, "tendered_fen": 29000, "approval_code": "",
         "reference": ""},
    ]  # fmt: skip
    sale["coupon_codes"] = [code]
    t2.send(sale, day(4))
    t2.send({"feedback_id": "FB-S002", "sale_id": sale["sale_id"], "rating": 2, "comment": "",
             "device_time": utc_iso(day(4) + dt.timedelta(minutes=1))}, day(4),
            "feedback")  # fmt: skip
    t2.refund(sale, 100, 10, day(5))
    t2.send({"complaint_id": ELSEWHERE_COMPLAINT, "member_id": "M1", "sale_id": sale["sale_id"],
             "staff_id": "C09", "text": ELSEWHERE_TEXT, "status": "open",
             "device_time": utc_iso(day(5))}, day(5), "complaint")  # fmt: skip
    return sale


@pytest.fixture
def chain(cloud_url: str) -> Iterator[dict[str, Any]]:
    admin = kept_to_s001(cloud_url)
    cdb = open_cloud_db(cloud_url)
    try:
        with TestClient(create_app(cloud_url, Recorder()), headers=admin) as client:
            world = w.build(cdb, client)
            sale = _shop_at_s002(world["t2"], client)
            yield {"url": cloud_url, "admin": client, "sale": sale}
    finally:
        cdb.close()


def _s002_traces(view: dict[str, Any]) -> list[str]:
    """Everything in a 360 that came from S002's till."""
    found = [f"purchase {p['receipt_no']}" for p in view["purchases"] if p["store_id"] == "S002"]
    found += [f"return {r['original_receipt_no']}" for r in view["returns"]
              if r["store_id"] == "S002"]  # fmt: skip
    found += [f"complaint {c['complaint_id']}" for c in view["complaints"]
              if c["store_id"] == "S002"]  # fmt: skip
    found += [f"ledger {x['origin_terminal']}" for x in view["points"]["ledger"]
              if x["origin_terminal"] == "S002-T01"]  # fmt: skip
    found += [f"coupon use {u['receipt_no']}" for u in view["coupons"]["used"]
              if u["store_id"] == "S002"]  # fmt: skip
    return found


def test_hq_sees_the_members_business_at_every_store(chain: dict[str, Any]) -> None:
    """The control: the S002 visit is there for HQ, so its absence below is the scope's doing."""
    view = chain["admin"].get("/api/crm/members/M1").json()
    assert sorted(_s002_traces(view)) == [
        "complaint TC-S002", "coupon use S002-T01-0009", "ledger S002-T01", "ledger S002-T01",
        "purchase S002-T01-0009", "return S002-T01-0009"]  # fmt: skip
    assert view["totals"] == {"sales": 3, "sales_fen": 42500, "returns": 2, "refund_fen": 11500}
    assert view["points"]["balance"] == 60 + 29 - 10 and view["stores_shown"] is None
    page = chain["admin"].get("/members/M1").text
    assert ELSEWHERE_RECEIPT in page and 'id="scope-note"' not in page


@pytest.mark.parametrize("username", ["lin", "guide1"])
def test_a_store_manager_sees_only_their_stores_records_of_their_member(
    chain: dict[str, Any], username: str
) -> None:
    with signed_in(chain["url"], username) as staff:
        view = staff.get("/api/crm/members/M1").json()
        assert _s002_traces(view) == []
        # S001's own records stay, with totals over them; the member's chain-wide facts stay.
        assert [p["receipt_no"] for p in view["purchases"]] == ["S001-T01-0004", "S001-T01-0002"]
        assert view["purchases"][1]["rating"]["rating"] == 4
        assert view["totals"] == {"sales": 2, "sales_fen": 12500, "returns": 1, "refund_fen": 1500}
        assert [c["complaint_id"] for c in view["complaints"]] == ["TC1"]
        assert [x["origin_terminal"] for x in view["points"]["ledger"]] == [
            "hq:adjust", "S001-T01", "S001-T01", "S001-T01"]  # fmt: skip
        assert view["points"]["balance"] == 79 and view["profile"]["tier"] == "regular"
        assert view["stores_shown"] == ["S001"]
        page = staff.get("/members/M1")
        assert page.status_code == 200 and "S001-T01-0002" in page.text
        assert 'id="scope-note"' in page.text  # the page says what it leaves out
        for trace in (ELSEWHERE_RECEIPT, ELSEWHERE_TEXT, "S002-T01"):
            assert trace not in page.text, trace


def test_a_store_manager_asking_for_another_stores_business_by_every_route_is_refused(
    chain: dict[str, Any],
) -> None:
    sale = chain["sale"]
    with signed_in(chain["url"], "lin") as lin:
        points = lin.get("/api/members/M1/points").json()
        assert [x["origin_terminal"] for x in points["ledger"]] == [
            "S001-T01", "S001-T01", "S001-T01", "hq:adjust"]  # fmt: skip
        assert points["balance"] == 79
        refused = {
            f"/api/receipts/{ELSEWHERE_RECEIPT}": 403,
            "/api/sales?store=S002": 403,
            "/api/sales?terminal=S002-T01": 403,
            "/api/reports/sales?store=S002": 403,
            "/api/reports/top-products?store=S002": 403,
            "/api/returns/watchlist?store=S002": 403,
            "/api/returns/over-returns?store=S002": 403,
            "/api/crm/members/M3": 403,
            "/api/members/M3": 403,
            "/api/members/M3/points": 403,
            "/members/M3": 403,
            "/api/crm/members/M1/export": 403,
            "/api/segments/members/M1/behaviour": 403,
        }
        got = {path: lin.get(path).status_code for path in refused}
        assert got == refused
        own = lin.get("/api/sales").json()["sales"]
        assert own and {s["store_id"] for s in own} == {"S001"}
        assert sale["sale_id"] not in lin.get("/api/sales").text
        assert ELSEWHERE_RECEIPT not in lin.get("/api/coupons", params={"member_id": "M1"}).text
        assert lin.get("/api/crm/members", params={"q": "M1"}).json()["members"]
