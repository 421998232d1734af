"""The HQ page in headless Debian Chromium: sign-in, a fresh sale on the dashboard, a price push
reaching a terminal, and a store manager kept to their store. Screenshots go to var/hq-page/.

Everything is real: Mosquitto, the ingest worker, the HQ API served by uvicorn, and a terminal
made of the device's own store file and SyncService (the checkout loop is not needed to record
a sale; the journal writer is what the checkout's RecordSale command calls).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.api.publisher import MqttPublisher
from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings
from device.store.db import open_database
from device.store.journal import JournalWriter
from device.sync.service import SyncService, SyncSettings
from device.sync.storage import SyncStorage
from protocol.topics import events_topic
from tests.broker import Broker
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.browser import Served, chromium, require_chromium, shot, sign_in, wait_for
from tests.cloud.factories import batch_payload, envelope, sale_body
from tests.cloud.ingest.conftest import ingest_settings
from tests.device.sync.builders import sale
from tests.device.sync.harness import SHANGHAI, broker_settings


def api(url: str, token: str, method: str = "GET", body: Any = None) -> Any:
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={**bearer(token), "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def terminal_price(path: Path, sku: str) -> int | None:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        row = db.execute("SELECT price_fen FROM product WHERE sku = ?", (sku,)).fetchone()
    return None if row is None else int(row[0])


@pytest.fixture
def stack(broker: Broker, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Broker, ingest, HQ (served), and terminal S001-T01 with a real store file and sync."""
    require_chromium()
    db_url = f"sqlite:///{tmp_path}/cloud.db"
    admin = token_for(db_url, "admin", username="boss")
    token_for(db_url, "store_manager", store_ids=["S001"], username="mgr1")
    worker = IngestWorker(db_url, ingest_settings(broker), client_id="ingest-page")
    worker.start()
    publisher = MqttPublisher(
        BrokerSettings(broker.host, broker.port, "hq", broker.password("hq")), client_id="hq-page"
    )
    publisher.start(wait_s=10)
    store_file = tmp_path / "terminal.db"
    open_database(store_file, create=True).close()
    sync = SyncService(
        SyncSettings(broker=broker_settings(broker, "S001-T01"), status_check_s=0.2),
        open_store=lambda: SyncStorage.open(store_file),
    )
    sync.start()
    try:
        with Served(create_app(db_url, publisher)) as served:
            yield {
                "url": served.url,
                "admin": admin,
                "store_file": store_file,
                "broker": broker,
                "sync": sync,
            }
    finally:
        sync.stop()
        publisher.stop()
        worker.stop()


def record_sale_at_terminal(store_file: Path, n: int, price_fen: int) -> None:
    """What the checkout's RecordSale does: journal the sale and its outbox row in one commit."""
    db = open_database(store_file)
    try:
        now = dt.datetime.now(dt.UTC)
        record = dataclasses.replace(sale(n, unit_price_fen=price_fen), device_time=now)
        JournalWriter(db, "S001-T01", SHANGHAI).record_sale(record, now)
    finally:
        db.close()


def test_hq_page_in_chromium(stack: dict[str, Any]) -> None:
    url, admin, store_file = stack["url"], stack["admin"], stack["store_file"]
    # HQ's catalogue reaches the till first (the push a new store gets).
    api(
        f"{url}/api/push/catalogue",
        admin,
        "POST",
        {
            "scope": "S001",
            "items": [
                {
                    "sku": "P1",
                    "name_zh": "矿泉水 550ml",
                    "name_en": "Mineral water 550ml",
                    "category": "drinks",
                    "price_fen": 1000,
                    "barcodes": ["6901234567892"],
                }
            ],
        },
    )
    wait_for(lambda: terminal_price(store_file, "P1") == 1000, "the catalogue at the till")
    # Another store's sale, which the S001 manager must never see.
    other = stack["broker"].client("S002-T01", client_id="S002-T01")
    other.publish(
        events_topic("S002", "S002-T01"),
        batch_payload(
            [
                envelope(
                    "S002-T01",
                    1,
                    sale_body([("X", 1, 77700)], receipt_no="S002-R1"),
                    time=dt.datetime.now(dt.UTC),
                )
            ]
        ),
        qos=1,
    )

    with chromium() as browser:
        page = browser.new_page()
        page.goto(f"{url}/")
        assert "/login" in page.url  # nothing answers anonymously: the page asks to sign in
        shot(page, "1-sign-in")
        page.fill("input[name=username]", "boss")
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        assert "用户名或密码错误" in page.inner_text(".error")
        sign_in(page, url, "boss")
        wait_for(lambda: "S002" in page.inner_text("#by-store"), "S002 on the dashboard")

        # A sale rung up at the terminal now shows on the dashboard within seconds.
        record_sale_at_terminal(store_file, 1, 4321)
        page.wait_for_function(
            "() => document.querySelector('#by-store').innerText.includes('¥43.21')",
            timeout=90_000,
        )  # the dashboard refreshes itself every 10 s
        row = page.inner_text("#by-store")
        assert "S001" in row and "¥43.21" in row and "¥777.00" in row
        page.wait_for_function("() => document.querySelector('[data-chart]').dataset.drawn")
        shot(page, "2-dashboard-sale")

        # A price push: preview, send, the till applies it, the page shows who applied it.
        page.goto(f"{url}/pushes")
        page.select_option("#push-stream", "prices")
        page.select_option("#push-scope", "S001")
        page.fill("#push-items", '[{"sku": "P1", "price_fen": 1290}]')
        page.click("#push-preview")
        page.wait_for_selector("#preview")
        preview = page.inner_text("#preview")
        assert "P1" in preview and "¥10.00" in preview and "¥12.90" in preview
        shot(page, "3-push-preview")
        page.click("#push-send")
        sent = page.inner_text("#push-sent")
        assert "版本 1" in sent  # the prices stream's first version
        page.wait_for_selector("#push-prices-1")  # the history shows it at once, pending
        wait_for(lambda: terminal_price(store_file, "P1") == 1290, "the new price at the till")
        page.wait_for_function(
            "() => (document.querySelector('#push-prices-1 .applied') || {innerText: ''})"
            ".innerText.includes('S001-T01')",
            timeout=90_000,
        )
        shot(page, "4-push-applied")

        # A bad push never leaves the page: the field is named.
        page.fill("#push-items", '[{"price_fen": 5}]')
        page.click("#push-preview")
        page.wait_for_selector("#push-result .error")
        assert "sku" in page.inner_text("#push-result .error")
        page.click("button[hx-post='/logout']")
        page.wait_for_url("**/login")

        # The S001 manager sees S001 and never S002, on the page or through the API.
        sign_in(page, url, "mgr1")
        wait_for(lambda: "S001" in page.inner_text("#by-store"), "S001 for its manager")
        assert "S002" not in page.inner_text("#by-store") and "¥777.00" not in page.content()
        options = page.eval_on_selector_all("select[name=store] option", "o => o.map(x => x.value)")
        assert options == ["", "S001"]
        shot(page, "5-manager-dashboard")
        page.click("a.lang")  # the same page in English
        page.wait_for_selector("#by-store")
        assert page.inner_text("h1") == "Dashboard" and "Sign out" in page.content()
        shot(page, "5b-manager-dashboard-en")
        refused = page.goto(f"{url}/stores/S002")
        assert refused is not None and refused.status == 403
        assert "S002" in page.inner_text(".error")
        shot(page, "6-manager-refused")
        api_refused = page.goto(f"{url}/api/reports/sales-by-store?store=S002")
        assert api_refused is not None and api_refused.status == 403
        assert page.goto(f"{url}/pushes").status == 403  # no pushes for managers
