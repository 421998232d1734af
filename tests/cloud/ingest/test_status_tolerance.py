"""A newer till's status, carrying a field this cloud does not know, through the real broker and
ingest: taken and shown on HQ's terminal list; a sale with a field it does not know is still
refused and kept, as every money event is."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import msgspec

from cloud.api.app import create_app
from cloud.ingest.worker import IngestWorker
from cloud.store.db import open_cloud_db
from cloud.store.queries import terminals
from device.sync.status import Health, StatusReporter
from protocol.codec import decode_ack
from protocol.problems import Said
from protocol.topics import ack_topic, events_topic, status_topic
from tests.broker import Broker
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.factories import simple_sale

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _wait(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"never saw {what}")
        time.sleep(0.05)


def _newer_tills_status() -> bytes:
    """What a till of this software publishes, plus the fields a later version adds."""
    reporter = StatusReporter("S001", "S001-T02", "9.0.0", printer=lambda: "ok")
    health = Health(True, 3, 12.0, {"prices": 4}, problem=Said("ack.bad", error="not JSON"))
    status = msgspec.json.decode(reporter.payload(health))
    status["battery_mv"] = 4980  # a field a later till adds
    status["problem"]["severity"] = "warn"  # and one inside a message it carries
    return msgspec.json.encode(status)


def test_a_status_with_a_field_this_cloud_does_not_know_is_taken_and_shown(
    broker: Broker, db_url: str, worker: IngestWorker
) -> None:
    till = broker.client("S001-T02", client_id="S001-T02")
    till.publish(status_topic("S001", "S001-T02"), _newer_tills_status(), retain=True)
    reader = open_cloud_db(db_url)
    try:
        _wait(lambda: any(t["terminal_id"] == "S001-T02" for t in terminals(reader)), "status")
        [listed] = terminals(reader)
        assert (listed["software_version"], listed["outbox_depth"]) == ("9.0.0", 3)
        assert not listed["flagged"] and reader.models.DeadLetter.select().count() == 0
    finally:
        reader.close()
    with TestClient(create_app(db_url, Recorder()), headers=bearer(token_for(db_url))) as hq:
        page = hq.get("/terminals").text
    row = page.split('<tr id="S001-T02"')[1].split("</tr>")[0]
    assert "9.0.0" in row and "无法读取的确认（ACK）。详情（原文）：not JSON" in row


def test_a_sale_with_a_field_this_cloud_does_not_know_is_still_refused(
    broker: Broker, worker: IngestWorker
) -> None:
    till = broker.client("S001-T01", client_id="S001-T01")
    till.subscribe(ack_topic("S001", "S001-T01"))
    sale = msgspec.json.decode(msgspec.json.encode(simple_sale("S001-T01", 1)))
    sale["body"]["loyalty_hint"] = "x"  # a field a later till might add to a sale
    batch = {"v": 1, "store_id": "S001", "terminal_id": "S001-T01", "events": [sale]}
    till.publish(events_topic("S001", "S001-T01"), msgspec.json.encode(batch))
    [ack] = till.wait_for(lambda m: m.topic.endswith("/ack"), timeout=60)
    # Kept dead in its place (so the till's later sales are not stuck behind it), never applied.
    assert decode_ack(ack.payload).dead_lettered == [1]
    m = worker.db.models
    dead = m.Event.get((m.Event.terminal_id == "S001-T01") & (m.Event.seq == 1))
    assert (dead.status, dead.amount_fen) == ("dead", 0)
    assert "loyalty_hint" in m.Terminal.get(m.Terminal.terminal_id == "S001-T01").flag_reason
