"""The request/response channel under attack on the real broker: replies reach one terminal only.

Each attacker is an independent paho client holding some identity's genuine credentials
(another till of the same store, a till of another store, the HQ API, the technicians'
admin). What is asserted is what the victim terminal and the ingest workers actually see.
"""

from __future__ import annotations

import pytest

from protocol import topics
from tests.broker import Broker

NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87 in SUBACK and PUBACK
REQ_11 = topics.request_topic("S001", "S001-T01")
REPLY_11 = topics.reply_topic("S001", "S001-T01")
REQUEST_SHARE = f"$share/ingest/{topics.PREFIX}/+/+/req"


@pytest.mark.parametrize("attacker", ["S001-T02", "S002-T01", "hq", "admin"])
def test_nobody_else_can_read_a_terminals_replies(broker: Broker, attacker: str) -> None:
    victim = broker.client("S001-T01")
    assert not victim.subscribe(REPLY_11).is_failure
    thief = broker.client(attacker)
    for flt in (
        REPLY_11,
        "pos/v1/S001/+/reply",
        "pos/v1/+/+/reply",
        "pos/v1/#",
        "#",
        f"$share/x/{REPLY_11}",
    ):
        assert thief.subscribe(flt).value == NOT_AUTHORIZED, flt
    ingest = broker.client("ingest")
    assert not ingest.publish(REPLY_11, b"coupon granted for S001-T01").is_failure
    victim.wait_for(lambda m: m.topic == REPLY_11)
    # The marker, sent after it, arrives after it: by then the thief had its chance.
    ingest.publish(REPLY_11, b"marker")
    victim.wait_for(lambda m: m.payload == b"marker")
    assert [m for m in thief.messages if m.topic == REPLY_11] == []


@pytest.mark.parametrize("attacker", ["S001-T02", "S002-T01", "hq", "admin"])
def test_nobody_can_ask_in_a_terminals_name(broker: Broker, attacker: str) -> None:
    ingest = broker.client("ingest", client_id="ingest", clean_start=False, session_expiry_s=60)
    assert not ingest.subscribe(REQUEST_SHARE).is_failure
    forger = broker.client(attacker)
    assert forger.publish(REQ_11, b"forged question").value == NOT_AUTHORIZED
    genuine = broker.client("S001-T01")
    assert not genuine.publish(REQ_11, b"genuine question").is_failure
    ingest.wait_for(lambda m: m.payload == b"genuine question")
    assert [m.payload for m in ingest.messages] == [b"genuine question"]


@pytest.mark.parametrize("identity", ["S001-T01", "S001-T02", "hq", "admin"])
def test_only_ingest_writes_replies(broker: Broker, identity: str) -> None:
    victim = broker.client("S001-T01")
    victim.subscribe(REPLY_11)
    # One identity is one session at this broker: the terminal itself forges with its own.
    forger = victim if identity == "S001-T01" else broker.client(identity)
    assert forger.publish(REPLY_11, b"forged answer").value == NOT_AUTHORIZED
    ingest = broker.client("ingest")
    ingest.publish(REPLY_11, b"true answer")
    victim.wait_for(lambda m: m.payload == b"true answer")
    assert [m.payload for m in victim.messages] == [b"true answer"]


def test_a_terminal_cannot_listen_to_other_terminals_questions(broker: Broker) -> None:
    thief = broker.client("S001-T02")
    for flt in (REQUEST_SHARE, REQ_11, topics.ALL_REQUESTS, "$share/ingest/pos/v1/S001/+/req"):
        assert thief.subscribe(flt).value == NOT_AUTHORIZED, flt
    # Its own request topic is for sending only: no echo of its own questions either.
    assert thief.subscribe(topics.request_topic("S001", "S001-T02")).value == NOT_AUTHORIZED
