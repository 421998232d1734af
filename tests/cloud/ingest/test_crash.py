"""kill -9 the ingest worker process mid-stream; after restart every total is exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloud.store.db import open_cloud_db
from protocol.codec import decode_ack
from protocol.topics import ack_topic, events_topic
from tests.broker import Broker, MqttClient
from tests.cloud.factories import batch_payload
from tests.cloud.ingest.checks import assert_exact
from tests.cloud.ingest.workload import TERMINALS, build

ROOT = Path(__file__).resolve().parents[3]


def _start_worker(broker: Broker, db_url: str, client_id: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloud.ingest", "--db", db_url,
         "--broker", f"{broker.host}:{broker.port}", "--username", "ingest",
         "--password", broker.password("ingest"), "--client-id", client_id,
         "--log-level", "WARNING"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        proc.kill()
        raise AssertionError(f"worker did not start: {line!r} {proc.stderr.read()!r}")  # type: ignore[union-attr]
    return proc


def _highest_ack(client: MqttClient, terminal: str) -> int:
    topic = ack_topic(terminal.split("-")[0], terminal)
    return max((decode_ack(m.payload).acked_seq for m in client.received_on(topic)), default=0)


def _wait_acked(clients: dict[str, MqttClient], final: dict[str, int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(_highest_ack(clients[t], t) < final[t] for t in clients):
        if time.monotonic() > deadline:
            got = {t: _highest_ack(clients[t], t) for t in clients}
            raise AssertionError(f"not all acknowledged: {got} of {final}")
        time.sleep(0.1)


@pytest.mark.slow
def test_worker_killed_mid_batch_loses_and_duplicates_nothing(broker: Broker, db_url: str) -> None:
    workload = build(messages_per_terminal=12, events_per_message=200)
    clients = {}
    for terminal in TERMINALS:
        c = broker.client(terminal, client_id=terminal)
        c.subscribe(ack_topic(terminal.split("-")[0], terminal))
        clients[terminal] = c
    worker = _start_worker(broker, db_url, "ingest-crash")
    try:
        for i in range(12):
            for terminal in TERMINALS:
                payload = batch_payload(workload.messages[terminal][i])
                clients[terminal].publish(events_topic(terminal.split("-")[0], terminal), payload)
        # Let it commit some batches, then pull the plug in the middle of the stream.
        clients["S001-T01"].wait_for(lambda m: m.topic.endswith("/ack"), timeout=30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        final = {t: sum(len(b) for b in workload.messages[t]) for t in TERMINALS}
        acked_before_restart = {t: _highest_ack(clients[t], t) for t in TERMINALS}
        assert acked_before_restart != final, "the kill came after everything was done"
        worker = _start_worker(broker, db_url, "ingest-crash")
        _wait_acked(clients, final, timeout=120)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            assert worker.wait(timeout=15) == 0  # SIGTERM is a clean shutdown
        finally:
            if worker.poll() is None:
                os.kill(worker.pid, signal.SIGKILL)
    cdb = open_cloud_db(db_url)
    try:
        assert_exact(cdb, workload)
    finally:
        cdb.close()
