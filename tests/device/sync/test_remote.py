"""The terminal's side of the request/response channel, against a real broker and a stand-in cloud.

The cloud here is a plain paho client with an ingest identity that answers (or does not)
exactly as the test says, so each outcome the checkout must handle can be produced: an
answer, no answer (timeout), a late answer, garbage, and no broker at all.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from device.checkout import events as ev
from device.checkout.hq import ClaimQuery, CouponFree, CouponQuery, ReceiptQuery
from device.sync.service import SyncService
from protocol import remote
from protocol.topics import PREFIX, reply_topic, request_topic
from tests.broker import Broker, MqttClient
from tests.cloud.factories import sale_body

REQUESTS = f"$share/ingest/{PREFIX}/+/+/req"
REPLY_11 = reply_topic("S001", "S001-T01")


def _cloud(broker: Broker, **kw: Any) -> MqttClient:
    cloud = broker.client("ingest", client_id="ingest", **kw)
    assert not cloud.subscribe(REQUESTS).is_failure
    return cloud


def _answers() -> tuple[queue.Queue[object], Callable[[object], None]]:
    box: queue.Queue[object] = queue.Queue()
    return box, box.put


def _requests(cloud: MqttClient, count: int = 1) -> list[remote.Request]:
    got = cloud.wait_for(lambda m: m.topic.endswith("/req"), count=count)
    return [remote.decode_request(m.payload) for m in got]


def test_a_question_is_answered_through_the_terminals_own_topics(
    broker: Broker, store_file: Path, make_service: Callable[..., SyncService]
) -> None:
    cloud = _cloud(broker)
    svc = make_service(store_file)
    assert svc.wait(lambda s: s.connected, 15)
    box, answer = _answers()
    svc.ask("00000000000000a1", CouponQuery("BDAY20", "M1", 10_000, 0), 30.0, answer)
    [asked] = _requests(cloud)
    assert cloud.messages[0].topic == request_topic("S001", "S001-T01")
    assert isinstance(asked, remote.CouponCheck)
    assert (asked.id, asked.code, asked.member_id, asked.total_fen) == (
        "00000000000000a1",
        "BDAY20",
        "M1",
        10_000,
    )
    granted = remote.CouponGranted(
        id=asked.id, terminal_id="S001-T01", code="BDAY20", amount_fen=2000, uses_left=0, hold_s=900
    )
    cloud.publish(REPLY_11, remote.encode_reply(granted))
    assert box.get(timeout=15) == ev.HqCouponGranted("00000000000000a1", "BDAY20", 2000)

    sale = sale_body([("RICE", 2, 11_980)])
    svc.ask("00000000000000a2", ReceiptQuery(sale["receipt_no"]), 30.0, answer)
    [_, lookup] = _requests(cloud, 2)
    found = remote.ReceiptFound(
        id=lookup.id,
        terminal_id="S001-T01",
        receipt_no=sale["receipt_no"],
        sale_store_id="S002",
        sale_terminal_id="S002-T01",
        sale=msgspec.convert(sale, remote.SaleBody),
        returned=[remote.ClaimLine(line_no=1, units=1)],
        member_returns_30d=2,
    )
    cloud.publish(REPLY_11, remote.encode_reply(found))
    event = box.get(timeout=15)
    assert isinstance(event, ev.HqReceiptFound)
    assert event.sale.sale_id == sale["sale_id"] and event.sale.total_fen == 11_980
    assert (event.returned, event.member_returns_30d) == (((1, 1),), 2)


def test_no_answer_in_time_is_a_timeout_and_a_late_grant_is_given_back(
    broker: Broker, store_file: Path, make_service: Callable[..., SyncService]
) -> None:
    cloud = _cloud(broker)
    svc = make_service(store_file)
    assert svc.wait(lambda s: s.connected, 15)
    box, answer = _answers()
    query = ClaimQuery(
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
        "S002-T01-20261123-0001",
        ((1, 1),),
    )
    svc.ask("00000000000000b1", query, 1.0, answer)
    [asked] = _requests(cloud)
    assert isinstance(asked, remote.ReturnClaim) and asked.lines[0].units == 1
    assert box.get(timeout=15) == ev.HqUnreachable("00000000000000b1", "timeout")
    late = remote.ClaimGranted(
        id=asked.id, terminal_id="S001-T01", return_id=query.return_id, hold_s=900
    )
    cloud.publish(REPLY_11, remote.encode_reply(late))
    [_, given_back] = _requests(cloud, 2)
    assert isinstance(given_back, remote.ReturnRelease)
    assert given_back.return_id == query.return_id
    assert box.empty()  # nobody is told of the late grant: the checkout gave up on it


def test_garbage_and_other_terminals_replies_are_ignored(
    broker: Broker, store_file: Path, make_service: Callable[..., SyncService]
) -> None:
    cloud = _cloud(broker)
    svc = make_service(store_file)
    assert svc.wait(lambda s: s.connected, 15)
    box, answer = _answers()
    svc.ask("00000000000000c1", ReceiptQuery("S002-T01-20261123-0001"), 3.0, answer)
    [asked] = _requests(cloud)
    for junk in (
        b"\xff\xfe",
        b"{}",
        json.dumps(
            {
                "kind": "refused",
                "id": asked.id,
                "terminal_id": "S009-T09",
                "reason": "receipt_unknown",
            }
        ).encode(),
    ):
        cloud.publish(REPLY_11, junk)
    assert box.get(timeout=15) == ev.HqUnreachable("00000000000000c1", "timeout")


def test_an_unsendable_question_is_answered_at_once(
    broker: Broker, store_file: Path, make_service: Callable[..., SyncService]
) -> None:
    cloud = _cloud(broker)
    svc = make_service(store_file)
    assert svc.wait(lambda s: s.connected, 15)
    box, answer = _answers()
    svc.ask("00000000000000d1", CouponQuery("NOT A CODE", None, 100, 0), 30.0, answer)
    refused = box.get(timeout=15)
    assert isinstance(refused, ev.HqRefused) and refused.reason == "coupon_unknown"
    svc.ask("00000000000000d2", CouponFree("X"), 0.0, None)  # a tell still goes out
    [told] = _requests(cloud)
    assert isinstance(told, remote.CouponRelease) and told.code == "X"


def test_without_a_broker_the_answer_is_offline_at_once(
    broker: Broker, store_file: Path, make_service: Callable[..., SyncService]
) -> None:
    svc = make_service(store_file)
    assert svc.wait(lambda s: s.connected, 15)
    broker.stop()
    assert svc.wait(lambda s: not s.connected, 30)
    box, answer = _answers()
    svc.ask("00000000000000e1", CouponQuery("BDAY20", None, 100, 0), 30.0, answer)
    assert box.get(timeout=15) == ev.HqUnreachable("00000000000000e1", "offline")


def test_a_question_nobody_took_in_time_expires_at_the_broker(
    broker: Broker, store_file: Path, make_service: Callable[..., SyncService]
) -> None:
    # The cloud's session exists (it would queue questions) but no worker is connected.
    _cloud(broker, clean_start=False, session_expiry_s=600).close()
    svc = make_service(store_file)
    assert svc.wait(lambda s: s.connected, 15)
    box, answer = _answers()
    svc.ask("00000000000000f1", CouponQuery("BDAY20", None, 100, 0), 1.0, answer)
    assert box.get(timeout=15) == ev.HqUnreachable("00000000000000f1", "timeout")
    time.sleep(2.5)  # past the question's 1 s message expiry: time itself is what is tested
    cloud = _cloud(broker, clean_start=False, session_expiry_s=600)
    marker = broker.client("S001-T02", client_id="S001-T02")
    marker.publish(request_topic("S001", "S001-T02"), b"after")
    cloud.wait_for(lambda m: m.payload == b"after")
    assert [m.payload for m in cloud.messages] == [b"after"]


def test_every_refusal_the_cloud_may_send_has_a_message_in_both_languages() -> None:
    from device.checkout.asking import REASON_KEYS
    from device.i18n import CATALOGUES

    assert set(REASON_KEYS) == set(remote.REFUSALS)
    for reason in remote.REFUSALS:
        key = REASON_KEYS[reason]
        english, chinese = CATALOGUES["en"][key], CATALOGUES["zh_CN"][key]
        assert english and chinese and english != chinese, reason
