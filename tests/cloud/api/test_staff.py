"""HQ staff: the /api/staff router, the staff stream to the tills, a till's PIN coming back.

Real parts: the router on a real SQLite cloud file, the HQ publisher and the terminal's sync
service on a real broker, the real ingest worker storing the till's staff_pin_set event.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from cloud.api.app import create_app
from cloud.api.publisher import MqttPublisher
from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings
from cloud.store.db import CloudDB, open_cloud_db
from device.store.staff import PinPolicy
from device.store.store import Store, StoreConfig
from protocol import codec, topics
from tests.broker import Broker
from tests.cloud.api.access import bearer, token_for
from tests.cloud.ingest.conftest import ingest_settings
from tests.device.sync.harness import make_service, store_file

__all__ = ["make_service", "store_file"]
STAFF_TOPIC = topics.down_topic("S001", "staff")


@pytest.fixture
def hq(broker: Broker, tmp_path: Path) -> Iterator[tuple[TestClient, CloudDB, str]]:
    url = f"sqlite:///{tmp_path}/cloud.db"
    cdb = open_cloud_db(url)
    publisher = MqttPublisher(BrokerSettings(broker.host, broker.port, "hq", broker.password("hq")),
                              client_id="hq")  # fmt: skip
    assert publisher.start(wait_s=10)
    app = create_app(url, publisher)
    try:
        with TestClient(app, headers=bearer(token_for(url))) as client:
            yield client, cdb, url
    finally:
        publisher.stop()
        cdb.close()


def _staff_pushes(watcher: Any) -> list[Any]:
    return [codec.decode_down(m.payload) for m in watcher.received_on(STAFF_TOPIC)]


def test_hq_adds_a_person_and_the_tills_get_a_code_hash_never_the_code(
    broker: Broker, hq: tuple[TestClient, CloudDB, str], tmp_path: Path
) -> None:
    client, _cdb, _url = hq
    till = broker.client("S001-T01")
    till.subscribe(topics.store_down_filter("S001"))
    answer = client.post("/api/staff", json={"staff_id": "2003", "name": "王芳",
                                             "role": "cashier", "stores": ["S001"]})  # fmt: skip
    assert answer.status_code == 201, answer.text
    code = answer.json()["one_time_code"]
    assert len(code) == 8 and code.isdigit() and answer.json()["published"]
    got = till.wait_for(lambda m: m.topic == STAFF_TOPIC)
    assert code.encode() not in got[0].payload
    [item] = codec.decode_down(got[0].payload).items
    assert item["pin_hash"] is None and PasswordHasher().verify(item["code_hash"], code)
    assert code.encode() not in (tmp_path / "cloud.db").read_bytes()
    listing = client.get("/api/staff").json()
    assert listing == [{"staff_id": "2003", "name": "王芳", "role": "cashier", "stores": ["S001"],
                        "active": True, "pin_set": False, "code_pending": True,
                        "code_expires": listing[0]["code_expires"]}]  # fmt: skip
    again = client.post("/api/staff", json={"staff_id": "2003", "name": "x", "role": "cashier",
                                            "stores": ["S001"]})  # fmt: skip
    assert again.status_code == 409
    bad = client.post("/api/staff", json={"staff_id": "20A3", "name": "x", "role": "boss",
                                          "stores": []})  # fmt: skip
    assert bad.status_code == 422


def test_a_pin_set_at_one_till_reaches_hq_and_the_stores_other_tills(
    broker: Broker, hq: tuple[TestClient, CloudDB, str], store_file: Path, make_service: Any
) -> None:
    client, _cdb, url = hq
    worker = IngestWorker(url, ingest_settings(broker), client_id="ingest")
    worker.start()
    other_till = broker.client("S001-T02")
    other_till.subscribe(topics.store_down_filter("S001"))
    svc = make_service(store_file)
    try:
        assert svc.wait(lambda s: s.connected, 10)
        code = client.post("/api/staff", json={"staff_id": "2003", "name": "王芳",
                                               "role": "cashier", "stores": ["S001"]}
                           ).json()["one_time_code"]  # fmt: skip
        assert svc.wait(lambda s: s.stream_versions.get("staff", 0) >= 1, 10), svc.stats()
        store = Store.open(store_file, StoreConfig(terminal_id="S001-T01",
                                                   pin_policy=PinPolicy.for_tests()))  # fmt: skip
        try:
            assert store.staff.verify("2003", code).needs_new_pin  # the first sign-in
            assert store.staff.verify("2003", code, "2468").ok
            [(pin_hash,)] = store.db.query("SELECT pin_hash FROM staff WHERE staff_id = '2003'")
        finally:
            store.close()
        svc.wake()
        assert svc.wait(lambda s: s.outbox_depth == 0, 15), svc.stats()  # stored at the cloud
        deadline = time.monotonic() + 15
        while not client.get("/api/staff").json()[0]["pin_set"]:
            assert time.monotonic() < deadline, "HQ never learnt the PIN"
            time.sleep(0.1)
        # The store's other till hears of the PIN hash (and the code is gone).
        later = other_till.wait_for(lambda m: m.topic == STAFF_TOPIC, count=2)
        [item] = codec.decode_down(later[-1].payload).items
        assert item["pin_hash"] == pin_hash and item["code_hash"] is None
        assert b"2468" not in later[-1].payload
    finally:
        worker.stop()


def test_only_an_admin_adds_staff_and_a_store_manager_sees_their_stores_only(
    hq: tuple[TestClient, CloudDB, str],
) -> None:
    client, _cdb, url = hq
    for staff_id, store in (("2003", "S001"), ("2004", "S002")):
        made = client.post("/api/staff", json={"staff_id": staff_id, "name": "x",
                                               "role": "cashier", "stores": [store]})  # fmt: skip
        assert made.status_code == 201
    manager = bearer(token_for(url, "store_manager", username="s1-manager"))
    with TestClient(client.app, headers=manager) as other:
        assert [s["staff_id"] for s in other.get("/api/staff").json()] == ["2003"]
        body = {"staff_id": "2005", "name": "x", "role": "manager", "stores": ["S001"]}
        refused = other.post("/api/staff", json=body)
        assert refused.status_code == 403
    actions = [e["action"] for e in client.get("/api/audit").json()]
    assert actions.count("staff_add") == 2


def test_a_blank_name_or_an_unknown_store_is_refused_and_nothing_reaches_the_tills(
    hq: tuple[TestClient, CloudDB, str],
) -> None:
    client, cdb, _url = hq
    person = {"staff_id": "3001", "name": "王芳", "role": "cashier", "stores": ["S001"]}
    blank = client.post("/api/staff", json={**person, "name": "   "})
    assert blank.status_code == 422 and "needs a name" in blank.json()["detail"]
    nowhere = client.post("/api/staff", json={**person, "stores": ["S001", "S999"]})
    assert nowhere.status_code == 404 and "unknown store(s) S999" in nowhere.json()["detail"]
    assert client.get("/api/staff").json() == []  # nobody was added
    assert client.post("/api/staff", json=person).status_code == 201
    renamed = client.patch("/api/staff/3001", json={"name": " "})
    moved = client.patch("/api/staff/3001", json={"stores": ["S998"]})
    assert (renamed.status_code, moved.status_code) == (422, 404)
    [row] = client.get("/api/staff").json()
    assert (row["name"], row["stores"]) == ("王芳", ["S001"])
    a = cdb.hq.HqAudit
    refused = [r.action for r in a.select().where(a.outcome == "refused").order_by(a.id)]
    assert refused == ["staff_add", "staff_add", "staff_change", "staff_change"]
