"""A bare acking consumer for the sync benchmark: validates and ACKs batches, no database.

It ACKs the highest contiguous seq like the cloud does, so the drain against it shows what the
terminal side alone can do. It answers a terminal's connect-time Hello as a cloud that holds
nothing of it yet (the terminal publishes only after that answer), and a Hello starts that
terminal's count again: every drain of the benchmark replays the same seqs from a fresh copy.

By default it decodes each batch with protocol.codec.decode_batch (every envelope checked,
every body built as a dict). With "envelopes" as a fourth argument it checks every envelope
field against the same schema but leaves each body as raw JSON, at about half the CPU: then
the terminal, not the acker, is what the drain measures.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import msgspec
import paho.mqtt.client as mqtt

from protocol import codec, topics
from protocol.envelope import PROTOCOL_VERSION, Ack, Envelope, Id


class _RawBodyEnvelope(Envelope, kw_only=True, forbid_unknown_fields=True, frozen=True):
    body: msgspec.Raw  # type: ignore[assignment]


class _RawBodyBatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    v: int
    terminal_id: Id
    store_id: Id
    events: list[_RawBodyEnvelope]


def _seqs_checking_envelopes() -> Callable[[bytes], list[int]]:
    decoder = msgspec.json.Decoder(_RawBodyBatch)

    def seqs(payload: bytes) -> list[int]:
        batch = decoder.decode(payload)
        ours = (PROTOCOL_VERSION, batch.terminal_id, batch.store_id)
        if batch.v != PROTOCOL_VERSION or not batch.events:
            raise ValueError("not a batch of this protocol version, or an empty one")
        if any((e.v, e.terminal_id, e.store_id) != ours for e in batch.events):
            raise ValueError("an event of another version, terminal or store in the batch")
        return [e.seq for e in batch.events]

    return seqs


def _seqs_decoding_all(payload: bytes) -> list[int]:
    return [e.seq for e in codec.decode_batch(payload).events]


def main(host: str, port: int, password: str, mode: str = "full") -> int:
    """Run until stdin closes."""
    seqs_of = _seqs_checking_envelopes() if mode == "envelopes" else _seqs_decoding_all
    held: dict[str, set[int]] = {}
    marks: dict[str, int] = {}
    ready = threading.Event()

    def on_connect(c: mqtt.Client, *_: Any) -> None:
        c.subscribe([(topics.ALL_EVENTS, 1), (topics.ALL_HELLO, 1)])

    def on_hello(c: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        store_id, terminal_id = topics.parse_hello_topic(msg.topic)
        hello = codec.decode_hello(bytes(msg.payload))
        held[terminal_id], marks[terminal_id] = set(), 0
        ack = codec.encode_ack(Ack(terminal_id=terminal_id, acked_seq=0, hello=hello.nonce))
        c.publish(topics.ack_topic(store_id, terminal_id), ack, qos=1)

    def on_message(c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/hello"):
            on_hello(c, msg)
            return
        store_id, terminal_id = topics.parse_events_topic(msg.topic)
        seqs = held.setdefault(terminal_id, set())
        seqs.update(seqs_of(bytes(msg.payload)))
        mark = marks.get(terminal_id, 0)
        while mark + 1 in seqs:
            mark += 1
            seqs.discard(mark)
        marks[terminal_id] = mark
        ack = codec.encode_ack(Ack(terminal_id=terminal_id, acked_seq=mark))
        c.publish(topics.ack_topic(store_id, terminal_id), ack, qos=1)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-acker",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.username_pw_set("ingest", password)
    client.on_connect = on_connect
    client.on_subscribe = lambda *_a: ready.set()
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    if not ready.wait(10):
        return 1
    print("ready", flush=True)
    sys.stdin.read()
    client.disconnect()
    client.loop_stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], *sys.argv[4:5]))
