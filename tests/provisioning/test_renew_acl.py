"""Certificate renewal topics under attack on the real broker: who may ask, read and answer.

Each attacker is an independent paho client holding some identity's genuine credentials. A
till asks only on its own renew topic; only the fleet's signer (an identity of its own) reads
the requests and sends certificates, so no other service can feed a till a certificate; and
the signer can do nothing else, the admin's work least of all.
"""

from __future__ import annotations

import pytest

from protocol import topics
from tests.broker import Broker

NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87 in SUBACK and PUBACK
RENEW_11 = topics.renew_topic("S001", "S001-T01")
CERT_11 = topics.cert_topic("S001", "S001-T01")


@pytest.mark.parametrize("attacker", ["S001-T02", "S002-T01", "hq", "ingest", "jobs", "admin"])
def test_only_the_terminal_asks_and_only_the_signer_reads_its_requests(
    broker: Broker, attacker: str
) -> None:
    signer = broker.client("signer")
    assert not signer.subscribe(topics.ALL_RENEW).is_failure
    forger = broker.client(attacker)
    assert forger.publish(RENEW_11, b"forged request").value == NOT_AUTHORIZED
    for flt in (RENEW_11, topics.ALL_RENEW, "pos/v1/S001/+/renew"):
        assert forger.subscribe(flt).value == NOT_AUTHORIZED, flt
    genuine = broker.client("S001-T01")
    assert not genuine.publish(RENEW_11, b"genuine request", retain=True).is_failure
    signer.wait_for(lambda m: m.payload == b"genuine request")
    assert [m.payload for m in signer.messages] == [b"genuine request"]
    assert [m for m in forger.messages if m.topic == RENEW_11] == []
    # The signer clears an answered request; nothing is left for the next run.
    assert not signer.publish(RENEW_11, b"", retain=True).is_failure


@pytest.mark.parametrize("forger", ["S001-T01", "S001-T02", "hq", "ingest", "jobs", "admin"])
def test_only_the_signer_sends_a_terminal_its_certificate(broker: Broker, forger: str) -> None:
    victim = broker.client("S001-T01")
    assert not victim.subscribe(CERT_11).is_failure
    other = victim if forger == "S001-T01" else broker.client(forger)
    assert other.publish(CERT_11, b"forged certificate").value == NOT_AUTHORIZED
    assert broker.client("S001-T02").subscribe(CERT_11).value == NOT_AUTHORIZED
    assert not broker.client("signer").publish(CERT_11, b"signed certificate").is_failure
    victim.wait_for(lambda m: m.payload == b"signed certificate")
    assert [m.payload for m in victim.messages] == [b"signed certificate"]


def test_ingest_reads_certificates_but_only_the_signer_reads_requests(broker: Broker) -> None:
    reader = broker.client("ingest")
    assert not reader.subscribe(topics.ALL_CERT).is_failure
    assert not broker.client("signer").publish(CERT_11, b"issued", retain=True).is_failure
    reader.wait_for(lambda m: m.topic == CERT_11 and m.payload == b"issued")
    assert broker.client("S001-T02").subscribe(topics.ALL_CERT).value == NOT_AUTHORIZED


def test_the_signer_can_do_nothing_but_sign(broker: Broker) -> None:
    signer = broker.client("signer")
    control = "$CONTROL/dynamic-security/v1"
    assert signer.publish(control, b'{"commands":[{"command":"listClients"}]}').value == (
        NOT_AUTHORIZED
    )
    for flt in (f"{control}/#", topics.ALL_STATUS, topics.ALL_EVENTS, topics.ALL_CERT):
        assert signer.subscribe(flt).value == NOT_AUTHORIZED, flt
    for topic in (topics.status_topic("S001", "S001-T01"), topics.ack_topic("S001", "S001-T01"),
                  topics.down_topic("S001", "prices")):  # fmt: skip
        assert signer.publish(topic, b"x").value == NOT_AUTHORIZED, topic
