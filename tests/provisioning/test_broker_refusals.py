"""The fleet's broker refuses what it must, and says so itself (its log, its CONNACK/SUBACK/PUBACK).

Every attempt is a plain paho client with some certificate; what is asserted is the broker's
answer, never a check the client made of its own accord.
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import time
from pathlib import Path

import pytest

from protocol import codec, topics
from provisioning import certs
from provisioning.certs import CertPair
from provisioning.terminal_root import Layout
from tests.mqtt_client import ConnectRefused, MqttClient
from tests.provisioning.conftest import FleetEnv

NOT_AUTHORIZED = 135


def _client(env: FleetEnv, pair: CertPair | None, *, tls: bool = True) -> MqttClient:
    fleet = env.fleet
    return MqttClient(
        "127.0.0.1", fleet.settings.broker_port, username=None, password=None,
        ca_file=fleet.ca_cert if tls else None, client_cert=pair,
    )  # fmt: skip


def _connect(env: FleetEnv, pair: CertPair | None, *, tls: bool = True) -> MqttClient:
    c = _client(env, pair, tls=tls)
    c.connect(timeout=8)
    return c


def _raw_connect(env: FleetEnv, pair: CertPair) -> str:
    """Handshake and send an MQTT CONNECT by hand; what the broker answered, or how it ended.

    With TLS 1.3 the broker judges the client certificate after the client thinks the
    handshake is done, so its refusal shows up as the session ending before any CONNACK.
    """
    fleet = env.fleet
    ctx = ssl.create_default_context(cafile=str(fleet.ca_cert))
    ctx.load_cert_chain(str(pair.cert), str(pair.key))
    connect = bytes([0x10, 12, 0, 4, *b"MQTT", 4, 2, 0, 30, 0, 0])  # MQTT 3.1.1, empty id
    try:
        with (
            socket.create_connection(("127.0.0.1", fleet.settings.broker_port), 8) as raw,
            ctx.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(connect)
            answer = tls.recv(16)  # TLS 1.3 delivers a client-certificate refusal here
    except (ssl.SSLError, OSError) as err:
        return f"refused: {err}"
    return "CONNACK accepted" if answer[:4] == b"\x20\x02\x00\x00" else f"answered {answer!r}"


def _verify_failures(env: FleetEnv) -> int:
    return env.fleet.log_file.read_text(errors="replace").count("certificate verify failed")


def _logged_refusals(env: FleetEnv, before: int, timeout: float = 10) -> int:
    """New failed verifications in the broker's log (it writes a moment after refusing).

    At least one per attempt: a client library on a starved machine may try once more
    before its connect call gives up, so the count is a floor, not an exact figure.
    """
    deadline = time.monotonic() + timeout
    while _verify_failures(env) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return _verify_failures(env) - before


def _provisioned(env: FleetEnv, terminal: str, store: str = "S001") -> CertPair:
    root = env.tmp / f"root-{terminal}"
    done = env.add(terminal, store, root)
    assert done.code == 0, done.err
    layout = Layout(root)
    return CertPair(layout.cert, layout.key)


def _broker_says(env: FleetEnv, text: str) -> bool:
    return text in env.fleet.log_file.read_text(errors="replace")


def test_a_revoked_terminal_is_dropped_refused_and_hq_is_told_why(fleet_env: FleetEnv) -> None:
    pair = _provisioned(fleet_env, "S001-T07")
    assert _raw_connect(fleet_env, pair) == "CONNACK accepted"
    live = _connect(fleet_env, pair)
    done = fleet_env.cmd("terminal", "revoke", "--terminal", "S001-T07", "--reason", "stolen")
    assert done.code == 0, done.err
    live.wait_disconnected(10)  # the broker dropped the live connection
    before = _verify_failures(fleet_env)
    with pytest.raises((ConnectRefused, TimeoutError)):
        _connect(fleet_env, pair)
    # The same certificate that was accepted a moment ago: the broker ends the session with
    # no CONNACK and logs the failed verification (the CRL now lists it).
    assert _raw_connect(fleet_env, pair).startswith("refused")
    assert _logged_refusals(fleet_env, before) >= 2  # the library's try and the raw one
    hq = fleet_env.fleet.service_pair("hq")
    watcher = _connect(fleet_env, hq)
    status_topic = topics.status_topic("S001", "S001-T07")
    watcher.subscribe(status_topic)
    [got] = watcher.wait_for(lambda m: m.topic == status_topic and m.retain)
    status = codec.decode_status(got.payload)
    assert status.online is False and status.last_problem == "credentials revoked: stolen"
    listing = fleet_env.cmd("terminal", "list")
    assert "S001-T07" in listing.out and "revoked" in listing.out and "stolen" in listing.out


def test_an_expired_certificate_is_refused(fleet_env: FleetEnv, tmp_path: Path) -> None:
    _provisioned(fleet_env, "S001-T08")
    key = certs.new_key()
    started = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    cert = certs.sign_csr(fleet_env.fleet.authority(), certs.make_csr(key, "S001-T08"),
                          days=1, not_before=started)  # fmt: skip
    pair = CertPair(tmp_path / "old.crt", tmp_path / "old.key")
    pair.cert.write_bytes(certs.cert_pem(cert))
    certs.write_key(pair.key, key)
    fresh = certs.sign_csr(fleet_env.fleet.authority(), certs.make_csr(key, "S001-T08"))
    good = CertPair(tmp_path / "fresh.crt", pair.key)
    good.cert.write_bytes(certs.cert_pem(fresh))
    assert _raw_connect(fleet_env, good) == "CONNACK accepted"  # same key, same identity
    before = _verify_failures(fleet_env)
    with pytest.raises((ConnectRefused, TimeoutError)):
        _connect(fleet_env, pair)
    assert _raw_connect(fleet_env, pair).startswith("refused")
    assert _logged_refusals(fleet_env, before) >= 2  # the library's try and the raw one


def test_a_certificate_from_another_ca_is_refused(fleet_env: FleetEnv, tmp_path: Path) -> None:
    rogue_ca = certs.create_ca(tmp_path / "rogue")
    pair = certs.issue_client_cert(rogue_ca, tmp_path / "rogue", "S001-T01")
    with pytest.raises((ConnectRefused, TimeoutError)):
        _connect(fleet_env, pair)
    assert _broker_says(fleet_env, "certificate verify failed")


def test_store_a_certificate_cannot_touch_store_b(fleet_env: FleetEnv) -> None:
    a = _connect(fleet_env, _provisioned(fleet_env, "S001-T09"))
    b_events = topics.events_topic("S002", "S002-T01")
    assert a.publish(b_events, b"forged").value == NOT_AUTHORIZED
    assert a.publish(topics.events_topic("S002", "S001-T09"), b"forged").value == NOT_AUTHORIZED
    assert a.subscribe(topics.store_down_filter("S002")).value == NOT_AUTHORIZED
    assert a.subscribe(topics.ack_topic("S002", "S002-T01")).value == NOT_AUTHORIZED
    assert not a.publish(topics.events_topic("S001", "S001-T09"), b"own").is_failure


def test_plain_tcp_gets_no_mqtt_at_all(fleet_env: FleetEnv) -> None:
    with pytest.raises((ConnectRefused, TimeoutError)):
        _connect(fleet_env, None, tls=False)
    conf = fleet_env.fleet.conf.read_text()
    listeners = [line for line in conf.splitlines() if line.startswith("listener ")]
    assert len(listeners) == 1 and "require_certificate true" in conf  # no plaintext anywhere


def test_tls_without_a_client_certificate_is_refused(fleet_env: FleetEnv) -> None:
    with pytest.raises((ConnectRefused, TimeoutError)):
        _connect(fleet_env, None)
    assert _broker_says(fleet_env, "peer did not return a certificate")
