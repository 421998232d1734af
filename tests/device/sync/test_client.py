"""The terminal's MQTT link: settings checks, TLS with a password or a client certificate."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from device.sync.client import BrokerSettings, Connected, Inbound, InboxItem, Link
from device.sync.errors import ConfigError
from device.sync.service import SyncService, SyncSettings
from device.sync.storage import SyncStorage
from protocol import codec, topics
from protocol.envelope import Ack
from protocol.errors import BadTopic
from tests.broker import Broker
from tests.device.sync.fakecloud import FakeCloud
from tests.device.sync.harness import record_sales


def _drain(broker: Broker, store_file: Path, settings: BrokerSettings) -> SyncService:
    record_sales(store_file, 20)
    cloud = FakeCloud(broker)
    svc = SyncService(
        SyncSettings(broker=settings),
        open_store=lambda: SyncStorage.open(store_file),
        sink_factory=lambda s: s,
        close_store=lambda s: s.close(),
    )
    svc.start()
    try:
        assert svc.wait(lambda s: s.acked_seq == 20, 30), svc.stats()
    finally:
        svc.stop()
        cloud.close()
    return svc


def test_sync_over_tls_with_a_password(
    broker_factory: Callable[..., Broker], store_file: Path
) -> None:
    broker = broker_factory(tls=True)
    assert broker.tls_port is not None and broker.certs is not None
    settings = BrokerSettings(
        host=broker.host, port=broker.tls_port, store_id="S001", terminal_id="S001-T01",
        password=broker.password("S001-T01"), ca_file=str(broker.certs.ca.cert),
    )  # fmt: skip
    _drain(broker, store_file, settings)


def test_sync_over_tls_with_a_client_certificate(
    broker_factory: Callable[..., Broker], store_file: Path
) -> None:
    broker = broker_factory(tls=True)
    assert broker.cert_port is not None and broker.certs is not None
    pair = broker.certs.clients["S001-T01"]
    settings = BrokerSettings(
        host=broker.host, port=broker.cert_port, store_id="S001", terminal_id="S001-T01",
        ca_file=str(broker.certs.ca.cert), cert_file=str(pair.cert), key_file=str(pair.key),
    )  # fmt: skip
    _drain(broker, store_file, settings)


@pytest.mark.parametrize(
    ("changes", "error", "words"),
    [
        ({"terminal_id": "S001/#"}, BadTopic, "terminal id"),
        ({"store_id": "all"}, BadTopic, "reserved"),
        ({"port": 0}, ConfigError, "port"),
        ({"keepalive_s": 1}, ConfigError, "keepalive"),
        ({"reconnect_min_s": 10, "reconnect_max_s": 5}, ConfigError, "reconnect"),
        ({"ca_file": "/nonexistent/ca.pem"}, ConfigError, "not readable"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(
    changes: dict[str, object], error: type[Exception], words: str
) -> None:
    fields: dict[str, object] = {
        "host": "127.0.0.1", "port": 1883, "store_id": "S001", "terminal_id": "S001-T01",
    }  # fmt: skip
    fields.update(changes)
    with pytest.raises(error, match=words):
        BrokerSettings(**fields).check()  # type: ignore[arg-type]


def test_a_revoked_terminal_keeps_its_outbox_and_says_why_it_cannot_connect(
    broker: Broker, store_file: Path, make_service
) -> None:
    record_sales(store_file, 5)
    password = broker.password("S001-T01")
    broker.remove_terminal("S001-T01")
    svc = make_service(store_file, password=password, reconnect_max_s=1)
    assert svc.wait(lambda s: "refused" in s.link_problem, 30), svc.stats()
    stats = svc.stats()
    assert not stats.connected and stats.outbox_depth == 5 and stats.events_sent == 0


def test_the_broker_keeps_the_session_so_an_ack_sent_while_offline_arrives(
    broker: Broker, store_file: Path, make_service
) -> None:
    record_sales(store_file, 10)
    cloud = FakeCloud(broker, ack=False)
    try:
        first = make_service(store_file, resend_after_s=60)
        assert first.wait(lambda s: s.events_sent == 10, 30)
        first.stop()  # offline now; the persistent session stays at the broker
        acker = broker.client("ingest-2", client_id="late-cloud")  # FakeCloud is "ingest"
        acker.publish(
            topics.ack_topic("S001", "S001-T01"),
            codec.encode_ack(Ack(terminal_id="S001-T01", acked_seq=10)),
        )
        acker.close()
        # Nobody else ACKs: the rows can only go if the queued ACK is delivered on reconnect.
        second = make_service(store_file, resend_after_s=60)
        # Two ACKs arrive: the answer to its Hello (nothing confirmed) and the queued one.
        # (When the queued one comes first, this fake cloud's answer reads as a cloud behind
        # what it acknowledged, and the till sends the kept rows again: the rows stay
        # acknowledged all the same.)
        assert second.wait(lambda s: s.acks == 2 and s.outbox_depth == 0, 30), second.stats()
        assert second.wait(lambda s: s.outbox_depth == 0, 30)
    finally:
        cloud.close()


def test_connected_is_reported_only_once_the_subscriptions_are_in_place(broker: Broker) -> None:
    # The link's network loop is stepped by hand, so the moment between the broker's CONNACK
    # and its SUBACK is held open: a message the cloud sends when the till says "connected"
    # must reach it, so "connected" may only be said after the SUBACK.
    inbox: queue.Queue[InboxItem] = queue.Queue()
    settings = BrokerSettings(
        host=broker.host,
        port=broker.port,
        store_id="S001",
        terminal_id="S001-T01",
        password=broker.password("S001-T01"),
    )
    link = Link(settings, inbox, will_payload=b"")
    link.client.connect(broker.host, broker.port, clean_start=True)
    cloud = broker.client("ingest-2", client_id="ack-right-away")
    try:
        deadline = time.monotonic() + 30
        steps = 0
        while not link.connected:
            assert time.monotonic() < deadline, "never connected"
            link.client.loop(timeout=0.05)
            steps += 1
        assert steps >= 2  # CONNACK and SUBACK are two packets: not both on the first read
        assert isinstance(inbox.get_nowait(), Connected)
        ack = codec.encode_ack(Ack(terminal_id="S001-T01", acked_seq=7))
        cloud.publish(topics.ack_topic("S001", "S001-T01"), ack)
        got: list[InboxItem] = []
        while not any(isinstance(i, Inbound) for i in got):
            assert time.monotonic() < deadline, f"the ACK sent on 'connected' was lost: {got}"
            link.client.loop(timeout=0.05)
            while not inbox.empty():
                got.append(inbox.get_nowait())
        inbound = next(i for i in got if isinstance(i, Inbound))
        assert codec.decode_ack(inbound.payload).acked_seq == 7
    finally:
        cloud.close()
        link.client.disconnect()
