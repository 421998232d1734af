"""Cloud ingest throughput: events/s into SQLite and PostgreSQL, vs a raw INSERT, 2 workers vs 1.

Method: the worker processes (``python -m cloud.ingest``) connect and subscribe, then are
frozen with SIGSTOP; every batch is published to the broker; the workers are thawed with
SIGCONT and the clock runs until every terminal has received the ACK for its last seq (so
each figure includes decode, the transaction with projections, the commit and the ACK).
The raw baseline inserts the same event rows into a copy of the events table with
psycopg2's execute_values, one transaction per batch of the same size, in the same run.

The workers start with the backlog already waiting (the catch-up case after an outage), so
they commit it in groups of up to 8 messages a transaction (cloud.store.apply.commit_group).
``ingest.vs_raw_insert_ratio_pg_one_per_txn`` is the same run with grouping off
(``--group-max 1``): one message per transaction, what a worker that keeps up does.

Each worker prepares in a child process (``--prepare process``, the service's default; see
cloud/ingest/preparer.py). ``ingest.vs_raw_insert_ratio_pg_prepare_thread`` is one worker
preparing in a thread beside its commit thread, as before the child existed.

The prepare side alone (decode, plausibility, projections, rows, COPY lines, rollup sums:
what the prepare process does per message) is timed in CPU µs per event over the same
messages, without broker or commit, against a bare msgspec.json.decode of the same payloads
in the same run.

Where the time goes (PostgreSQL, one worker, batches of ~250 sales, on the shared 2-core
development machine; per event, so the ratios hold better than the absolutes; the bare
insert takes ~50 µs an event, most of it PostgreSQL's):
- Prepare process, ~20 µs of CPU (it was ~40, then ~30): a valid message is parsed once and
  converted into typed envelopes (about 7 µs with the id checks), plausibility and projection
  from the typed bodies, the event rows (the stored body text is the body re-encoded with
  sorted keys) and their COPY lines, the rollup sums; then about 8 µs more to make the batch
  lean and pickle it. Measured whole, the child spends about 28 µs an event.
- Worker, about 32 µs of CPU (the commit thread 27 of them, unpickling ~9 of those): the SQL
  text of the additive upserts (a group's sku sales, totals and rollups once), the member
  upserts, coupons and returns, the member facts (once per group). In a thread beside it,
  preparing took about 1.6 times its own CPU and committing about 1.7 times (the two
  fought over one interpreter lock): 72 µs of CPU an event for the whole worker, against 32
  plus the child's 28 now.
- Waiting on PostgreSQL, ~23 µs in groups (committed in-process, without threads): the COPY
  straight into events (~10 µs; a batch above its till's max_seq needs no staging table),
  the upserts riding with the next read, the member facts' reads. A group takes one round
  trip per batch for its terminal's lock, its COPY, member aliases and upserts, coupon rules,
  and then once: the members' row locks, the store clocks, the figures and rollups, the
  member facts' two reads, the counter, the change log, COMMIT. The check for receipt
  numbers a restored till printed again takes no trip while each till's numbers count up
  (cloud.domain.receipt_numbers, about 1 µs of CPU a sale); looking every number up took
  a trip a message and about 7 µs of worker CPU an event, and vs_raw_insert_ratio_pg fell
  from 0.85-0.91 to 0.63-0.67.
- So on two cores the worker, its child, PostgreSQL and the broker together spend about
  90 µs of CPU an event: about 17,000-18,000 events/s is near what this machine holds, and
  two workers (four processes) gain nothing more here.
"""

from __future__ import annotations

import gc
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

from benchmarks import _raw_events
from cloud.ingest.preparer import GC_YOUNG_THRESHOLD
from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings
from cloud.store.db import open_cloud_db
from protocol.codec import decode_ack, encode_batch, pack_batches
from protocol.topics import ack_topic, events_topic
from provisioning.broker import ServiceCred, TerminalCred
from tests.broker import Broker, MqttClient
from tests.cloud.factories import envelope, sale_body
from tests.pg import PgUnavailable, fresh_database, pg_server

ROOT = Path(__file__).resolve().parents[1]
STORES = ("S001", "S002", "S003", "S004")
TERMINALS = tuple(f"{s}-T0{i}" for s in STORES for i in (1, 2))


def _workload(total_events: int) -> dict[str, list[bytes]]:
    """Sales spread over eight terminals, numbered and packed into batches the way terminals
    number and pack them."""
    per_terminal = total_events // len(TERMINALS)
    out: dict[str, list[bytes]] = {}
    for t in TERMINALS:
        envs = []
        for seq in range(1, per_terminal + 1):
            member = f"M{seq % 50}" if seq % 4 == 0 else None
            body = sale_body([(f"SKU{seq % 40}", 1 + seq % 3, 500 + seq % 700)],
                             member_id=member,
                             receipt_no=f"{t}-20261123-{seq:04d}")  # fmt: skip
            envs.append(envelope(t, seq, body))
        out[t] = [encode_batch(b) for b in pack_batches(t.split("-")[0], t, envs)]
    return out


def _start_worker(
    broker: Broker,
    db_url: str,
    client_id: str,
    share_group: str,
    group_max: int | None = None,
    prepare: str = "process",
) -> subprocess.Popen[str]:
    # The broker binds a session to its identity: each worker of each run has its own.
    broker.add_service(ServiceCred(client_id, f"pw-{client_id}"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloud.ingest", "--db", db_url,
         "--broker", f"{broker.host}:{broker.port}", "--username", client_id,
         "--password", broker.password(client_id), "--client-id", client_id,
         "--share-group", share_group, "--log-level", "WARNING",
         "--prepare", prepare,
         *(["--group-max", str(group_max)] if group_max is not None else [])],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    if "ready" not in proc.stdout.readline():
        proc.kill()
        raise RuntimeError(f"ingest worker {client_id} did not start")
    return proc


def _acked(client: MqttClient, terminal: str) -> int:
    topic = ack_topic(terminal.split("-")[0], terminal)
    return max((decode_ack(m.payload).acked_seq for m in client.received_on(topic)), default=0)


def _measure(broker: Broker, db_url: str, workers: int, work: dict[str, list[bytes]],
             tag: str, group_max: int | None = None, prepare: str = "process",
             ) -> float:  # fmt: skip
    """Events per second for ``workers`` processes draining the whole workload."""
    final = {t: _final_seq(batches) for t, batches in work.items()}
    # A share group per run: the previous run's stopped workers keep persistent sessions in
    # their group, and the broker would hand them their share of this run's messages.
    procs = [
        _start_worker(broker, db_url, f"ingest-{tag}-{i}", f"bench-{tag}", group_max, prepare)
        for i in range(workers)
    ]
    clients: dict[str, MqttClient] = {}
    try:
        for p in procs:
            os.kill(p.pid, signal.SIGSTOP)
        for t in TERMINALS:
            c = broker.client(t, client_id=f"{t}")
            c.subscribe(ack_topic(t.split("-")[0], t))
            clients[t] = c
        for i in range(max(len(b) for b in work.values())):
            for t, batches in work.items():
                if i < len(batches):
                    clients[t].publish(events_topic(t.split("-")[0], t), batches[i])
        start = time.perf_counter()
        for p in procs:
            os.kill(p.pid, signal.SIGCONT)
        deadline = start + 600
        while any(_acked(clients[t], t) < final[t] for t in TERMINALS):
            if time.perf_counter() > deadline:
                raise RuntimeError("ingest did not finish within 600 s")
            time.sleep(0.005)
        elapsed = time.perf_counter() - start
    finally:
        for p in procs:
            os.kill(p.pid, signal.SIGCONT)
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        for c in clients.values():
            c.close()
    return sum(final.values()) / elapsed


def _final_seq(batches: list[bytes]) -> int:
    return int(msgspec.json.decode(batches[-1])["events"][-1]["seq"])


def _raw_insert(db_url: str, work: dict[str, list[bytes]]) -> float:
    """The same rows through a bare execute_values, one transaction per batch."""
    return _raw_events.insert_pg(db_url, _raw_events.rows_of([p for ps in work.values()
                                                              for p in ps]))  # fmt: skip


def _prepare_cpu(db_url: str, work: dict[str, list[bytes]]) -> tuple[float, float]:
    """CPU µs per event of the worker's prepare side, and of a bare decode of the same payloads.

    The prepare side is what the worker's prepare thread does with a message before the
    commit: decode and validate, check plausibility, project, build the rows, their COPY
    lines and the rollup sums. No broker and no commit: the worker is built but never started.
    Collector settings are the worker process's own (cloud.ingest.__main__).
    """
    worker = IngestWorker(db_url, BrokerSettings(host="127.0.0.1", port=1), client_id="bench")
    worker._db = open_cloud_db(db_url)
    try:
        worker._preparer.db = worker._db
        worker.rules = worker._preparer.load()
        messages = [(events_topic(t.split("-")[0], t), p) for t, ps in work.items() for p in ps]
        events = sum(len(msgspec.json.decode(p)["events"]) for _, p in messages)
        threshold = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *threshold[1:])
        try:
            prepare, raw = [], []
            for _ in range(3):  # interleaved, best of three: the machine is shared
                start = time.process_time()
                for topic, payload in messages:
                    worker.prepare_events(topic, payload)
                prepare.append(time.process_time() - start)
                start = time.process_time()
                for _, payload in messages:
                    msgspec.json.decode(payload)
                raw.append(time.process_time() - start)
        finally:
            gc.set_threshold(*threshold)
            gc.unfreeze()
    finally:
        worker._db.close()
    return min(prepare) / events * 1e6, min(raw) / events * 1e6


def run(quick: bool) -> dict[str, float]:
    """Measure the figures named in the module docstring (median of rounds, interleaved)."""
    total = 5_000 if quick else 20_000
    rounds = 1 if quick else 3
    work = _workload(total)
    samples: dict[str, list[float]] = {}
    terminals = [TerminalCred(t, t.split("-")[0], f"pw-{t}") for t in TERMINALS]
    services = [ServiceCred("ingest", "pw-ingest"), ServiceCred("hq", "pw-hq"),
                ServiceCred("admin", "pw-admin")]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        broker = Broker(Path(tmp) / "broker", terminals=terminals, services=services)
        broker.start()
        try:
            with pg_server() as admin:
                # Interleaved rounds: on a shared machine, load drifts; each round sees all cases.
                with fresh_database(admin) as url:
                    prepared, decoded = _prepare_cpu(url, work)
                    samples["prepare_cpu"], samples["raw_decode_cpu"] = [prepared], [decoded]
                for r in range(rounds):
                    url = f"sqlite:///{tmp}/cloud{r}.db"
                    samples.setdefault("sqlite", []).append(
                        _measure(broker, url, 1, work, f"sqlite{r}")
                    )
                    with fresh_database(admin) as url:
                        samples.setdefault("pg1", []).append(
                            _measure(broker, url, 1, work, f"pg1-{r}")
                        )
                        samples.setdefault("raw", []).append(_raw_insert(url, work))
                    with fresh_database(admin) as url:  # diagnostic: preparing in a thread
                        samples.setdefault("pg1_thread", []).append(
                            _measure(broker, url, 1, work, f"pg1t-{r}", prepare="thread")
                        )
                    with fresh_database(admin) as url:  # diagnostic: grouping off
                        samples.setdefault("pg1_alone", []).append(
                            _measure(broker, url, 1, work, f"pg1a-{r}", group_max=1)
                        )
                    with fresh_database(admin) as url:
                        samples.setdefault("pg2", []).append(
                            _measure(broker, url, 2, work, f"pg2-{r}")
                        )
        except PgUnavailable as err:
            print(f"ingest benchmark: PostgreSQL figures skipped: {err}", file=sys.stderr)
        finally:
            broker.close()
    figures: dict[str, float] = {}
    if "sqlite" in samples:
        figures["ingest.events_per_s_sqlite"] = statistics.median(samples["sqlite"])
    if samples.get("prepare_cpu"):
        prepared, decoded = samples["prepare_cpu"][0], samples["raw_decode_cpu"][0]
        figures["ingest.prepare_cpu_us_per_event"] = prepared
        figures["ingest.raw_decode_cpu_us_per_event"] = decoded
        figures["ingest.prepare_vs_raw_decode_cpu_ratio"] = prepared / decoded
    if samples.get("pg2"):
        one = statistics.median(samples["pg1"])
        raw = statistics.median(samples["raw"])
        two = statistics.median(samples["pg2"])
        figures["ingest.events_per_s_pg"] = one
        figures["ingest.raw_insert_events_per_s_pg"] = raw
        figures["ingest.events_per_s_pg_2_workers"] = two
        figures["ingest.vs_raw_insert_ratio_pg"] = one / raw
        figures["ingest.scaleout_2_vs_1_ratio"] = two / one
        thread = statistics.median(samples["pg1_thread"])
        figures["ingest.events_per_s_pg_prepare_thread"] = thread
        figures["ingest.vs_raw_insert_ratio_pg_prepare_thread"] = thread / raw
        alone = statistics.median(samples["pg1_alone"])
        figures["ingest.events_per_s_pg_one_per_txn"] = alone
        figures["ingest.vs_raw_insert_ratio_pg_one_per_txn"] = alone / raw
    return figures
