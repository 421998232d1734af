"""HQ's rules across the system: published at HQ, used by the next sale, accepted by the cloud.

Real parts: one Mosquitto; the HQ API with its publisher; the cloud's ingest worker on a SQLite
file; a whole terminal (store file, runtime, simulated hardware, its sync) in store S001. The
member's history comes from the cloud (a registration and a ¥10,000 sale at another till, so
gold with 1,000 points). Every expected figure is worked out in the test from the rule set it
published: gold 8折, 满100减10 once, and the gold points multiplier of the version in force.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.api.publisher import MqttPublisher
from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings as CloudBroker
from cloud.store.db import CloudDB, open_cloud_db
from cloud.store.downstream import current_version
from device.checkout import events as ev
from device.checkout.records import SaleRecord, TenderKind
from device.config import BrokerSection, StoreSection, TerminalConfig, TerminalSection
from device.wiring import start_sync
from protocol.codec import encode_batch, encode_down
from protocol.envelope import Batch, DownChange, Envelope, utc_iso
from protocol.rules import default_rules
from protocol.rules_check import to_plain
from protocol.topics import down_topic, events_topic
from tests.broker import Broker
from tests.cloud.api.access import bearer, token_for
from tests.cloud.factories import registration_body, sale_body
from tests.device.harness import Terminal, start_terminal, terminal_config

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MEMBER, PHONE = "M-RULES", "13800007777"
SPEND = {"kind": "spend_off", "id": "MJ100", "label_zh": "满100减10", "label_en": "¥10 off ¥100",
         "scope": {"all": True}, "threshold_fen": 10_000, "off_fen": 1000}  # fmt: skip


def rules(gold_multiplier_bp: int) -> dict[str, Any]:
    """The defaults, the 满减 promotion, and gold's points multiplier."""
    body = to_plain(default_rules())
    body["tiers"]["levels"][2]["points_multiplier_bp"] = gold_multiplier_bp
    body["promotions"] = [SPEND]
    return body


@dataclass
class Chain:
    broker: Broker
    hq: TestClient
    url: str
    till: Terminal
    worker: IngestWorker

    def cloud(self) -> CloudDB:
        return open_cloud_db(self.url)


def _wait(check: Callable[[], Any], what: str, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


@pytest.fixture
def chain(broker: Broker, tmp_path: Path) -> Iterator[Chain]:
    url = f"sqlite:///{tmp_path}/cloud.db"
    token = token_for(url)  # registers stores S001 and S002
    worker = IngestWorker(url, CloudBroker(host=broker.host, port=broker.port, username="ingest",
                                           password=broker.password("ingest")),
                          client_id="ingest-rules")  # fmt: skip
    worker.start()
    publisher = MqttPublisher(CloudBroker(broker.host, broker.port, "hq", broker.password("hq")),
                              client_id="hq-rules")  # fmt: skip
    assert publisher.start(wait_s=10)
    section = BrokerSection(host=broker.host, port=broker.port, username="S001-T01",
                            password=broker.password("S001-T01"))  # fmt: skip
    base = terminal_config(tmp_path / "till", section)
    cfg = TerminalConfig(
        terminal=TerminalSection(store_id="S001", terminal_id="S001-T01"),
        store=StoreSection(db_path=str(tmp_path / "till" / "terminal.db"), create_if_missing=True),
        broker=section, printer=base.printer,
    )  # fmt: skip
    till = start_terminal(tmp_path / "till", cfg=cfg, members=20)
    till.runtime.sync = start_sync(cfg, till.runtime.paper_state)
    try:
        with TestClient(create_app(url, publisher), headers=bearer(token)) as hq:
            yield Chain(broker, hq, url, till, worker)
    finally:
        till.runtime.sync.stop()
        till.stop()
        publisher.stop()
        worker.stop()


def _history(broker: Broker) -> None:
    """S001-T02 registered the member and sold ¥10,000 under the defaults: gold, 1,000 points."""
    now = dt.datetime.now(dt.UTC)
    bodies = [("member_registered", registration_body(MEMBER, PHONE, "钱多多")),
              ("sale", sale_body([("TV", 1, 1_000_000)], member_id=MEMBER, time=now))]  # fmt: skip
    events = [
        Envelope(id=str(uuid.uuid4()), terminal_id="S001-T02", store_id="S001", seq=i + 1,
                 type=kind, device_time=utc_iso(now), clock_synced=True, body=body)
        for i, (kind, body) in enumerate(bodies)
    ]  # fmt: skip
    client = broker.client("S001-T02", client_id="S001-T02")
    batch = Batch(terminal_id="S001-T02", store_id="S001", events=events)
    client.publish(events_topic("S001", "S001-T02"), encode_batch(batch))


def _product(till: Terminal) -> tuple[str, int]:
    row = till.store.db.row(
        "SELECT b.code, p.price_fen FROM product AS p JOIN barcode AS b ON b.sku = p.sku "
        "WHERE p.sold_by_weight = 0 AND p.tier_discount = 1 AND p.price_fen >= 20000 "
        "ORDER BY p.price_fen DESC LIMIT 1"
    )
    assert row is not None
    return str(row[0]), int(row[1])


def _held_rules(till: Terminal) -> str:
    row = till.store.db.row("SELECT value FROM meta WHERE key = 'hq_config:rules'")
    return "" if row is None else str(row[0])


def _finish(till: Terminal) -> SaleRecord:
    """Identify the member, pay cash, and return the sale as the till recorded it."""
    till.send(ev.IdentifyMember("phone", PHONE))
    till.send(ev.Subtotal())
    view = till.send(ev.AddTender(TenderKind.CASH, 1_000_000))
    assert view.state.last_sale_id is not None, view.notice
    found = till.store.journal.sale(view.state.last_sale_id)
    assert found is not None
    till.send(ev.SkipFeedback())
    return found[0]


def _cloud_verdict(chain: Chain, sale: SaleRecord) -> tuple[str, int]:
    """The stored event's status and the points the cloud's ledger took for the sale."""
    row = chain.till.store.db.row("SELECT seq FROM sale WHERE sale_id = ?", (sale.sale_id,))
    assert row is not None
    cdb = chain.cloud()
    try:
        m = cdb.models
        event = m.Event.get_or_none((m.Event.terminal_id == "S001-T01") & (m.Event.seq == row[0]))
        if event is None:
            return "", 0
        ledger = m.PointsLedger.select().where(
            (m.PointsLedger.origin_sale_id == sale.sale_id) & (m.PointsLedger.reason == "earn")
        )
        return str(event.status), sum(int(r.delta) for r in ledger)
    finally:
        cdb.close()


def _till_report(chain: Chain) -> dict[str, Any]:
    tills = chain.hq.get("/api/rules").json()["tills"]
    return next((t for t in tills if t["terminal_id"] == "S001-T01"), {})


def test_rules_from_hq_price_the_next_sale_and_the_cloud_checks_it_by_its_version(
    chain: Chain,
) -> None:
    till = chain.till
    _history(chain.broker)
    _wait(lambda: (m := till.store.members.by_id(MEMBER)) and m.tier.value == "gold",
          "the gold member reaches the till")  # fmt: skip
    till.login_and_open()
    code, price = _product(till)
    tier_off = (price * 2000 + 5000) // 10_000  # 8折, rounded half up
    total = price - tier_off - 1000  # 满100减10, once (the price is at least ¥200)
    at_1_5x, at_2x = total * 15_000 // 10_000_000, total * 20_000 // 10_000_000
    assert at_1_5x != at_2x  # so a sale checked against the wrong version would be held

    published = chain.hq.put("/api/rules/store/all", json=rules(15_000))
    assert published.json()["version"] == "r1" and published.json()["published"], published.text
    _wait(lambda: '"r1"' in _held_rules(till), "the till holds r1")
    _wait(lambda: _till_report(chain).get("reports") == "r1", "HQ sees the till report r1")

    till.scan(code)
    first = _finish(till)
    assert (first.rules_version, first.total_fen, first.points_earned) == ("r1", total, at_1_5x)
    assert [d.label for d in first.lines[0].discounts] == ["gold -20%", "满100减10"]
    assert _wait(lambda: _cloud_verdict(chain, first)[0], "sale 1 stored") == "ok"
    assert _cloud_verdict(chain, first) == ("ok", at_1_5x)

    # A sale already open when r2 arrives keeps r1 to the end, and the cloud checks it so.
    till.scan(code)
    assert chain.hq.put("/api/rules/store/all", json=rules(20_000)).json()["version"] == "r2"
    _wait(lambda: '"r2"' in _held_rules(till), "the till holds r2")
    second = _finish(till)
    assert (second.rules_version, second.points_earned) == ("r1", at_1_5x)
    assert _wait(lambda: _cloud_verdict(chain, second)[0], "sale 2 stored") == "ok"
    assert _cloud_verdict(chain, second) == ("ok", at_1_5x)

    till.scan(code)
    third = _finish(till)
    assert (third.rules_version, third.points_earned) == ("r2", at_2x)
    assert _wait(lambda: _cloud_verdict(chain, third)[0], "sale 3 stored") == "ok"
    assert _cloud_verdict(chain, third) == ("ok", at_2x)
    cdb = chain.cloud()
    try:
        assert cdb.models.EventFlag.select().count() == 0  # nothing held for HQ
        next_config = current_version(cdb, "config") + 1
    finally:
        cdb.close()

    # A rule set the till cannot use (sent around HQ's checks): refused, reported, r2 kept.
    bad = chain.hq.get("/api/rules/version/r2").json() | {"version": "r3"}
    bad["tiers"]["levels"][2]["threshold"] = 100
    forged = DownChange(stream="config", version=next_config, scope="all", kind="upsert",
                        items=[{"key": "rules", "value": bad}],
                        sent_at=utc_iso(dt.datetime.now(dt.UTC)))  # fmt: skip
    hq_client = chain.broker.client("hq", client_id="hq-forger")
    hq_client.publish(down_topic("all", "config"), encode_down(forged))
    report = _wait(lambda: (r := _till_report(chain)) and "tiers.levels[2]" in r["problem"] and r,
                   "the till reports the refused rule set")  # fmt: skip
    assert report["reports"] == "r2" and report["expected"] == "r2"
    till.scan(code)
    fourth = _finish(till)
    assert (fourth.rules_version, fourth.points_earned) == ("r2", at_2x)
