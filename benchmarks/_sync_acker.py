"""A bare acking consumer for the sync benchmark: validates and ACKs batches, no database.

It ACKs the highest contiguous seq like the cloud does, so the drain against it shows what the
terminal side alone can do. It answers a terminal's connect-time Hello as a cloud that holds
nothing of it yet (the terminal publishes only after that answer), and a Hello starts that
terminal's count again: every drain of the benchmark replays the same seqs from a fresh copy.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import paho.mqtt.client as mqtt

from protocol import codec, topics
from protocol.envelope import Ack


def main(host: str, port: int, password: str) -> int:
    """Run until stdin closes."""
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
        batch = codec.decode_batch(bytes(msg.payload))
        seqs = held.setdefault(terminal_id, set())
        seqs.update(e.seq for e in batch.events)
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
    sys.exit(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
