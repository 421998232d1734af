"""Asking HQ: round trips of a coupon check and a receipt lookup, against a bare MQTT echo.

Method: a real Mosquitto on loopback and an ingest worker on a SQLite file answer a terminal
(a paho client with S001-T01's identity) that sends one request at a time and waits for its
answer on its reply topic: each sample is request out to answer in, including the worker's
transaction (coupon row locked, hold written, commit). The baseline, in the same run, is a
bare echo: a client with the ingest identity on the same shared subscription that sends
each request straight back, no decoding, no database. Figures in milliseconds.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from benchmarks._stats import percentile
from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings
from cloud.store import coupons
from protocol import remote
from protocol.topics import PREFIX, events_topic, reply_topic, request_topic
from tests.broker import Broker, MqttClient
from tests.cloud.factories import batch_payload, envelope, sale_body

TERMINAL, STORE = "S001-T01", "S001"


def _no_delay(client: MqttClient) -> MqttClient:
    # Like the till's and the cloud's own clients: a small message must not wait for the
    # peer's delayed ACK (40 ms on Linux), which would hide everything measured here.
    sock = client.paho.socket()
    if isinstance(sock, socket.socket):  # plain TCP here (paho's type also covers TLS/WS)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return client


def _answers(rid: bytes, m: Any) -> bool:
    return bool(m.topic.endswith("/reply") and rid in m.payload)


def _round_trips(client: MqttClient, make: Any, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        rid = uuid.uuid4().hex
        payload = make(rid)
        before = len(client.messages)
        start = time.perf_counter()
        client.publish(request_topic(STORE, TERMINAL), payload, qos=1)
        client.wait_for(partial(_answers, rid.encode()), timeout=30)
        samples.append((time.perf_counter() - start) * 1000)
        del client.messages[before:]
    return samples


def _request(kind: str, rid: str, **fields: Any) -> bytes:
    plain = {"kind": kind, "id": rid, "terminal_id": TERMINAL, "store_id": STORE, **fields}
    return remote.encode_request(msgspec.convert(plain, type=remote.Request))


def _echo(broker: Broker) -> MqttClient:
    echo = _no_delay(broker.client("ingest-2", client_id="bench-echo"))

    def bounce(_c: Any, _u: Any, msg: Any) -> None:
        echo.paho.publish(reply_topic(STORE, TERMINAL), bytes(msg.payload), qos=1)

    echo.paho.on_message = bounce
    echo.subscribe(f"$share/echo/{PREFIX}/+/+/req")
    return echo


def run(quick: bool) -> dict[str, float]:
    """The figures (see the module docstring)."""
    rounds = 60 if quick else 400
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(Path(tmp) / "broker")
        broker.start()
        settings = BrokerSettings(broker.host, broker.port, "ingest", broker.password("ingest"))
        worker = IngestWorker(f"sqlite:///{tmp}/cloud.db", settings, client_id="bench-req")
        worker.start()
        try:
            with worker.db.write():
                coupons.issue(
                    worker.db,
                    [{"code": "BENCH", "kind": "amount", "value": 500, "max_uses": 1_000_000}],
                    "bench",
                    dt.datetime.now(dt.UTC).replace(tzinfo=None),
                )
            till = _no_delay(broker.client(TERMINAL, client_id=TERMINAL))
            till.subscribe(reply_topic(STORE, TERMINAL))
            till.subscribe(f"{PREFIX}/{STORE}/{TERMINAL}/ack")
            sale = sale_body([("TV", 2, 300_000), ("RICE", 3, 17_970)])
            till.publish(
                events_topic(STORE, TERMINAL), batch_payload([envelope(TERMINAL, 1, sale)])
            )
            till.wait_for(lambda m: m.topic.endswith("/ack"), timeout=30)
            warm = 10
            check = _round_trips(
                till,
                lambda rid: _request("coupon_check", rid, code="BENCH", total_fen=10_000),
                rounds + warm,
            )[warm:]
            lookup = _round_trips(
                till,
                lambda rid: _request("receipt_lookup", rid, receipt_no=sale["receipt_no"]),
                rounds + warm,
            )[warm:]
            worker.stop()
            echo = _echo(broker)
            bare = _round_trips(till, lambda rid: json.dumps({"id": rid}).encode(), rounds + warm)[
                warm:
            ]
            echo.close()
            till.close()
        finally:
            if worker._db is not None and not worker._stopping.is_set():
                worker.stop()
            broker.close()
    base = percentile(bare, 50)
    return {
        "remote.coupon_check_p50_ms": percentile(check, 50),
        "remote.coupon_check_p99_ms": percentile(check, 99),
        "remote.receipt_lookup_p50_ms": percentile(lookup, 50),
        "remote.receipt_lookup_p99_ms": percentile(lookup, 99),
        "remote.echo_rtt_p50_ms": base,
        "remote.echo_rtt_p99_ms": percentile(bare, 99),
        "remote.coupon_check_vs_echo_p50_ratio": percentile(check, 50) / base,
    }
