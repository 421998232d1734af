"""Reports over HTTP: bad filters get a 4xx with a message, CSV matches JSON, stores stay scoped."""

from __future__ import annotations

import csv
import io
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.api.app import create_app
from cloud.api.publisher import PublishError
from cloud.store.db import open_cloud_db
from cloud.store.reports import REPORTS
from protocol.envelope import utc_iso
from tests.cloud.api.access import bearer, token_for
from tests.cloud.factories import DEFAULT_TIME, envelope, sale_body
from tests.cloud.store.test_rollups import _apply

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

DAY = "2026-11-23"


class Offline:
    def publish(self, topic: str, payload: bytes) -> None:
        raise PublishError("offline")


@pytest.fixture
def hq(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    url = f"sqlite:///{tmp_path}/cloud.db"
    heads = {
        "admin": bearer(token_for(url, "admin")),
        "mgr": bearer(token_for(url, "store_manager", store_ids=["S001"])),
        "analyst": bearer(token_for(url, "analyst")),
    }
    cdb = open_cloud_db(url)
    _apply(cdb, [envelope("S001-T01", 1, sale_body([("A", 2, 1500)], receipt_no="R1"))])
    _apply(cdb, [envelope("S002-T01", 1, sale_body([("B", 1, 990)], receipt_no="R2"))])
    cdb.close()
    with TestClient(create_app(url, Offline())) as client:
        yield client, heads


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"date_from": "2026-02-30"}, 422, "date"),  # no such day
        ({"date_from": "23/11/2026"}, 422, "date"),
        ({"date_from": "1999-12-31"}, 422, "out of range"),
        ({"date_to": "2101-01-01"}, 422, "out of range"),
        ({"date_from": "2026-11-23", "date_to": "2026-11-01"}, 422, "before"),
        ({"date_from": "2024-01-01", "date_to": "2026-01-01"}, 422, "at most 366 days"),
        ({"store": "S999"}, 404, "unknown store 'S999'"),
        ({"store": "S0 01"}, 422, "pattern"),
        ({"terminal": "S009-T01"}, 404, "unknown terminal"),
        ({"limit": "0"}, 422, "greater than or equal"),
        ({"limit": "lots"}, 422, "integer"),
        ({"format": "xlsx"}, 422, "json"),
    ],
)
def test_bad_filters_get_a_4xx_with_a_message(
    hq: tuple, params: dict, status: int, says: str
) -> None:
    client, heads = hq
    reply = client.get("/api/reports/sales-by-store", params=params, headers=heads["admin"])
    assert reply.status_code == status, reply.text
    assert says in reply.text


def test_unknown_report_and_terminal_on_a_store_level_report(hq: tuple) -> None:
    client, heads = hq
    assert client.get("/api/reports/everything", headers=heads["admin"]).status_code == 422
    wrong = client.get(
        "/api/reports/top-products", params={"terminal": "S001-T01"}, headers=heads["admin"]
    )
    assert wrong.status_code == 422 and "per store" in wrong.json()["detail"]


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_every_report_exports_the_same_table_as_csv(hq: tuple, name: str) -> None:
    client, heads = hq
    params = {"date_from": DAY, "date_to": DAY}
    table = client.get(f"/api/reports/{name}", params=params, headers=heads["admin"]).json()
    reply = client.get(
        f"/api/reports/{name}", params={**params, "format": "csv"}, headers=heads["admin"]
    )
    assert reply.headers["content-type"].startswith("text/csv")
    assert f"{name}_{DAY}_{DAY}.csv" in reply.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(reply.text.lstrip("\ufeff"))))
    assert rows[0] == table["columns"]
    as_text = [["" if v is None else str(v) for v in row] for row in table["rows"]]
    assert rows[1:] == as_text


def test_chain_figures_and_a_store_manager_kept_to_their_store(hq: tuple) -> None:
    client, heads = hq
    params = {"date_from": DAY, "date_to": DAY}
    chain = client.get("/api/reports/sales-by-store", params=params, headers=heads["admin"]).json()
    assert [(r[0], r[6]) for r in chain["rows"]] == [("S001", 1500), ("S002", 990)]
    mine = client.get("/api/reports/sales-by-store", params=params, headers=heads["mgr"]).json()
    assert [r[0] for r in mine["rows"]] == ["S001"] and mine["filters"]["stores"] == ["S001"]
    other = client.get(
        "/api/reports/sales", params={**params, "store": "S002"}, headers=heads["mgr"]
    )
    assert other.status_code == 403 and "S002" in other.json()["detail"]
    theirs = client.get(
        "/api/reports/sales-by-terminal", params={"terminal": "S002-T01"}, headers=heads["mgr"]
    )
    assert theirs.status_code == 403
    health = client.get("/api/terminal-health", headers=heads["mgr"]).json()
    assert {r[0] for r in health["rows"]} == {"S001"}
    products = client.get("/api/reports/top-products", params=params, headers=heads["mgr"]).json()
    assert [r[0] for r in products["rows"]] == ["A"]  # B sold only in S002


def test_phone_numbers_only_for_roles_allowed_to_see_them(hq: tuple, tmp_path: Path) -> None:
    client, heads = hq
    cdb = open_cloud_db(f"sqlite:///{tmp_path}/cloud.db")
    with cdb.write():
        cdb.models.Member.create(
            member_id="M1",
            phone="13812345678",
            name="王小明",
            home_store="S002",
            updated_at="2026-11-23 00:00:00",
        )
    cdb.close()
    full = client.get("/api/members/M1", headers=heads["admin"]).json()
    masked = client.get("/api/members/M1", headers=heads["analyst"]).json()
    assert (full["phone"], full["name"]) == ("13812345678", "王小明")
    assert (masked["phone"], masked["name"], masked["masked"]) == ("138****5678", "王**", True)
    assert client.get("/api/members/M1", headers=heads["mgr"]).status_code == 403  # S002's


def test_dead_letters_mask_phones_for_analysts(hq: tuple, tmp_path: Path) -> None:
    client, heads = hq
    cdb = open_cloud_db(f"sqlite:///{tmp_path}/cloud.db")
    with cdb.write():
        cdb.models.DeadLetter.create(
            received_at="2026-11-23 00:00:00",
            topic="pos/S001/S001-T01/events",
            terminal_id="S001-T01",
            reason="bad",
            seqs=[1],
            payload_size=40,
            payload=b'{"member_id":"M1","phone":"13812345678"}',
        )
    cdb.close()
    [admin] = client.get("/api/dead-letters", headers=heads["admin"]).json()
    [analyst] = client.get("/api/dead-letters", headers=heads["analyst"]).json()
    assert "13812345678" in admin["payload_preview"]
    assert "138****5678" in analyst["payload_preview"] and "1234" not in analyst["payload_preview"]
    assert client.get("/api/dead-letters", headers=heads["mgr"]).status_code == 403


def test_z_reports_on_the_page_show_each_tender_in_yuan(tmp_path: Path) -> None:
    """A closed shift on the reports page (which once failed with a 500) and the cashiers
    page: the counted tenders in yuan under their names, never raw fen."""
    url = f"sqlite:///{tmp_path}/cloud.db"
    admin = bearer(token_for(url, "admin"))
    cdb = open_cloud_db(url)
    opened = {"shift_id": "SH9", "opened_by": "1001", "float_fen": 20000,
              "device_time": utc_iso(DEFAULT_TIME)}  # fmt: skip
    closed = {"shift_id": "SH9", "kind": "Z", "float_fen": 20000, "sales_count": 3,
              "returns_count": 0, "by_tender": {"cash": 5000, "card": 1200}, "cash_in_fen": 0,
              "cash_out_fen": 1000, "expected_cash_fen": 24000, "counted_cash_fen": 23900,
              "difference_fen": -100, "closed_by": "1001",
              "device_time": utc_iso(DEFAULT_TIME)}  # fmt: skip
    _apply(cdb, [envelope("S001-T01", 1, opened, event_type="shift_opened")])
    _apply(cdb, [envelope("S001-T01", 2, closed, event_type="shift_closed")])
    cdb.close()
    with TestClient(create_app(url, Offline()), headers=admin) as client:
        client.cookies.set("hq_lang", "zh_CN")
        for page in (f"/reports?name=shifts&date_from={DAY}&date_to={DAY}",
                     f"/cashiers?date_from={DAY}&date_to={DAY}"):  # fmt: skip
            answer = client.get(page)
            assert answer.status_code == 200, answer.text[-300:]
            assert "银行卡 ¥12.00; 现金 ¥50.00" in answer.text, page
            assert "cash=5000" not in answer.text and "¥239.00" in answer.text


def test_rates_on_the_reports_page_are_percentages(hq: tuple) -> None:
    """The returns report's rates are ratios in JSON and CSV; the page shows them as 12.5%."""
    client, heads = hq
    client.cookies.set("hq_lang", "zh_CN")
    page = client.get(
        f"/reports?name=returns&date_from={DAY}&date_to={DAY}", headers=heads["admin"]
    )
    assert page.status_code == 200
    rates = re.findall(r'<td class="num">([^<]*%)</td>', page.text)
    assert rates == ["0.0%"] * 4, rates  # two stores, return and refund rate each
    headings = re.findall(r'<th title="([a-z_]+)">([^<]*)</th>', page.text)
    assert ("refund_fen", "退款") in headings and ("return_rate", "退货率") in headings
    assert "<h2>退货率" in page.text and ">销售汇总</option>" in page.text
