"""Read and write a terminal's retained status on the broker as the admin identity.

HQ learns a terminal's state from its retained status (the ingest worker records it), so a
revoked or retired terminal, which can no longer publish, is described there by the fleet:
the last status it sent, marked offline, with the reason as its newest problem.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from typing import Any

import msgspec
import paho.mqtt.client as mqtt

from protocol import codec, topics
from protocol.envelope import MAX_PROBLEM_CHARS, Status, utc_iso
from protocol.problems import to_wire
from provisioning.errors import BrokerConfigError
from provisioning.fleet import Fleet, utc_now

WAIT_S = 3.0


def admin_client(fleet: Fleet) -> mqtt.Client:
    """A paho MQTT 5 client (not yet connected) holding the admin identity's certificate."""
    return service_client(fleet, "admin")


def service_client(fleet: Fleet, name: str) -> mqtt.Client:
    """A paho MQTT 5 client (not yet connected) holding one fleet identity's certificate."""
    pair = fleet.service_pair(name)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(fleet.ca_cert), certfile=str(pair.cert), keyfile=str(pair.key),
                   tls_version=ssl.PROTOCOL_TLS_CLIENT)  # fmt: skip
    return client


def read_status(fleet: Fleet, store_id: str, terminal_id: str) -> Status | None:
    """The terminal's retained status, or None if it never sent one (or the broker is down)."""
    topic = topics.status_topic(store_id, terminal_id)
    got: list[Status] = []
    done = threading.Event()
    client = admin_client(fleet)

    def on_connect(c: mqtt.Client, *_a: Any) -> None:
        c.subscribe(topic, qos=1)

    def on_subscribe(*_a: Any) -> None:
        # Retained messages come before anything else on the subscription; allow a moment.
        threading.Timer(WAIT_S / 3, done.set).start()

    def on_message(_c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with contextlib.suppress(Exception):  # a damaged status says nothing we can use
            got.append(codec.decode_status(bytes(msg.payload)))
        done.set()

    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    try:
        client.connect(broker_host(fleet), fleet.settings.broker_port, keepalive=30)
    except OSError:
        return None
    client.loop_start()
    try:
        done.wait(WAIT_S)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[-1] if got else None


def publish_reason(fleet: Fleet, store_id: str, terminal_id: str, problem: str) -> None:
    """Publish the terminal's last status again, offline, naming why (retained)."""
    last = read_status(fleet, store_id, terminal_id)
    now = utc_iso(utc_now())
    status = (
        msgspec.structs.replace(last, online=False, last_problem=problem[:MAX_PROBLEM_CHARS],
                                problem=to_wire(problem), sent_at=now)
        if last is not None
        else Status(
            terminal_id=terminal_id, store_id=store_id, online=False, outbox_depth=0,
            oldest_unsynced_s=None, stream_versions={}, clock_synced=False, printer="unknown",
            software_version="", sent_at=utc_iso(utc_now()),
            last_problem=problem[:MAX_PROBLEM_CHARS], problem=to_wire(problem),
        )
    )  # fmt: skip
    client = admin_client(fleet)
    try:
        client.connect(broker_host(fleet), fleet.settings.broker_port, keepalive=30)
    except OSError as err:
        raise BrokerConfigError(f"cannot reach the broker to record the reason: {err}") from None
    client.loop_start()
    try:
        info = client.publish(topics.status_topic(store_id, terminal_id),
                              codec.encode_status(status), qos=1, retain=True)  # fmt: skip
        info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()


def broker_host(fleet: Fleet) -> str:
    """The address the fleet host reaches its own broker at."""
    s = fleet.settings
    return s.broker_host if s.bind == "0.0.0.0" else s.bind
