"""Publishes HQ downstream changes to the broker as the hq service user (QoS 1, not retained)."""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from cloud.domain.errors import Explained
from cloud.mqtt import BrokerSettings, connect_properties, make_client

log = logging.getLogger(__name__)


class PublishError(Explained):
    """The broker did not take a message (not connected, or no PUBACK in time); the page says
    why in its reader's language."""


class Publisher(Protocol):
    """What the API needs from MQTT: publish one message or raise PublishError."""

    def publish(self, topic: str, payload: bytes) -> None:
        """Hand one message to the broker, QoS 1, not retained."""


class MqttPublisher:
    """A long-lived paho connection that reconnects by itself."""

    def __init__(
        self, settings: BrokerSettings, client_id: str = "hq-api", timeout_s: float = 5.0
    ) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._connected = threading.Event()
        self._client = make_client(settings, client_id)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused the HQ publisher: %s", rc)
            return
        self._connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self._connected.clear()

    def start(self, wait_s: float = 0.0) -> bool:
        """Connect in the background; optionally wait up to ``wait_s`` for the connection."""
        self._client.connect_async(
            self.settings.host, self.settings.port, keepalive=self.settings.keepalive_s,
            clean_start=True, properties=connect_properties(0),
        )  # fmt: skip
        self._client.loop_start()
        return self._connected.wait(wait_s) if wait_s else self._connected.is_set()

    @property
    def connected(self) -> bool:
        """True while the broker connection is up."""
        return self._connected.is_set()

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish and wait for the broker's PUBACK."""
        if not self._connected.is_set():
            raise PublishError(
                "not connected to the broker at %(host)s:%(port)s",
                host=self.settings.host, port=self.settings.port,
            )  # fmt: skip
        info = self._client.publish(topic, payload, qos=1, retain=False)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise PublishError("publish to %(topic)s failed: %(reason)s", topic=topic,
                               reason=mqtt.error_string(info.rc))  # fmt: skip
        try:
            info.wait_for_publish(self.timeout_s)
        except (RuntimeError, ValueError) as err:
            raise PublishError("publish to %(topic)s failed: %(reason)s", topic=topic,
                               reason=err) from err  # fmt: skip
        if not info.is_published():
            raise PublishError("no PUBACK for %(topic)s within %(seconds)ss", topic=topic,
                               seconds=self.timeout_s)  # fmt: skip

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self._client.disconnect()
        self._client.loop_stop()
