"""The generated Mosquitto config, exercised on a real broker with paho-mqtt MQTT 5 clients."""

from __future__ import annotations

import base64
import errno
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol import topics
from provisioning.broker import ServiceCred, TerminalCred, write_broker_config
from provisioning.certs import create_ca, issue_client_cert
from provisioning.errors import BrokerConfigError
from tests.broker import DEFAULT_SERVICES, Broker, ConnectRefused

NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87, CONNACK and PUBACK alike
EVENTS_11 = topics.events_topic("S001", "S001-T01")
EVENTS_12 = topics.events_topic("S001", "S001-T02")
EVENTS_21 = topics.events_topic("S002", "S002-T01")


def test_anonymous_connect_is_refused(broker: Broker) -> None:
    with pytest.raises(ConnectRefused) as info:
        broker.client(None)
    assert info.value.reason.value == NOT_AUTHORIZED


@pytest.mark.parametrize(
    ("user", "password"),
    [("S001-T01", "wrong"), ("S001-T01", "pw-S001-T02"), ("S009-T01", "pw-S001-T01")],
)
def test_wrong_or_borrowed_password_is_refused(broker: Broker, user: str, password: str) -> None:
    with pytest.raises(ConnectRefused) as info:
        broker.client(user, password)
    assert info.value.reason.value == NOT_AUTHORIZED


def test_terminal_events_reach_the_ingest_shared_subscription(broker: Broker) -> None:
    ingest = broker.client("ingest")
    assert not ingest.subscribe(topics.INGEST_SHARED_SUBSCRIPTION).is_failure
    term = broker.client("S001-T01")
    assert not term.publish(EVENTS_11, b"batch-1").is_failure
    [got] = ingest.wait_for(lambda m: m.topic == EVENTS_11)
    assert got.payload == b"batch-1"


def test_terminal_cannot_publish_as_another_terminal(broker: Broker) -> None:
    ingest = broker.client("ingest")
    ingest.subscribe(topics.ALL_EVENTS)
    term = broker.client("S001-T01")
    # Mosquitto drops the publish; MQTT 5 tells the sender so in the PUBACK.
    assert term.publish(EVENTS_12, b"forged").value == NOT_AUTHORIZED
    assert term.publish(EVENTS_21, b"forged").value == NOT_AUTHORIZED
    assert term.publish(topics.events_topic("S002", "S001-T01"), b"forged").value == 135
    # Same connection, later message: once it has arrived the earlier ones would have too.
    term.publish(EVENTS_11, b"genuine")
    ingest.wait_for(lambda m: m.payload == b"genuine")
    assert [m.payload for m in ingest.messages] == [b"genuine"]


def test_terminal_cannot_impersonate_hq_or_the_cloud(broker: Broker) -> None:
    term = broker.client("S001-T01")
    assert term.publish(topics.down_topic("S001", "prices"), b"x").value == NOT_AUTHORIZED
    assert term.publish(topics.down_topic("all", "config"), b"x").value == NOT_AUTHORIZED
    assert term.publish(topics.ack_topic("S001", "S001-T01"), b"x").value == NOT_AUTHORIZED
    assert term.publish(topics.status_topic("S001", "S001-T02"), b"x").value == NOT_AUTHORIZED


def test_terminal_reads_its_store_and_all_but_not_another_store(broker: Broker) -> None:
    term = broker.client("S001-T01")
    # Filters outside its rights are refused at SUBSCRIBE (the plugin checks subscriptions).
    for flt in ("pos/v1/down/S002/#", "pos/v1/down/#", "pos/v1/+/+/down/#", "pos/v1/+/+/ack"):
        assert term.subscribe(flt).value == NOT_AUTHORIZED, flt
    for flt in (
        topics.store_down_filter("S001"),
        topics.store_down_filter("all"),
        topics.terminal_down_filter("S001", "S001-T01"),
        topics.ack_topic("S001", "S001-T01"),
    ):
        assert not term.subscribe(flt).is_failure, flt
    hq, ingest = broker.client("hq"), broker.client("ingest")
    hq.publish(topics.down_topic("S002", "catalogue"), b"for S002")
    hq.publish(topics.terminal_down_topic("S001", "S001-T02", "members"), b"for T02")
    ingest.publish(topics.ack_topic("S001", "S001-T02"), b"ack T02")
    hq.publish(topics.down_topic("S001", "catalogue"), b"for S001")
    hq.publish(topics.down_topic("all", "prices"), b"for all")
    hq.publish(topics.terminal_down_topic("S001", "S001-T01", "members"), b"for T01")
    ingest.publish(topics.ack_topic("S001", "S001-T01"), b"ack T01")
    term.wait_for(lambda m: m.payload == b"ack T01")
    payloads = {m.payload for m in term.messages}
    assert payloads == {b"for S001", b"for all", b"for T01", b"ack T01"}


def test_status_is_retained_and_the_last_will_marks_offline(broker: Broker) -> None:
    status = topics.status_topic("S001", "S001-T01")
    term = broker.client("S001-T01", will=(status, b"offline", 1, True))
    term.publish(status, b"online", retain=True)
    hq = broker.client("hq")
    hq.subscribe(topics.ALL_STATUS)
    assert hq.wait_for(lambda m: m.topic == status)[0].payload == b"online"

    term.drop_socket()  # a crash: no DISCONNECT, so the broker must send the will
    hq.wait_for(lambda m: m.payload == b"offline")

    later = broker.client("ingest")
    later.subscribe(status)
    [seen] = later.wait_for(lambda m: m.topic == status)
    assert (seen.payload, seen.retain) == (b"offline", True)


def test_clean_disconnect_sends_no_will(broker: Broker) -> None:
    status = topics.status_topic("S001", "S001-T02")
    hq = broker.client("hq")
    hq.subscribe(status)
    term = broker.client("S001-T02", will=(status, b"offline", 1, True))
    term.publish(status, b"online", retain=True)
    hq.wait_for(lambda m: m.payload == b"online")
    term.close()
    # The admin may write a status (to say why a terminal was revoked); once its marker has
    # arrived, a will sent at the disconnect would have arrived too.
    broker.client("admin").publish(status, b"marker")
    hq.wait_for(lambda m: m.payload == b"marker")
    assert b"offline" not in [m.payload for m in hq.messages]


def test_persistent_session_keeps_queued_messages_across_broker_restart(broker: Broker) -> None:
    first = broker.client("ingest", client_id="ingest-1", clean_start=False, session_expiry_s=3600)
    first.subscribe(topics.ALL_EVENTS, qos=1)
    first.close()  # the cloud goes away; its session stays on the broker

    term = broker.client("S001-T01")
    sent = [f"batch-{i}".encode() for i in range(5)]
    for payload in sent:
        assert not term.publish(EVENTS_11, payload, qos=1).is_failure
    term.close()

    broker.restart()  # graceful: Mosquitto writes its persistence file on the way out

    second = broker.client("ingest", client_id="ingest-1", clean_start=False, session_expiry_s=3600)
    got = second.wait_for(lambda m: m.topic == EVENTS_11, count=len(sent))
    assert sorted(m.payload for m in got) == sorted(sent)


@pytest.mark.parametrize("hard", [False, True], ids=["stop", "kill-9"])
def test_a_downed_brokers_port_stays_its_own_until_it_restarts_on_it(
    broker: Broker, hard: bool
) -> None:
    """While the broker is down, the probe every free-port pick makes cannot take its port."""
    if hard:
        broker.kill()
    else:
        broker.stop()
    with socket.socket() as probe, pytest.raises(OSError) as info:
        probe.bind((broker.host, broker.port))
    assert info.value.errno == errno.EADDRINUSE
    broker.start()
    ingest = broker.client("ingest")
    ingest.subscribe(topics.ALL_EVENTS, qos=1)
    assert not broker.client("S001-T01").publish(EVENTS_11, b"restarted", qos=1).is_failure
    assert [m.payload for m in ingest.wait_for(lambda m: m.topic == EVENTS_11)] == [b"restarted"]


def _next_save(db: Path, timeout: float = 30) -> None:
    """Wait until the broker's persistence file is rewritten (a new file each save)."""

    def stamp() -> tuple[int, int]:
        try:
            st = db.stat()
        except FileNotFoundError:
            return (0, 0)
        return (st.st_ino, st.st_mtime_ns)

    before = stamp()
    deadline = time.monotonic() + timeout
    while stamp() == before:
        assert time.monotonic() < deadline, f"no autosave within {timeout} s"
        time.sleep(0.05)


def test_queued_messages_survive_kill_9_once_autosaved(
    broker_factory: Callable[..., Broker],
) -> None:
    broker = broker_factory(autosave_interval_s=1)
    first = broker.client("ingest", client_id="ingest-1", clean_start=False, session_expiry_s=3600)
    first.subscribe(topics.ALL_EVENTS, qos=1)
    first.close()
    db = broker.dir / "data" / "mosquitto.db"
    term = broker.client("S001-T01")
    assert not term.publish(EVENTS_11, b"queued", qos=1).is_failure  # PUBACK: in memory
    term.close()
    # Mosquitto saves on its main loop, one save after another. The first save finished
    # after the PUBACK may have begun before it; the one after that cannot have.
    _next_save(db)
    _next_save(db)
    broker.restart(hard=True)
    second = broker.client("ingest", client_id="ingest-1", clean_start=False, session_expiry_s=3600)
    assert [m.payload for m in second.wait_for(lambda m: m.topic == EVENTS_11)] == [b"queued"]


def test_revoked_terminal_can_no_longer_connect_or_publish(broker: Broker) -> None:
    ingest = broker.client("ingest")
    ingest.subscribe(topics.ALL_EVENTS)
    live = broker.client("S001-T02")
    broker.remove_terminal("S001-T02")
    # On SIGHUP Mosquitto re-checks connected clients and drops the revoked one at once.
    live.wait_disconnected()
    live.paho.publish(EVENTS_12, b"after revoke", qos=1)  # queued by paho, never authorised
    with pytest.raises(ConnectRefused):
        broker.client("S001-T02", "pw-S001-T02")
    other = broker.client("S001-T01")
    other.publish(EVENTS_11, b"still fine")
    ingest.wait_for(lambda m: m.payload == b"still fine")
    assert b"after revoke" not in [m.payload for m in ingest.messages]


def test_password_rotation_takes_effect_on_reload(broker: Broker) -> None:
    broker.set_password("S001-T01", "rotated-secret")
    with pytest.raises(ConnectRefused):
        broker.client("S001-T01", "pw-S001-T01")
    assert not broker.client("S001-T01", "rotated-secret").publish(EVENTS_11, b"x").is_failure


def test_added_terminal_is_confined_like_the_others(broker: Broker) -> None:
    broker.add_terminal(TerminalCred("S003-T01", "S003", "pw-new"))
    term = broker.client("S003-T01", "pw-new")
    assert not term.publish(topics.events_topic("S003", "S003-T01"), b"x").is_failure
    assert term.publish(EVENTS_11, b"x").value == NOT_AUTHORIZED


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture
def tls_broker(broker_factory: Callable[..., Broker]) -> Broker:
    return broker_factory(tls=True)


def test_tls_listener_with_password(tls_broker: Broker) -> None:
    ingest = tls_broker.client("ingest", tls=True)
    ingest.subscribe(topics.ALL_EVENTS)
    term = tls_broker.client("S001-T01", tls=True)
    assert not term.publish(EVENTS_11, b"over tls").is_failure
    ingest.wait_for(lambda m: m.payload == b"over tls")
    with pytest.raises(ConnectRefused):
        tls_broker.client("S001-T01", "wrong", tls=True)


def test_plaintext_to_the_tls_port_fails(tls_broker: Broker) -> None:
    with pytest.raises((ConnectRefused, TimeoutError)):
        tls_broker.client("S001-T01", port=tls_broker.tls_port, timeout=5)


def test_tls_rejects_a_broker_signed_by_another_ca(tls_broker: Broker, tmp_path: Path) -> None:
    assert tls_broker.certs is not None
    other = create_ca(tmp_path / "other-ca")
    with pytest.raises(ConnectRefused) as info:
        tls_broker.client("S001-T01", tls=True, ca_file=other.files.cert)
    assert "certificate verify failed" in str(info.value)


def test_client_certificate_cn_is_the_username(tls_broker: Broker, tmp_path: Path) -> None:
    assert tls_broker.certs is not None
    ingest = tls_broker.client("ingest")
    ingest.subscribe(topics.ALL_EVENTS)
    term = tls_broker.client(
        None, port=tls_broker.cert_port, client_cert=tls_broker.certs.clients["S002-T01"]
    )
    assert not term.publish(EVENTS_21, b"by cert").is_failure
    assert term.publish(EVENTS_11, b"forged").value == NOT_AUTHORIZED
    ingest.wait_for(lambda m: m.payload == b"by cert")
    assert [m.payload for m in ingest.messages] == [b"by cert"]


def test_terminal_added_later_gets_a_working_client_cert(tls_broker: Broker) -> None:
    assert tls_broker.certs is not None
    tls_broker.add_terminal(TerminalCred("S003-T01", "S003"))  # certificate only, no password
    term = tls_broker.client(
        None, port=tls_broker.cert_port, client_cert=tls_broker.certs.clients["S003-T01"]
    )
    assert not term.publish(topics.events_topic("S003", "S003-T01"), b"x").is_failure
    assert term.publish(EVENTS_11, b"x").value == NOT_AUTHORIZED


def test_certificate_listener_refuses_clients_without_a_valid_cert(
    tls_broker: Broker, tmp_path: Path
) -> None:
    with pytest.raises((ConnectRefused, TimeoutError)):
        tls_broker.client("S001-T01", port=tls_broker.cert_port, tls=True, timeout=5)
    rogue_ca = create_ca(tmp_path / "rogue")
    rogue = issue_client_cert(rogue_ca, tmp_path / "rogue", "S001-T01")
    with pytest.raises((ConnectRefused, TimeoutError)):
        tls_broker.client(None, port=tls_broker.cert_port, client_cert=rogue, timeout=5)


# -- config writer ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("terminal_id", "store_id"),
    [("S001/T01", "S001"), ("#", "S001"), ("S001-T01", "+"), ("T", "all"), ("", "S001")],
)
def test_ids_that_could_escape_their_topics_are_refused(
    tmp_path: Path, terminal_id: str, store_id: str
) -> None:
    with pytest.raises(BrokerConfigError, match="id"):
        write_broker_config(
            tmp_path, port=1883, terminals=[TerminalCred(terminal_id, store_id, "pw")], services=[]
        )


def test_tls_bind_must_be_an_address(tmp_path: Path) -> None:
    with pytest.raises(BrokerConfigError, match="tls_bind"):
        write_broker_config(tmp_path, port=1, terminals=[], services=[], tls_bind="0.0.0.0\nx")


def test_duplicate_usernames_and_tls_without_certs_are_refused(tmp_path: Path) -> None:
    t = TerminalCred("S001-T01", "S001", "pw")
    with pytest.raises(BrokerConfigError, match="twice"):
        write_broker_config(tmp_path, port=1, terminals=[t, t], services=[])
    with pytest.raises(BrokerConfigError, match="twice"):
        write_broker_config(
            tmp_path,
            port=1,
            terminals=[],
            services=[ServiceCred("hq", "a"), ServiceCred("hq", "b")],
        )
    with pytest.raises(BrokerConfigError, match="certs"):
        write_broker_config(tmp_path, port=1, tls_port=2, terminals=[t], services=[])


def test_identity_file_holds_hashes_not_passwords(tmp_path: Path) -> None:
    write_broker_config(
        tmp_path,
        port=1883,
        terminals=[TerminalCred("S001-T01", "S001", "hunter2-secret"), TerminalCred("S001-T02",
                                                                                    "S001")],
        services=[ServiceCred("ingest", "ingest-secret"), ServiceCred("ingest-2")],
    )  # fmt: skip
    path = tmp_path / "dynsec.json"
    assert "secret" not in path.read_text()
    clients = {c["username"]: c for c in json.loads(path.read_text())["clients"]}
    assert set(clients) == {"S001-T01", "S001-T02", "ingest", "ingest-2"}
    for name in ("S001-T01", "ingest"):
        assert len(base64.b64decode(clients[name]["password"])) == 64  # PBKDF2-SHA512
    # Certificate-only identities have no password at all: no password login is possible.
    assert "password" not in clients["S001-T02"] and "password" not in clients["ingest-2"]
    assert [r["rolename"] for r in clients["ingest-2"]["roles"]] == ["service:ingest"]
    assert path.stat().st_mode & 0o077 == 0


def test_a_certificate_only_identity_cannot_log_in_with_a_password(
    broker_factory: Callable[..., Broker],
) -> None:
    broker = broker_factory(services=[*DEFAULT_SERVICES, ServiceCred("ingest-9")])
    for password in ("", "pw-ingest", "x"):
        with pytest.raises(ConnectRefused):
            broker.client("ingest-9", password)


def test_unknown_service_roles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BrokerConfigError, match="role 'root'"):
        write_broker_config(tmp_path, port=1, terminals=[], services=[ServiceCred("root", "x")])


def test_queue_holds_more_than_mosquittos_default_for_an_absent_consumer(broker: Broker) -> None:
    # Mosquitto's default max_queued_messages is 1000 (mosquitto.conf(5)); a cloud outage of a
    # busy day queues more than that per consumer session, and the excess would be dropped.
    sent = 1500
    first = broker.client("ingest", client_id="ingest-1", clean_start=False, session_expiry_s=3600)
    first.subscribe(topics.ALL_EVENTS, qos=1)
    first.close()
    term = broker.client("S001-T01")
    infos = [term.paho.publish(EVENTS_11, f"batch-{i}".encode(), qos=1) for i in range(sent)]
    for info in infos:
        info.wait_for_publish(timeout=60)  # the broker's PUBACK: it holds the message
    term.close()
    second = broker.client("ingest", client_id="ingest-1", clean_start=False, session_expiry_s=3600)
    got = second.wait_for(lambda m: m.topic == EVENTS_11, count=sent, timeout=60)
    assert sorted(m.payload for m in got) == sorted(f"batch-{i}".encode() for i in range(sent))
