"""Test-side MQTT 5 client: waits for CONNACK, SUBACK and PUBACK and records what arrives."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from provisioning.certs import CertPair


class ConnectRefused(RuntimeError):
    """The broker answered CONNECT with a failure reason code."""

    def __init__(self, reason: ReasonCode | str) -> None:
        super().__init__(f"connection refused: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Received:
    """One message as a client received it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


class MqttClient:
    """A thin paho wrapper that waits for CONNACK/SUBACK/PUBACK and records what arrives."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None,
        password: str | None,
        client_id: str = "",
        ca_file: Path | None = None,
        client_cert: CertPair | None = None,
        will: tuple[str, bytes, int, bool] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._connack: ReasonCode | None = None
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._pubacks: dict[int, ReasonCode] = {}
        self._disconnected = threading.Event()
        self.paho = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.paho.username_pw_set(username, password)
        if ca_file is not None:
            self.paho.tls_set(
                ca_certs=str(ca_file),
                certfile=str(client_cert.cert) if client_cert else None,
                keyfile=str(client_cert.key) if client_cert else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if will is not None:
            self.paho.will_set(will[0], will[1], qos=will[2], retain=will[3])
        self.paho.on_connect = self._on_connect
        self.paho.on_connect_fail = self._on_connect_fail
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_publish = self._on_publish
        self.paho.on_message = self._on_message

    # paho callbacks run on its network thread; everything shared goes through _cond.
    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._connack = rc
            self._cond.notify_all()

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        with self._cond:
            self._connack = ReasonCode(PacketTypes.CONNACK, "Unspecified error")
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            if self._connack is None:
                self._connack = rc
            self._disconnected.set()
            self._cond.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        with self._cond:
            self._subacks[mid] = list(rcs)
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._pubacks[mid] = rc
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), msg.qos, msg.retain))
            self._cond.notify_all()

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(ready, timeout):
                raise TimeoutError(f"no {what} within {timeout}s")

    def connect(
        self, *, clean_start: bool = True, session_expiry_s: int = 0, timeout: float = 30.0
    ) -> ReasonCode:
        """Connect and wait for CONNACK; raise ConnectRefused on a failure code."""
        props = Properties(PacketTypes.CONNECT)
        if session_expiry_s:
            props.SessionExpiryInterval = session_expiry_s
        with self._cond:
            self._connack = None
        self._disconnected.clear()
        try:
            self.paho.connect(
                self.host, self.port, keepalive=30, clean_start=clean_start, properties=props
            )
        except (OSError, ssl.SSLError) as err:
            raise ConnectRefused(f"{type(err).__name__}: {err}") from err
        self.paho.loop_start()
        try:
            self._wait(lambda: self._connack is not None, timeout, "CONNACK")
        except TimeoutError:
            self.close()
            raise
        rc = self._connack
        assert rc is not None
        if rc.is_failure:
            self.close()
            raise ConnectRefused(rc)
        return rc

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 30.0) -> ReasonCode:
        """Subscribe and return the SUBACK reason code (failure codes are returned, not raised)."""
        result, mid = self.paho.subscribe(topic, qos)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"subscribe failed locally: {mqtt.error_string(result)}")
        self._wait(lambda: mid in self._subacks, timeout, f"SUBACK for {topic}")
        return self._subacks[mid][0]

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, timeout: float = 30.0
    ) -> ReasonCode | None:
        """Publish; for QoS 1/2 wait for the broker's PUBACK and return its reason code."""
        info = self.paho.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return None
        self._wait(lambda: info.mid in self._pubacks, timeout, f"PUBACK for {topic}")
        return self._pubacks[info.mid]

    def wait_for(
        self, predicate: Callable[[Received], bool], timeout: float = 30.0, count: int = 1
    ) -> list[Received]:
        """Wait until `count` received messages satisfy predicate; return them."""
        self._wait(
            lambda: sum(1 for m in self.messages if predicate(m)) >= count,
            timeout,
            f"{count} matching message(s)",
        )
        with self._cond:
            return [m for m in self.messages if predicate(m)]

    def received_on(self, topic: str) -> list[Received]:
        """Messages received so far on exactly this topic."""
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    @property
    def dropped(self) -> bool:
        """Whether the broker or network has dropped this client since it last connected."""
        return self._disconnected.is_set()

    def wait_disconnected(self, timeout: float = 30.0) -> None:
        """Wait until the broker or network dropped this client."""
        if not self._disconnected.wait(timeout):
            raise TimeoutError(f"still connected after {timeout}s")

    def drop_socket(self) -> None:
        """Cut the TCP connection without DISCONNECT, as a crash or a pulled cable would."""
        sock = self.paho.socket()
        self.paho.loop_stop()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        """Disconnect cleanly (no will) and stop the network thread."""
        with contextlib.suppress(Exception):
            self.paho.disconnect()
        self.paho.loop_stop()
