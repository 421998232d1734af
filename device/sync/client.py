"""The terminal's MQTT 5 link: builds the paho client and turns its callbacks into queued events.

Threading: paho runs its own network thread (loop_start). Its callbacks never touch the store;
they only put Connected / Disconnected / Inbound items on the service's inbox queue, which the
one sync thread drains. publish() is safe to call from the sync thread (paho locks internally).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import socket
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.sync.errors import ConfigError
from protocol import topics
from protocol.tls import ClientIdentity, IdentityFilesError

log = logging.getLogger(__name__)

#: A week: a terminal may be offline for days and the broker keeps its session (and ACKs) meanwhile.
DEFAULT_SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where and how this terminal reaches the broker."""

    host: str
    port: int
    store_id: str
    terminal_id: str
    username: str | None = None  # defaults to the terminal id
    password: str | None = None
    ca_file: str | None = None  # TLS is on when a CA file is given
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: int = 30
    session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30
    max_inflight: int = 32

    def check(self) -> BrokerSettings:
        """Return self if usable, else raise ConfigError naming the problem."""
        topics.validate_id(self.store_id, "store id")
        topics.validate_id(self.terminal_id, "terminal id")
        if not self.host:
            raise ConfigError("broker host is empty")
        if not 0 < self.port < 65536:
            raise ConfigError(f"broker port {self.port} is not 1-65535")
        if not 5 <= self.keepalive_s <= 3600:
            raise ConfigError(f"keepalive {self.keepalive_s}s is not 5-3600")
        if not 0 < self.reconnect_min_s <= self.reconnect_max_s:
            raise ConfigError("reconnect delays must satisfy 0 < min <= max")
        for label, path in (("CA", self.ca_file), ("cert", self.cert_file), ("key", self.key_file)):
            if path is not None and not os.access(path, os.R_OK):
                raise ConfigError(f"TLS {label} file {path!r} is not readable")
        if (self.cert_file is None) != (self.key_file is None):
            raise ConfigError("a client certificate needs both cert_file and key_file")
        return self


@dataclass(frozen=True, slots=True)
class Connected:
    """The broker accepted the connection (session_present: it kept our old session)."""

    session_present: bool


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The link dropped or the broker refused us; paho reconnects with backoff."""

    reason: str


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message on one of our subscriptions, still raw bytes."""

    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class Wake:
    """Something was recorded: look at the outbox now rather than at the next poll."""


InboxItem = Connected | Disconnected | Inbound | Wake


def subscriptions(store_id: str, terminal_id: str) -> list[str]:
    """Every topic filter a terminal listens on: its ACKs and replies, its renewed certificate,
    downstream for it, its store and all."""
    return [
        topics.ack_topic(store_id, terminal_id),
        topics.reply_topic(store_id, terminal_id),
        topics.cert_topic(store_id, terminal_id),
        topics.store_down_filter(store_id),
        topics.store_down_filter(topics.ALL_STORES),
        topics.terminal_down_filter(store_id, terminal_id),
    ]


class Link:
    """One paho client for one terminal, with a persistent MQTT 5 session and a last will."""

    def __init__(
        self,
        settings: BrokerSettings,
        inbox: queue.Queue[InboxItem],
        will_payload: bytes,
    ) -> None:
        self.settings = settings.check()
        self._inbox = inbox
        # Set once the broker has granted our subscriptions (SUBACK), not at CONNACK: a
        # message published to us between the two would not be routed to this client.
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._subscribing: tuple[int, bool] | None = None  # (SUBSCRIBE mid, session present)
        self._refusal = ""
        self.status_topic = topics.status_topic(settings.store_id, settings.terminal_id)
        self.client = build_client(settings)
        self.client.will_set(self.status_topic, will_payload, qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    @property
    def connected(self) -> bool:
        """Whether the broker link is up and our subscriptions are in place right now."""
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Block until connected and subscribed, or timeout; return whether connected."""
        return self._connected.wait(timeout)

    def start(self) -> None:
        """Connect in the background; paho keeps reconnecting with backoff until stop()."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        self.client.connect_async(
            self.settings.host,
            self.settings.port,
            keepalive=self.settings.keepalive_s,
            clean_start=False,
            properties=props,
        )
        self.client.loop_start()

    def publish(
        self, topic: str, payload: bytes, retain: bool = False, properties: Properties | None = None
    ) -> mqtt.MQTTMessageInfo:
        """Publish at QoS 1; paho queues it in memory if the link is momentarily down."""
        return self.client.publish(topic, payload, qos=1, retain=retain, properties=properties)

    def reconnect(self) -> None:
        """Close the link cleanly (no last will) and open it again with the files as they are
        now: the broker sees a renewed certificate at once, not at the next network blip."""
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()
        self.start()

    def stop(self, farewell: bytes | None = None, timeout: float = 2.0) -> None:
        """Say goodbye (retained offline status) if connected, then close the link."""
        if farewell is not None and self.connected:
            info = self.client.publish(self.status_topic, farewell, qos=1, retain=True)
            # If the link drops meanwhile, the broker publishes the will instead.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout)
        self.client.disconnect()
        self.client.loop_stop()
        self._connected.clear()

    def _on_connect(
        self, client: mqtt.Client, _u: Any, flags: Any, reason: Any, _props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker refused %s: %s", self.settings.terminal_id, reason)
            # paho follows this with a disconnect of its own; that one must not hide the cause.
            self._refusal = f"refused: {reason}"
            return
        self._refusal = ""
        filters = subscriptions(self.settings.store_id, self.settings.terminal_id)
        # One SUBSCRIBE for every filter, so one SUBACK says they are all in place.
        rc, mid = client.subscribe([(flt, 1) for flt in filters])
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.warning("subscribe for %s not sent: %s", self.settings.terminal_id, rc)
            return  # the link is going down; paho reconnects and this runs again
        with self._lock:
            self._subscribing = (mid, bool(flags.session_present))

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, mid: int, reasons: list[Any], _props: Any
    ) -> None:
        with self._lock:
            if self._subscribing is None or self._subscribing[0] != mid:
                return  # a SUBACK of an earlier connection
            session_present = self._subscribing[1]
            self._subscribing = None
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            # The broker's ACL refused a filter: publishing still works and the outbox keeps
            # every event, but what that filter carries (ACKs, downstream) will not arrive.
            log.error("broker refused subscriptions of %s: %s", self.settings.terminal_id,
                      refused)  # fmt: skip
        self._connected.set()
        self._inbox.put(Connected(session_present))

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any
    ) -> None:
        self._connected.clear()
        with self._lock:
            self._subscribing = None
        self._inbox.put(Disconnected(self._refusal or str(reason)))

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(Inbound(msg.topic, bytes(msg.payload)))


def build_client(settings: BrokerSettings) -> mqtt.Client:
    """A paho MQTT 5 client set up for this terminal (not yet connected)."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=settings.terminal_id,
        protocol=mqtt.MQTTv5,
    )
    client.username_pw_set(settings.username or settings.terminal_id, settings.password)
    if settings.ca_file is not None:
        try:
            identity = ClientIdentity(settings.ca_file, settings.cert_file, settings.key_file)
        except IdentityFilesError as err:
            raise ConfigError(str(err)) from None
        client.tls_set_context(identity.context)
        # A rotated certificate is taken at the next connect, without restarting the till.
        client.on_pre_connect = identity.before_connect
    client.reconnect_delay_set(settings.reconnect_min_s, settings.reconnect_max_s)
    client.on_socket_open = _no_delay
    client.max_inflight_messages_set(settings.max_inflight)
    return client


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    # Without TCP_NODELAY a small PUBACK or batch can wait for the peer's delayed ACK
    # (40 ms on Linux), which dominates sale-to-cloud latency on a fast link.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def published_ok(info: mqtt.MQTTMessageInfo) -> bool:
    """Whether paho accepted a publish (sent now or queued for the reconnect)."""
    return info.rc in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)
