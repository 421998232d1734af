"""One broker identity cannot act as another: attacks by independent clients on the real broker.

Each test plays the attacker with a plain paho client holding some identity's genuine
credentials, and asserts on what the victim (a terminal's session, the ingest consumer, a
terminal's outbox) sees. The broker runs the configuration provisioning.broker writes.
"""

from __future__ import annotations

from pathlib import Path

from protocol import codec, topics
from protocol.envelope import Ack
from tests.broker import Broker
from tests.device.sync.harness import make_service, record_sales, store_file

__all__ = ["make_service", "store_file"]  # fixtures used below

NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87 in CONNACK, SUBACK and PUBACK
EVENTS_11 = topics.events_topic("S001", "S001-T01")
ACK_11 = topics.ack_topic("S001", "S001-T01")
ACK_21 = topics.ack_topic("S002", "S002-T01")


def test_another_terminal_cannot_take_over_a_terminals_persistent_session(
    broker: Broker,
) -> None:
    victim = broker.client("S002-T01", client_id="S002-T01", clean_start=False,
                           session_expiry_s=3600)  # fmt: skip
    victim.subscribe(ACK_21)
    victim.close()  # offline; its session, and what is queued there, waits at the broker
    ingest = broker.client("ingest")
    assert not ingest.publish(ACK_21, b"ack queued for S002-T01").is_failure

    # Terminal A's genuine credentials, the victim's client id, asking to resume its session.
    thief = broker.client("S001-T01", client_id="S002-T01", clean_start=False,
                          session_expiry_s=3600)  # fmt: skip
    thief.subscribe(ACK_11)
    ingest.publish(ACK_11, b"marker")
    thief.wait_for(lambda m: m.payload == b"marker")
    thief.close()

    back = broker.client("S002-T01", client_id="S002-T01", clean_start=False,
                         session_expiry_s=3600)  # fmt: skip
    [got] = back.wait_for(lambda m: m.topic == ACK_21)
    assert got.payload == b"ack queued for S002-T01"
    assert all(m.topic == ACK_11 for m in thief.messages)


def test_reusing_a_connected_clients_id_does_not_knock_it_off(broker: Broker) -> None:
    worker = broker.client("ingest", client_id="ingest-1", clean_start=False,
                           session_expiry_s=3600)  # fmt: skip
    assert not worker.subscribe(topics.INGEST_SHARED_SUBSCRIPTION).is_failure
    terminal = broker.client("S001-T02", client_id="S001-T02")
    for stolen in ("ingest-1", "ingest", "S001-T02"):
        broker.client("S001-T01", client_id=stolen)  # each attempt stays connected meanwhile
    assert not terminal.publish(topics.events_topic("S001", "S001-T02"), b"after").is_failure
    worker.wait_for(lambda m: m.payload == b"after")
    assert not worker.dropped and not terminal.dropped


def test_a_terminal_cannot_subscribe_to_the_ingest_group_or_anything_not_its_own(
    broker: Broker,
) -> None:
    ingest = broker.client("ingest", client_id="ingest", clean_start=False,
                           session_expiry_s=3600)  # fmt: skip
    assert not ingest.subscribe(topics.INGEST_SHARED_SUBSCRIPTION).is_failure
    thief = broker.client("S001-T02", clean_start=False, session_expiry_s=3600)
    refused = [
        topics.INGEST_SHARED_SUBSCRIPTION,
        "$share/ingest/pos/v1/S001/S001-T01/events",
        "$share/other/pos/v1/+/+/events",
        "$share/ingest/pos/v1/S001/S001-T02/ack",
        topics.ALL_EVENTS,
        EVENTS_11,
        topics.events_topic("S001", "S001-T02"),
        ACK_11,
        topics.ALL_STATUS,
        "pos/v1/down/S002/#",
        "pos/v1/down/#",
        "pos/v1/+/+/down/#",
        "pos/v1/#",
        "#",
        "$CONTROL/dynamic-security/#",
    ]
    for flt in refused:
        assert thief.subscribe(flt).value == NOT_AUTHORIZED, flt
    sender = broker.client("S001-T01")
    sent = [f"batch-{i}".encode() for i in range(10)]
    for payload in sent:
        assert not sender.publish(EVENTS_11, payload).is_failure
    got = ingest.wait_for(lambda m: m.topic == EVENTS_11, count=len(sent))
    # Not one message was diverted to the thief's session: the ingest group got all ten.
    assert sorted(m.payload for m in got) == sorted(sent)
    assert thief.messages == []


def test_hq_cannot_ack_so_a_terminal_keeps_its_unsynced_sales(
    broker: Broker, store_file: Path, make_service
) -> None:
    record_sales(store_file, 3)  # no ingest runs: nothing is genuinely stored in the cloud
    svc = make_service(store_file, resend_after_s=60)
    # No cloud answers its Hello, so it holds its events back; the forgeries still arrive.
    assert svc.wait(lambda s: s.connected, 10), svc.stats()
    forged = codec.encode_ack(Ack(terminal_id="S001-T01", acked_seq=3))
    for identity in ("hq", "admin", "S001-T02", "S002-T01"):
        attacker = broker.client(identity)
        assert attacker.publish(ACK_11, forged).value == NOT_AUTHORIZED, identity
    # The only identity allowed to ACK confirms seq 0: once that arrived, so had the forgeries.
    ingest = broker.client("ingest")
    ingest.publish(ACK_11, codec.encode_ack(Ack(terminal_id="S001-T01", acked_seq=0)))
    assert svc.wait(lambda s: s.acks >= 1, 10), svc.stats()
    assert svc.stats().outbox_depth == 3 and svc.stats().acked_seq == 0


def test_only_the_cloud_publishes_downstream_and_only_hq_and_ingest_can(broker: Broker) -> None:
    terminal = broker.client("S001-T01")
    terminal.subscribe(topics.store_down_filter("S001"))
    down = topics.down_topic("S001", "prices")
    for identity in ("S001-T02", "S002-T01", "admin"):
        assert broker.client(identity).publish(down, b"forged").value == NOT_AUTHORIZED
    assert not broker.client("hq").publish(down, b"from hq").is_failure
    assert not broker.client("ingest").publish(down, b"from ingest").is_failure
    terminal.wait_for(lambda m: m.payload == b"from ingest")
    assert [m.payload for m in terminal.messages] == [b"from hq", b"from ingest"]


def test_hq_cannot_read_events_or_join_the_ingest_group(broker: Broker) -> None:
    hq = broker.client("hq")
    for flt in (topics.INGEST_SHARED_SUBSCRIPTION, topics.ALL_EVENTS, "pos/v1/+/+/ack", "#"):
        assert hq.subscribe(flt).value == NOT_AUTHORIZED, flt
    assert not hq.subscribe(topics.ALL_STATUS).is_failure


def test_identity_file_is_owner_only_and_stays_so_after_a_live_change(broker: Broker) -> None:
    path = broker.dir / "dynsec.json"
    assert path.stat().st_mode & 0o077 == 0
    text = path.read_text()
    assert "pw-S001-T01" not in text and "pw-ingest" not in text  # hashes only
    broker.set_password("S001-T02", "a-new-secret")  # the plugin rewrites its own file
    assert broker.client("S001-T02", "a-new-secret")
    assert path.stat().st_mode & 0o077 == 0
    assert "a-new-secret" not in path.read_text()
