"""HQ's rules API: checked before anything is stored, published by version, read by role.

Real parts: the router on a real SQLite cloud file; for publishing, the HQ publisher on a real
broker and the stores' tills' subscriptions as independent MQTT clients.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.api.publisher import MqttPublisher
from cloud.mqtt import BrokerSettings
from cloud.store.db import open_cloud_db
from cloud.store.downstream import current_version
from protocol.codec import decode_down
from protocol.items import validate_items
from protocol.rules import default_rules
from protocol.rules_check import to_plain
from protocol.topics import store_down_filter
from tests.broker import Broker
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.test_app import Offline

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def body(**changes: Any) -> dict[str, Any]:
    plain = to_plain(default_rules())
    for section, fields in changes.items():
        plain[section] = {**plain[section], **fields} if isinstance(fields, dict) else fields
    return plain


SPEND = {"kind": "spend_off", "id": "MJ", "label_zh": "满100减10", "scope": {"all": True},
         "threshold_fen": 10_000, "off_fen": 1000}  # fmt: skip


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cloud.db"


@pytest.fixture
def api(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(db_url, Offline()), headers=bearer(token_for(db_url))) as client:
        yield client


def test_published_rules_reach_the_addressed_stores_as_a_versioned_config_item(
    broker: Broker, db_url: str
) -> None:
    publisher = MqttPublisher(
        BrokerSettings(broker.host, broker.port, "hq", broker.password("hq")), client_id="hq-r"
    )
    assert publisher.start(wait_s=10)
    s1 = broker.client("S001-T01", client_id="S001-T01")
    s1.subscribe(store_down_filter("S001"))
    s1.subscribe(store_down_filter("all"))
    s2 = broker.client("S002-T01", client_id="S002-T01")
    s2.subscribe(store_down_filter("S002"))
    s2.subscribe(store_down_filter("all"))
    try:
        with TestClient(create_app(db_url, publisher), headers=bearer(token_for(db_url))) as hq:
            chain = hq.put("/api/rules/store/all", json=body(promotions=[SPEND]))
            store = hq.put("/api/rules/store/S001", json=body(returns={"window_days": 14}))
        assert chain.status_code == 200, chain.text
        assert chain.json() | {"topic": ""} == {
            "version": "r1", "scope": "all", "config_version": 1, "topic": "",
            "published": True, "detail": "",
        }  # fmt: skip
        assert (store.json()["version"], store.json()["config_version"]) == ("r2", 2)
        got = s1.wait_for(lambda m: m.topic.endswith("/config"), count=2)
        changes = sorted((decode_down(m.payload) for m in got), key=lambda c: c.version)
        assert [(c.version, c.scope, c.items[0]["key"]) for c in changes] == [
            (1, "all", "rules"), (2, "S001", "rules:S001"),
        ]  # fmt: skip
        value = changes[0].items[0]["value"]
        assert (value["version"], value["scope"], value["promotions"][0]["id"]) == (
            "r1",
            "all",
            "MJ",
        )
        assert changes[1].items[0]["value"]["returns"]["window_days"] == 14
        # What the tills get passes the tills' own checks.
        assert validate_items("config", "upsert", changes[1].items)
        only_chain = s2.wait_for(lambda m: m.topic.endswith("/config"))
        assert [decode_down(m.payload).version for m in only_chain] == [1]
    finally:
        publisher.stop()


def test_a_malformed_rule_set_is_refused_naming_the_field_and_nothing_is_stored(
    api: TestClient, db_url: str
) -> None:
    levels = body()["tiers"]["levels"]
    levels[2]["threshold"] = 150_000
    cases = [
        (body(tiers={"levels": levels}), "tiers.levels[2].threshold: 150000 must be above"),
        (body(loyalty={"redeem_cap_bp": 15_000}), "loyalty.redeem_cap_bp: expected `int` <= 10000"),
        (body(promotions=[{**SPEND, "scope": {}}]), "promotions[0].scope: names no SKU"),
        (body(promotions=[SPEND, SPEND]), "promotions[1].id: 'MJ' is already the id"),
        ({"loyalty": {}, "tiers": {}, "returns": {}}, "missing required field `promotions`"),
    ]  # fmt: skip
    for rules, expected in cases:
        for path in ("/api/rules/store/all", "/api/rules/store/all/check"):
            answer = api.request("PUT" if not path.endswith("check") else "POST", path, json=rules)
            assert answer.status_code == 422, answer.text
            assert answer.json()["detail"].startswith("rules refused: ")
            assert expected in answer.json()["detail"]
    cdb = open_cloud_db(db_url)
    try:
        assert current_version(cdb, "config") == 0
    finally:
        cdb.close()
    assert api.get("/api/rules/history").json() == []
    assert api.post("/api/rules/store/all/check", json=body()).json()["ok"] is True


def test_a_store_rule_set_wins_until_withdrawn(api: TestClient) -> None:
    assert api.get("/api/rules/store/S001").json()["version"] == ""  # the defaults
    assert api.put("/api/rules/store/all", json=body()).json()["version"] == "r1"
    assert api.put("/api/rules/store/S001", json=body()).json()["version"] == "r2"
    s1 = api.get("/api/rules/store/S001").json()
    assert (s1["version"], s1["own"], s1["rules"]["scope"]) == ("r2", True, "S001")
    assert api.get("/api/rules/store/S002").json() | {"rules": {}} == {
        "scope": "S002",
        "version": "r1",
        "own": False,
        "rules": {},
    }
    overview = api.get("/api/rules").json()
    assert (overview["chain"], overview["stores"], overview["own"]) == (
        "r1", {"S001": "r2", "S002": "r1"}, ["S001"],
    )  # fmt: skip
    gone = api.delete("/api/rules/store/S001")
    assert (gone.status_code, gone.json()["version"], gone.json()["config_version"]) == (
        200, "r2", 3,
    )  # fmt: skip
    assert api.get("/api/rules/store/S001").json()["version"] == "r1"
    again = api.delete("/api/rules/store/S001")
    assert again.status_code == 409 and "no rule set of its own" in again.json()["detail"]
    assert api.delete("/api/rules/store/all").status_code == 409
    # Every version stays readable, withdrawn or not: old sales name it.
    assert api.get("/api/rules/version/r2").json()["scope"] == "S001"
    assert api.get("/api/rules/version/r9").status_code == 404
    assert [h["version"] for h in api.get("/api/rules/history").json()] == ["r2", "r1"]
    assert api.put("/api/rules/store/S404", json=body()).status_code == 404


def test_rules_never_travel_as_a_plain_config_push(api: TestClient) -> None:
    value = {**body(), "version": "r1", "scope": "all", "published_at": "2026-06-01T00:00:00Z"}
    items = [{"key": "rules", "value": value}]
    answer = api.post("/api/push/config", json={"scope": "all", "items": items})
    assert answer.status_code == 422
    assert "rules are published through /api/rules" in answer.json()["detail"]
    items = [{"key": "footer", "value": "谢谢"}]
    other = api.post("/api/push/config", json={"scope": "all", "items": items})
    assert other.status_code == 200


def test_who_may_read_and_publish_rules(db_url: str, api: TestClient) -> None:
    api.put("/api/rules/store/all", json=body())
    api.put("/api/rules/store/S002", json=body())
    roles = {role: bearer(token_for(db_url, role)) for role in
             ("marketing", "analyst", "store_manager", "technician")}  # fmt: skip
    with TestClient(api.app) as c:
        for role in ("marketing", "analyst", "store_manager"):
            assert c.get("/api/rules", headers=roles[role]).status_code == 200
            put = c.put("/api/rules/store/all", json=body(), headers=roles[role])
            assert put.status_code == 403, role
        assert c.get("/api/rules", headers=roles["technician"]).status_code == 403
        manager = roles["store_manager"]  # scoped to S001
        assert c.get("/api/rules/store/S001", headers=manager).status_code == 200
        assert c.get("/api/rules/store/S002", headers=manager).status_code == 403
        assert c.get("/api/rules/version/r2", headers=manager).status_code == 404
        assert c.get("/api/rules", headers=manager).json()["stores"] == {"S001": "r1"}
