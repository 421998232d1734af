"""A minimal stand-in for cloud ingest: keeps events by (terminal, seq) and ACKs contiguously.

Used only where a test needs to control the cloud's answers (never ACK, ACK late). It decodes
every batch with protocol.codec, so it also checks that the terminal speaks the contract.
"""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt

from protocol import codec, topics
from protocol.envelope import Ack, Envelope
from tests.broker import Broker


class FakeCloud:
    """Subscribes to every terminal's events as the ingest service user."""

    def __init__(
        self, broker: Broker, *, ack: bool = True, drop_batches: int = 0, hello: bool = True
    ) -> None:
        self.ack = ack
        self.hello = hello  # answer terminals' connect-time Hello (even when not ACKing)
        self.hellos = 0
        self.drop_batches = drop_batches  # lose this many batches after the first one
        self.events: dict[tuple[str, int], Envelope] = {}
        self.deliveries = 0  # every event received, duplicates included
        self.batches = 0
        self.acks_sent: list[tuple[str, int]] = []
        self.bad_batches: list[str] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id="fake-ingest", protocol=mqtt.MQTTv5
        )
        self._client.username_pw_set("ingest", broker.password("ingest"))
        self._client.on_message = self._on_message
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._connected = threading.Event()
        self._client.connect(broker.host, broker.port, keepalive=30)
        self._client.loop_start()
        if not self._connected.wait(10):
            raise TimeoutError("fake cloud could not connect")

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe([(topics.ALL_EVENTS, 1), (topics.ALL_HELLO, 1)])

    def _on_subscribe(self, *_: Any) -> None:
        self._connected.set()  # SUBACK: from now on every event published reaches us

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/hello"):
            self._on_hello(client, msg)
            return
        try:
            store_id, terminal_id = topics.parse_events_topic(msg.topic)
            batch = codec.decode_batch(bytes(msg.payload))
            codec.check_origin(batch, store_id, terminal_id)
            for env in batch.events:
                codec.decode_event_body(env)
        except Exception as err:
            with self._lock:
                self.bad_batches.append(str(err))
            return
        with self._lock:
            self.batches += 1
            if 1 < self.batches <= 1 + self.drop_batches:
                return  # lost on the way into the cloud's database: no trace, no ACK
            for env in batch.events:
                self.deliveries += 1
                self.events.setdefault((terminal_id, env.seq), env)
            high = self.high_water(terminal_id)
        if self.ack:
            ack = Ack(terminal_id=terminal_id, acked_seq=high)
            client.publish(topics.ack_topic(store_id, terminal_id), codec.encode_ack(ack), qos=1)
            with self._lock:
                self.acks_sent.append((terminal_id, high))

    def _on_hello(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        store_id, terminal_id = topics.parse_hello_topic(msg.topic)
        hello = codec.decode_hello(bytes(msg.payload))
        with self._lock:
            self.hellos += 1
            high = self.high_water(terminal_id)
            held = self.events.get((terminal_id, high))
            top = max((seq for t, seq in self.events if t == terminal_id), default=0)
        if not self.ack:
            high, held, top = 0, None, 0  # a cloud that never confirms storage says so here too
        if self.hello:
            ack = Ack(terminal_id=terminal_id, acked_seq=high, hello=hello.nonce, max_seq=top,
                      acked_event_id=held.id if held else "")  # fmt: skip
            client.publish(topics.ack_topic(store_id, terminal_id), codec.encode_ack(ack), qos=1)

    def high_water(self, terminal_id: str) -> int:
        """Highest seq n such that 1..n are all held for this terminal."""
        n = 0
        while (terminal_id, n + 1) in self.events:
            n += 1
        return n

    def count(self, terminal_id: str) -> int:
        """Distinct events held for a terminal."""
        with self._lock:
            return sum(1 for t, _ in self.events if t == terminal_id)

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()
