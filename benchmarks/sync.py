"""Terminal sync figures: backlog drain rate against bare paho on the same broker, and e2e latency.

Setup, all on loopback: one Mosquitto (the test fixture's config), the real cloud ingest worker
as its own process on a SQLite file, and the terminal's SyncService in this process on a real
store file.

- sync.drain_events_per_s: a backlog of sales recorded offline is drained and ACKed; time from
  SyncService start to the ACK naming the last seq.
- sync.raw_broker_events_per_s: the very batch payloads the publisher produced, published with
  bare paho at QoS 1 and received by a bare QoS 1 subscriber (no store, no cloud), same broker;
  repeated to at least 100 messages, median of three runs.
- sync.drain_vs_broker_ratio: the first divided by the second; a diagnostic only (the broker
  moves whole payloads and does no work per event, which no storing ingest can approach).
- sync.raw_insert_events_per_s: the same events (the very batches the publisher sent) inserted
  bare into the same cloud database file, right after the drain: one executemany and one
  commit per message into a table with the events table's key and indexes
  (benchmarks/_raw_events.py). No decoding, checks, projections, broker or terminal.
- sync.drain_vs_raw_insert_ratio: the whole drain (terminal outbox -> broker -> ingest ->
  ACK -> outbox delete) divided by that bare insert: what the drain costs over storing alone.
- sync.drain_events_per_s_pg, sync.raw_insert_events_per_s_pg and
  sync.drain_vs_raw_insert_ratio_pg: the same drain (a fresh copy of the backlog) into a
  cloud on PostgreSQL, the chain-scale database, against a bare execute_values of the same
  rows into that database (one transaction per message). SQLite's bare insert runs in the
  benchmark's own process with no server and no round trip, about 12 µs an event, so the
  SQLite ratio measures Python's cost per event more than the drain's overhead.
- sync.raw_broker_single_event_msgs_per_s: context for that ratio: the same events, one per
  QoS 1 message, bare paho, same broker, same run.
- sync.drain_events_per_s_bare_acker (and its ratio): the same drain against a consumer that
  validates and ACKs each batch without a database (benchmarks/_sync_acker.py), to separate the
  terminal's own cost from the cloud's. sync.drain_events_per_s_envelope_acker: the same
  against an acker that checks every envelope but leaves the bodies as raw JSON (building every
  body as a dict costs the bare acker more CPU than the whole terminal side spends, so on two
  shared cores the bare-acker figure is largely the acker's).
- sync.publisher_only_events_per_s: the publisher reading, packing and (on a copy) deleting the
  backlog with no network at all: the terminal's ceiling (opening and closing the copy
  included; the benchmark's own decoding of the batches afterwards is not).
- sync.tls_vs_plain_drain_ratio: the same backlog drained against the bare acker by a terminal
  logging in with its client certificate over mutual TLS (the production listener), divided
  by the same drain over plain TCP with a password, same broker, same run; rounds alternate
  (median of each). sync.drain_events_per_s_tls and _plain are the two rates.
- sync.e2e_latency_p50_ms / p99_ms: a sale every 50 ms; from the terminal's commit to the
  arrival of the cloud's ACK for it. The ACK is published only after the cloud's transaction
  commits, so this is the commit-to-cloud-commit latency plus one broker hop back.

Where the drain's time goes (medians of three full runs on the shared 2-core machine at a
load average of 5-8, 10,000 sales, 50 batches of 200; the terminal's store opened as the till's
sync thread opens it, SYNC_DB_OPTIONS). The publisher alone reads, packs and deletes about
165,000 events/s: the outbox hands it every event as its finished wire envelope, which SQLite
builds around the body stored at record time (byte for byte what protocol.codec encodes), so
packing is joining bytes; alone it reaches 220,000-300,000 events/s, and the rest is the WAL
checkpoint of the deletions when the copy is closed. Against the bare acker the whole terminal
side, broker included, drains about 42,000 events/s (40,000-72,000 over six runs), and about
53,000 against the envelope acker: one bare-acker drain costs the terminal process about 60 ms
of CPU and the acker about 70 ms (most of it building every body as a dict), so on two shared
cores these figures are the machine's share, not the terminal's ceiling. With the real ingest
worker (decode, projections, one SQLite transaction per batch, then the ACK) about 6,600
events/s (6,400-10,300) at first, 12,700-14,800 once ingest decoded in one pass, and
18,000-19,000 now that it prepares in a child process and commits a backlog in groups (the
ratio to the bare SQLite insert 0.22-0.25; into PostgreSQL about 14,300, 0.68 of its bare
insert). The ingest worker spends most of the CPU, far more than the terminal's 70 ms, so
the drain is the ingest worker's own rate, and the ratio to the bare insert moves only with
it; the terminal's fixed part (open, connect, subscribe, Hello and its answer) is about 15 ms
of each drain. The bare
broker moves the same 200-event payloads at about 480,000 events/s (2,400 messages/s of
180 KiB that nobody parses). One event per message, bare paho manages about 7,200 messages/s,
below the drain's rate: batching is what lets the drain beat an unbatched publisher. Batches
of 500 (the byte limit packs about 280) measured the same as 200 against the ingest worker
(13,000-14,000 events/s each), so the terminal keeps 200.

Before the envelopes came from SQLite, three full runs of the old tree interleaved with three
of this one (medians, old -> new): publisher alone 43,200 -> 215,000 events/s, bare acker
34,500 -> 49,600, plain-TCP rounds against it 42,900 -> 67,600, real ingest 9,900 -> 11,900,
ratio to the bare insert 0.22 -> 0.25 (bare insert about 48,000 in both). Part of the
publisher's jump is the measurement: the old benchmark opened the store with the quick
integrity check and durable commits (one fsync per ACK), unlike the till's sync thread, and
timed its own decoding of every batch. Measured the new way, the old publisher managed about
155,000-175,000 events/s against 220,000-300,000 now, and the old terminal drained 34,000-36,000
events/s against the bare acker against 39,000-47,000 now (interleaved runs).

Mutual TLS against plain TCP (one full run, 10,000 events, bare acker, three alternating
rounds each): 57,900 against 49,600 events/s, a ratio of 1.17, i.e. within the shared
machine's run-to-run noise. The handshake (about 9 ms, provisioning.tls_connect_s) is paid
once per connection, and encrypting 180 KiB batches costs little next to packing them. A
quick run's 2,000-event backlog makes the handshake a visible share of the drain.
"""

from __future__ import annotations

import datetime as dt
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from benchmarks import _raw_events
from benchmarks._stats import percentile
from device.store.db import open_database
from device.store.journal import JournalWriter
from device.sync.client import BrokerSettings
from device.sync.publisher import OutboxPublisher
from device.sync.service import SyncService, SyncSettings
from device.sync.storage import SYNC_DB_OPTIONS, SyncStorage
from protocol import codec, topics
from protocol.envelope import Batch
from tests.broker import Broker, running_broker
from tests.device.sync.builders import price_for, sale
from tests.device.sync.harness import SHANGHAI, record_sales
from tests.pg import PgUnavailable, fresh_database, pg_server

ROOT = Path(__file__).resolve().parents[1]
TERMINAL = "S001-T01"
STORE = "S001"
# ingest-2 may publish and hq may read this (pos/v1/+/+/down/#), and nothing else listens.
RAW_TOPIC = "pos/v1/BENCH/RAW/down/catalogue"
#: A second cloud identity for the bench's own clients: the broker binds a session to its
#: identity, so they must not share one with the ingest worker or the terminal.
WATCHER = "ingest-2"


def _start_acker(broker: Broker, mode: str = "full") -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks._sync_acker", broker.host, str(broker.port),
         broker.password("ingest"), mode],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    if "ready" not in proc.stdout.readline():
        proc.kill()
        raise RuntimeError("bare acker did not start")
    return proc


def _start_ingest(broker: Broker, db_url: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloud.ingest", "--db", db_url,
         "--broker", f"{broker.host}:{broker.port}", "--username", "ingest",
         "--password", broker.password("ingest"), "--client-id", "ingest-bench",
         "--log-level", "WARNING"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise RuntimeError(f"ingest worker did not start: {line!r}")
    return proc


def _service(broker: Broker, db: Path, batch_size: int = 200, tls: bool = False) -> SyncService:
    login: dict[str, Any] = {"port": broker.port, "password": broker.password(TERMINAL)}
    if tls:
        assert broker.certs is not None and broker.cert_port is not None
        pair = broker.certs.clients[TERMINAL]
        login = {"port": broker.cert_port, "ca_file": str(broker.certs.ca.cert),
                 "cert_file": str(pair.cert), "key_file": str(pair.key)}  # fmt: skip
    settings = SyncSettings(
        batch_size=batch_size,
        broker=BrokerSettings(host=broker.host, store_id=STORE, terminal_id=TERMINAL, **login),
    )
    return SyncService(
        settings,
        open_store=lambda: SyncStorage.open(db, SYNC_DB_OPTIONS),  # as the till opens it
        sink_factory=lambda s: s,
        close_store=lambda s: s.close(),
    )


def _publish_all(db: Path) -> list[bytes]:
    """The batches the publisher sends for this outbox, in order (what publisher_only times)."""
    storage = SyncStorage.open(db, SYNC_DB_OPTIONS)
    out: list[bytes] = []

    def capture(_topic: str, payload: bytes) -> bool:
        out.append(payload)
        return True

    try:
        pub = OutboxPublisher(storage, capture, STORE, TERMINAL)
        pub.on_connected(0.0)
        while pub.tick(0.0):
            # Acknowledge locally on a throwaway copy so the next window is read.
            pub.on_ack(pub.stats().sent_seq, 0.0)
    finally:
        storage.close()
    return out


def _payloads(payloads: list[bytes]) -> list[tuple[bytes, int]]:
    """Each batch with its event count, read back by the cloud's own decoder."""
    return [(p, len(codec.decode_batch(p).events)) for p in payloads]


def _raw_rate(broker: Broker, payloads: list[tuple[bytes, int]]) -> float:
    """Events per second through the broker with bare paho QoS 1, publish to receive."""
    total = sum(n for _, n in payloads)
    done = threading.Event()
    got = [0]
    sub_ready = threading.Event()

    def on_message(_c: Any, _u: Any, _m: mqtt.MQTTMessage) -> None:
        got[0] += 1
        if got[0] == len(payloads):
            done.set()

    def client(name: str, identity: str) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
        c.username_pw_set(identity, broker.password(identity))
        return c

    sub = client("bench-raw-sub", "hq")
    sub.on_message = on_message
    sub.on_subscribe = lambda *_a: sub_ready.set()
    sub.connect(broker.host, broker.port)
    sub.loop_start()
    sub.subscribe(RAW_TOPIC, qos=1)
    pub = client("bench-raw-pub", WATCHER)
    pub.connect(broker.host, broker.port)
    pub.loop_start()
    if not sub_ready.wait(10):
        raise RuntimeError("raw subscriber not subscribed")
    start = time.perf_counter()
    for payload, _ in payloads:
        pub.publish(RAW_TOPIC, payload, qos=1)
    if not done.wait(120):
        raise RuntimeError(f"raw run received {got[0]} of {len(payloads)} messages")
    elapsed = time.perf_counter() - start
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return total / elapsed


def _single_event_payloads(payloads: list[tuple[bytes, int]]) -> list[tuple[bytes, int]]:
    """The same events, one per message (what an unbatched publisher would send)."""
    out = []
    for payload, _ in payloads:
        batch = codec.decode_batch(payload)
        for env in batch.events:
            one = Batch(terminal_id=batch.terminal_id, store_id=batch.store_id, events=[env])
            out.append((codec.encode_batch(one), 1))
    return out


def _fresh_session(broker: Broker) -> None:
    """Let the consumer's last ACKs land, then drop the terminal's broker session.

    Every drain replays the same seqs from a copy of one journal; an ACK the previous run's
    consumer sent late would sit in the terminal's persistent session and empty the next
    copy's outbox without a single batch sent.
    """
    watcher = broker.client(WATCHER)
    watcher.subscribe(topics.ack_topic(STORE, TERMINAL))
    seen, deadline = -1, time.monotonic() + 10
    while len(watcher.messages) != seen and time.monotonic() < deadline:
        seen = len(watcher.messages)
        time.sleep(0.5)  # quiet for half a second: the consumer has finished
    watcher.close()
    broker.client(TERMINAL, clean_start=True).close()  # clean start discards the session


def _drain_rate(
    broker: Broker, db: Path, backlog: int, batch_size: int = 200, tls: bool = False
) -> float:
    _fresh_session(broker)
    svc = _service(broker, db, batch_size, tls)
    start = time.perf_counter()
    svc.start()
    try:
        if not svc.wait(lambda s: s.acked_seq >= backlog, 300):
            raise RuntimeError(f"drain stalled: {svc.stats()}")
        elapsed = time.perf_counter() - start
    finally:
        svc.stop()
    return backlog / elapsed


def _drain_pg(
    broker: Broker, db: Path, backlog: int, raw_rows: list[list[tuple[Any, ...]]]
) -> dict[str, float]:
    """The same drain into a cloud on PostgreSQL, against a bare insert into that database."""
    try:
        with pg_server() as admin, fresh_database(admin) as url:
            ingest = _start_ingest(broker, url)
            try:
                drain = _drain_rate(broker, db, backlog)
            finally:
                ingest.terminate()
                ingest.wait(10)
            raw_insert = _raw_events.insert_pg(url, raw_rows)
    except PgUnavailable as err:
        print(f"sync benchmark: PostgreSQL figures skipped: {err}", file=sys.stderr)
        return {}
    return {
        "sync.drain_events_per_s_pg": round(drain, 1),
        "sync.raw_insert_events_per_s_pg": round(raw_insert, 1),
        "sync.drain_vs_raw_insert_ratio_pg": round(drain / raw_insert, 3),
    }


def _latencies(broker: Broker, db: Path, sales: int, first_seq: int) -> list[float]:
    """Milliseconds from each sale's commit to the ACK covering it, one sale per 50 ms."""
    acks: list[tuple[float, int]] = []
    lock = threading.Lock()

    def on_message(_c: Any, _u: Any, m: mqtt.MQTTMessage) -> None:
        seq = codec.decode_ack(bytes(m.payload)).acked_seq
        with lock:
            acks.append((time.perf_counter(), seq))

    watcher = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="bench-ack-watch", protocol=mqtt.MQTTv5
    )
    watcher.username_pw_set(WATCHER, broker.password(WATCHER))
    watcher.on_message = on_message
    watcher.connect(broker.host, broker.port)
    watcher.loop_start()
    watcher.subscribe(topics.ack_topic(STORE, TERMINAL), qos=1)
    svc = _service(broker, db)
    svc.start()
    svc.wait(lambda s: s.connected, 10)
    time.sleep(0.3)
    store = open_database(db)
    writer = JournalWriter(store, TERMINAL, SHANGHAI)
    committed: dict[int, float] = {}
    try:
        next_at = time.perf_counter()
        for n in range(sales):
            next_at += 0.05
            record = sale(100_000 + n, unit_price_fen=price_for(n))
            seq = writer.record_sale(record, dt.datetime.now(dt.UTC)).seq
            committed[seq] = time.perf_counter()
            svc.wake()  # what the runtime does after each commit
            time.sleep(max(0.0, next_at - time.perf_counter()))
        last = first_seq + sales - 1
        if not svc.wait(lambda s: s.acked_seq >= last, 30):
            raise RuntimeError(f"latency run not acknowledged: {svc.stats()}")
        time.sleep(0.2)
    finally:
        store.close()
        svc.stop()
        watcher.disconnect()
        watcher.loop_stop()
    with lock:
        ordered = sorted(acks)
    result = []
    for seq, at in committed.items():
        arrival = next(t for t, acked in ordered if acked >= seq and t >= at)
        result.append((arrival - at) * 1000)
    return result


def run(quick: bool) -> dict[str, float]:
    """Measure drain rate, the bare-broker rate on the same payloads, and e2e latency."""
    backlog = 2_000 if quick else 10_000
    sales = 60 if quick else 200
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    try:
        db = work / "terminal.db"
        record_sales(db, backlog, create=True)
        rounds = 1 if quick else 3
        transports = [f"{kind}{r}.db" for r in range(rounds) for kind in ("plain", "tls")]
        for name in ("capture.db", "bare.db", "light.db", "pg.db", *transports):
            shutil.copyfile(db, work / name)
        started = time.perf_counter()
        published = _publish_all(work / "capture.db")
        publisher_only = backlog / (time.perf_counter() - started)
        payloads = _payloads(published)
        with running_broker(work / "broker", tls=True) as broker:
            acker = _start_acker(broker)
            rates: dict[str, list[float]] = {"plain": [], "tls": []}
            try:
                bare = _drain_rate(broker, work / "bare.db", backlog)
                for name in transports:  # alternating, so drifting load hits both alike
                    kind = name.rstrip("0123456789.db")
                    rates[kind].append(_drain_rate(broker, work / name, backlog, tls=kind == "tls"))
            finally:
                acker.communicate("", timeout=10)
            acker = _start_acker(broker, "envelopes")
            try:
                light = _drain_rate(broker, work / "light.db", backlog)
            finally:
                acker.communicate("", timeout=10)
            ingest = _start_ingest(broker, f"sqlite:///{work}/cloud.db")
            try:
                drain = _drain_rate(broker, db, backlog)
                raw_rows = _raw_events.rows_of([p for p, _ in payloads])
                raw_insert = _raw_events.insert_sqlite(str(work / "cloud.db"), raw_rows)
                # Enough messages for a steady figure, median of three runs.
                reps = max(1, -(-100 // len(payloads)))
                raw = statistics.median(_raw_rate(broker, payloads * reps) for _ in range(3))
                singles = _raw_rate(broker, _single_event_payloads(payloads))
                lat = _latencies(broker, db, sales, backlog + 1)
            finally:
                ingest.terminate()
                ingest.wait(10)
            pg = _drain_pg(broker, work / "pg.db", backlog, raw_rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    tls_rate, plain_rate = statistics.median(rates["tls"]), statistics.median(rates["plain"])
    return {
        "sync.drain_events_per_s": round(drain, 1),
        "sync.raw_broker_events_per_s": round(raw, 1),
        "sync.drain_vs_broker_ratio": round(drain / raw, 3),
        "sync.raw_insert_events_per_s": round(raw_insert, 1),
        "sync.drain_vs_raw_insert_ratio": round(drain / raw_insert, 3),
        "sync.raw_broker_single_event_msgs_per_s": round(singles, 1),
        "sync.drain_events_per_s_bare_acker": round(bare, 1),
        "sync.drain_events_per_s_envelope_acker": round(light, 1),
        "sync.publisher_only_events_per_s": round(publisher_only, 1),
        "sync.bare_acker_vs_broker_ratio": round(bare / raw, 3),
        "sync.drain_events_per_s_tls": round(tls_rate, 1),
        "sync.drain_events_per_s_plain": round(plain_rate, 1),
        "sync.tls_vs_plain_drain_ratio": round(tls_rate / plain_rate, 3),
        "sync.e2e_latency_p50_ms": round(percentile(lat, 50), 2),
        "sync.e2e_latency_p99_ms": round(percentile(lat, 99), 2),
        **pg,
        "sync.backlog_events": float(backlog),
        "sync.batches_per_backlog": float(len(payloads)),
    }


if __name__ == "__main__":
    print(run("--quick" in sys.argv))
