"""Items per basket (客件数) on the dashboard and the reports page: two decimals, in both
languages; the JSON and CSV of the report keep the full figure (four places)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.api.app import create_app
from cloud.store.db import open_cloud_db
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.test_reports_api import DAY, Offline
from tests.cloud.factories import envelope, sale_body
from tests.cloud.store.test_rollups import _apply

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

#: Seven sales of 19 items: 19 / 7 = 2.714285... items per basket.
QUANTITIES = (3, 3, 3, 3, 3, 2, 2)
DAYS = f"date_from={DAY}&date_to={DAY}"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path}/cloud.db"
    cdb = open_cloud_db(url)
    for seq, qty in enumerate(QUANTITIES, start=1):
        body = sale_body([("A", qty, 1000)], receipt_no=f"S001-T01-20261123-{seq:04d}")
        _apply(cdb, [envelope("S001-T01", seq, body)])
    cdb.close()
    with TestClient(create_app(url, Offline()), headers=bearer(token_for(url, "admin"))) as c:
        yield c


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
def test_items_per_basket_shows_two_decimals_on_the_pages(client: TestClient, lang: str) -> None:
    client.cookies.set("hq_lang", lang)
    dashboard = client.get(f"/?{DAYS}").text
    kpis = dict(re.findall(r'<div class="kpi"><span>([^<]*)</span><strong>([^<]*)</strong>',
                           dashboard))  # fmt: skip
    label = {"zh_CN": "客件数", "en": "Items per basket"}[lang]
    assert kpis[label] == "2.71", kpis
    report = client.get(f"/reports?name=sales&{DAYS}").text
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", report)
    assert "2.71" in cells and "2.7143" not in report, cells


def test_the_api_keeps_the_full_figure(client: TestClient) -> None:
    table = client.get(f"/api/reports/sales?{DAYS}").json()
    [row] = table["rows"]
    assert dict(zip(table["columns"], row, strict=True))["basket_items"] == 2.7143
    csv_text = client.get(f"/api/reports/sales?{DAYS}&format=csv").text
    assert "2.7143" in csv_text
