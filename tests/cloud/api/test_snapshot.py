"""Snapshots end to end: cloud SQLite -> API -> real Mosquitto -> a real terminal's caches."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.api.publisher import MqttPublisher
from cloud.api.snapshot import snapshot_messages
from cloud.mqtt import BrokerSettings
from cloud.store.db import open_cloud_db, utcnow
from cloud.store.downstream import append_change, current_version
from cloud.store.snapshot import build_snapshot
from device.store import bulk
from device.store.catalogue import CatalogueCache
from device.store.db import open_database
from device.store.members import MemberCache
from protocol.codec import decode_down
from protocol.topics import terminal_down_topic
from tests.broker import Broker
from tests.cloud.api.access import bearer, token_for
from tests.cloud.factories import (
    envelope,
    ingest_batch,
    registration_body,
    sale_body,
)
from tests.device.sync.harness import make_service, store_file

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette nags about httpx vs httpx2 on import
    from fastapi.testclient import TestClient

__all__ = ["make_service", "store_file"]  # fixtures used below

BULK = 1200  # members HQ pushed to every store: more than one chunk's worth (500)


def hq_member(member_id: str, phone: str, **kw: Any) -> dict[str, Any]:
    item = {"member_id": member_id, "phone": phone, "name": "HQ name", "tier": "regular",
            "points_balance": 0, "cumulative_spend_fen": 0, "birthday": "1988-02-29",
            "opt_out_sms": True, "member_code": f"QR-{member_id}",
            "cards": [f"CARD-{member_id}"]}  # fmt: skip
    item.update(kw)
    return item


def product(sku: str, price: int) -> dict[str, Any]:
    return {"sku": sku, "name_zh": f"商品{sku}", "price_fen": price, "barcodes": [f"69{sku}"]}


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[str]:
    """A cloud database holding tills' events and HQ's change log for stores S001 and S002."""
    url = f"sqlite:///{tmp_path}/cloud.db"
    ingest_batch(url, [
        envelope("S001-T01", 1, registration_body("M1", "13800000001", "Till name"),
                 event_type="member_registered"),
        envelope("S001-T01", 2, sale_body([("A", 1, 35_000)], member_id="M1")),
    ])  # fmt: skip
    ingest_batch(url, [envelope("S002-T01", 1, registration_body("M2", "13800000002",
                                                               "Other store"),
                                event_type="member_registered")])  # fmt: skip
    cdb = open_cloud_db(url)
    now = utcnow()
    with cdb.write():
        append_change(cdb, "members", "S001", "upsert", [hq_member("M1", "13800000001")], now)
        append_change(cdb, "members", "S002", "upsert", [hq_member("M3", "13800000003")], now)
        append_change(
            cdb,
            "members",
            "all",
            "upsert",
            [hq_member(f"B{n:04d}", f"1390000{n:04d}") for n in range(BULK)],
            now,
        )
        append_change(
            cdb,
            "catalogue",
            "all",
            "upsert",
            [product("A", 100), product("B", 200), product("C", 300)],
            now,
        )
        append_change(cdb, "prices", "S001", "upsert", [{"sku": "A", "price_fen": 90}], now)
        append_change(cdb, "prices", "S002", "upsert", [{"sku": "B", "price_fen": 10}], now)
        append_change(cdb, "catalogue", "S001", "delete", [{"sku": "C"}], now)
    cdb.close()
    return url  # fmt: skip


def expected_members() -> dict[str, tuple[str, str, int, int, str | None, str | None]]:
    """By hand: member -> (phone, name, points, spend, birthday, member code)."""
    out: dict[str, tuple[str, str, int, int, str | None, str | None]] = {
        # Till facts (name, 30 + 5 points, 1,500 fen spend) over HQ's record (birthday, code).
        "M1": ("13800000001", "Till name", 35, 35_000, "1988-02-29", "QR-M1"),
        # Registered at another store: every store's till must know them.
        "M2": ("13800000002", "Other store", 0, 0, None, None),
    }
    for n in range(BULK):
        out[f"B{n:04d}"] = (f"1390000{n:04d}", "HQ name", 0, 0, "1988-02-29", f"QR-B{n:04d}")
    return out  # M3 was pushed to S002 only and no till has seen them


def terminal_members(path: Path) -> tuple[dict[str, tuple[Any, ...]], int]:
    db = open_database(path)
    try:
        rows = db.query("SELECT member_id, phone, name, points_balance, cumulative_spend_fen, "
                        "birthday, member_code FROM member")  # fmt: skip
        return {r[0]: tuple(r[1:]) for r in rows}, bulk.stream_version(db.conn(), "members")
    finally:
        db.close()


def terminal_products(path: Path) -> dict[str, int]:
    db = open_database(path)
    try:
        return {sku: price for sku, price in db.query("SELECT sku, price_fen FROM product")}
    finally:
        db.close()


def seed_old_cache(path: Path) -> None:
    """What the till held before: stale rows a snapshot must replace."""
    db = open_database(path)
    try:
        MemberCache(db).upsert([hq_member("OLD", "13700000000")])
        CatalogueCache(db).upsert([product("Z", 1)])
    finally:
        db.close()


@pytest.fixture
def publisher(broker: Broker) -> Iterator[MqttPublisher]:
    pub = MqttPublisher(
        BrokerSettings(broker.host, broker.port, "hq", broker.password("hq")), client_id="hq-snap"
    )
    assert pub.start(wait_s=10)
    yield pub
    pub.stop()


def test_a_snapshot_replaces_the_terminals_caches_with_the_clouds_state(
    cloud: str, publisher: MqttPublisher, store_file: Path, make_service: Any
) -> None:
    seed_old_cache(store_file)
    svc = make_service(store_file)
    assert svc.wait(lambda s: s.connected, 30)
    with TestClient(create_app(cloud, publisher), headers=bearer(token_for(cloud))) as api:
        reply = api.post("/api/terminals/S001-T01/snapshot/members")
        assert reply.status_code == 200, reply.text
        sent = reply.json()
        assert svc.wait(lambda s: s.snapshots_loaded == 1, 30), svc.stats()
        catalogue = api.post("/api/terminals/S001-T01/snapshot/catalogue").json()
        assert svc.wait(lambda s: s.snapshots_loaded == 2, 30), svc.stats()
    assert sent["items"] == BULK + 2 and sent["chunks"] == 3  # 1,202 items, 500 per chunk
    assert sent["topic"] == terminal_down_topic("S001", "S001-T01", "members")
    members, version = terminal_members(store_file)
    # The members stream's five changes: ingest pushed M1 (one batch) and M2, HQ three.
    assert version == sent["version"] == 5
    assert members == expected_members()
    db = open_database(store_file)
    try:
        assert MemberCache(db).cards("M1") == ["CARD-M1"]
        assert MemberCache(db).cards("M2") == []
    finally:
        db.close()
    # A: 100, then 90 by S001's price change. B: S002's price is not ours. C: deleted.
    assert terminal_products(store_file) == {"A": 90, "B": 200}
    assert catalogue["version"] == 2 and catalogue["items"] == 2


def test_a_snapshot_missing_a_chunk_leaves_the_old_cache(
    cloud: str, publisher: MqttPublisher, store_file: Path, make_service: Any
) -> None:
    seed_old_cache(store_file)
    svc = make_service(store_file, snapshot_timeout_s=1.0)
    assert svc.wait(lambda s: s.connected, 30)
    cdb = open_cloud_db(cloud)
    try:
        messages = snapshot_messages(build_snapshot(cdb, "members", "S001"), "lost-one")
    finally:
        cdb.close()
    assert len(messages) == 3 and decode_down(messages[1]).chunk == 1
    topic = terminal_down_topic("S001", "S001-T01", "members")
    for payload in (messages[0], messages[2]):  # chunk 1 lost on the way
        publisher.publish(topic, payload)
    assert svc.wait(lambda s: s.snapshots_failed == 1, 30), svc.stats()
    members, version = terminal_members(store_file)
    assert set(members) == {"OLD"} and version == 0


def test_a_stream_without_changes_gets_a_version_and_an_empty_snapshot(cloud: str) -> None:
    cdb = open_cloud_db(cloud)
    try:
        snap = build_snapshot(cdb, "coupons", "S001")
        assert (snap.items, snap.version) == ([], 1)
        assert current_version(cdb, "coupons") == 1  # a catch-up sees the same version
        assert len(snapshot_messages(snap, "empty")) == 1
    finally:
        cdb.close()


def test_unknown_terminals_and_stores_are_refused_with_the_reason(cloud: str) -> None:
    class Unused:
        def publish(self, topic: str, payload: bytes) -> None:
            raise AssertionError("nothing may be sent")

    with TestClient(create_app(cloud, Unused()), headers=bearer(token_for(cloud))) as api:
        missing = api.post("/api/terminals/S009-T01/snapshot/members")
        assert missing.status_code == 404 and "pass ?store=" in missing.text
        wrong = api.post("/api/terminals/S001-T01/snapshot/members", params={"store": "S002"})
        assert wrong.status_code == 409 and "S001" in wrong.text
        bad = api.post("/api/terminals/S009-T01/snapshot/members", params={"store": "a/b"})
        assert bad.status_code == 422
        stream = api.post("/api/terminals/S001-T01/snapshot/stock")
        assert stream.status_code == 422
