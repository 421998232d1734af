"""Broker connection settings and a paho MQTT 5 client factory shared by the cloud services."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import threading
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from protocol.tls import ClientIdentity

#: A worker's broker session outlives a week-long cloud outage, so nothing queued is dropped.
DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where and as whom a cloud service connects."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str | None = None
    password: str | None = None
    tls_ca: str | None = None  # CA file; setting it turns TLS on
    tls_cert: str | None = None  # client certificate, if the listener wants one
    tls_key: str | None = None
    keepalive_s: int = 30


def host_port(text: str) -> tuple[str, int]:
    """argparse type for ``host:port`` (the host may itself hold colons, as IPv6 does)."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected host:port, got {text!r}")
    return host, int(port)


def add_broker_arguments(
    p: argparse.ArgumentParser,
    *,
    username: str,
    password_env: str,
    client_id: str,
    required: bool = True,
) -> None:
    """The broker options every cloud service takes: --broker (left out with ``required``
    false: no broker), --username, --password (default: $``password_env``), --tls-ca,
    --tls-cert, --tls-key and --client-id."""
    if required:
        p.add_argument("--broker", type=host_port, default=("127.0.0.1", 1883), help="host:port")
    else:
        p.add_argument("--broker", type=host_port, help="host:port (left out: store only)")
    p.add_argument("--username", default=username)
    p.add_argument("--password", default=os.environ.get(password_env))
    p.add_argument("--tls-ca", help="CA file; turns TLS on")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--client-id", default=client_id)


def broker_settings(args: argparse.Namespace) -> BrokerSettings:
    """The settings add_broker_arguments' options give (args.broker must be set)."""
    return BrokerSettings(
        host=args.broker[0], port=args.broker[1], username=args.username,
        password=args.password, tls_ca=args.tls_ca, tls_cert=args.tls_cert, tls_key=args.tls_key,
    )  # fmt: skip


def make_client(
    settings: BrokerSettings, client_id: str, *, manual_ack: bool = False
) -> mqtt.Client:
    """A paho 2 client speaking MQTT 5 with credentials and TLS set, not yet connected."""
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls_ca:
        identity = ClientIdentity(settings.tls_ca, settings.tls_cert, settings.tls_key)
        client.tls_set_context(identity.context)
        # A renewed certificate (`fleet apply`) is taken at the next connect, no restart.
        client.on_pre_connect = identity.before_connect
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.on_socket_open = _no_delay
    return client


def _no_delay(_client: mqtt.Client, _userdata: object, sock: object) -> None:
    # Nagle would hold a small ACK or PUBACK back until the peer's delayed ACK (40 ms on
    # Linux), which shows up directly in sale-to-cloud latency.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]


def connect_properties(session_expiry_s: int) -> Properties:
    """CONNECT properties asking the broker to keep our session (and its queue) that long."""
    props = Properties(PacketTypes.CONNECT)
    if session_expiry_s:
        props.SessionExpiryInterval = session_expiry_s
    return props


def retire_session(settings: BrokerSettings, client_id: str, timeout_s: float = 10.0) -> None:
    """End a retired consumer's persistent session at the broker.

    Mosquitto keeps handing a shared subscription's messages round-robin to every member's
    session, including one whose worker was stopped for good (measured: half of the messages
    sat queued for a stopped worker while the live one idled). Connecting once under its client
    id with clean_start and no session expiry drops that session and its queue; terminals
    resend whatever was queued there, because only an ingest ACK clears their outbox.
    """
    client = make_client(settings, client_id)
    connected = threading.Event()
    client.on_connect = lambda _c, _u, _f, rc, _p: connected.set() if not rc.is_failure else None
    client.connect(settings.host, settings.port, keepalive=settings.keepalive_s,
                   clean_start=True, properties=connect_properties(0))  # fmt: skip
    client.loop_start()
    try:
        if not connected.wait(timeout_s):
            raise TimeoutError(f"could not connect as {client_id} to retire its session")
    finally:
        client.disconnect()
        client.loop_stop()
