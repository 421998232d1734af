"""Two ingest workers on the shared subscription, writing to one PostgreSQL: totals stay exact."""

from __future__ import annotations

import time

import pytest

from cloud.ingest.worker import IngestWorker
from cloud.store.db import open_cloud_db
from protocol.codec import decode_ack
from protocol.topics import ack_topic, events_topic
from tests.broker import Broker
from tests.cloud.factories import batch_payload
from tests.cloud.ingest.checks import assert_exact
from tests.cloud.ingest.conftest import ingest_settings
from tests.cloud.ingest.workload import TERMINALS, build


@pytest.mark.pg
def test_two_workers_share_the_load_with_exact_totals(broker: Broker, fresh_pg_url: str) -> None:
    workload = build(messages_per_terminal=10, events_per_message=100)
    workers = [
        IngestWorker(fresh_pg_url, ingest_settings(broker, name), client_id=f"ingest-pg-{name}")
        for name in ("ingest", "ingest-2")  # one broker identity per worker
    ]
    for w in workers:
        w.start()
    try:
        clients = {}
        for terminal in TERMINALS:
            c = broker.client(terminal, client_id=terminal)
            c.subscribe(ack_topic(terminal.split("-")[0], terminal))
            clients[terminal] = c
        for i in range(10):
            for terminal in TERMINALS:
                # Every batch is sent twice: duplicates race each other across the two workers.
                payload = batch_payload(workload.messages[terminal][i])
                for _ in range(2):
                    clients[terminal].publish(
                        events_topic(terminal.split("-")[0], terminal), payload
                    )
        deadline = time.monotonic() + 60
        final = {t: sum(len(b) for b in workload.messages[t]) for t in TERMINALS}
        while True:
            acked = {
                t: max(decode_ack(m.payload).acked_seq for m in c.messages) if c.messages else 0
                for t, c in clients.items()
            }
            if acked == final:
                break
            assert time.monotonic() < deadline, f"acked {acked} of {final}"
            time.sleep(0.1)
        # The broker really spread the work: both workers committed batches.
        assert all(w.batches_applied > 0 for w in workers)
    finally:
        for w in workers:
            w.stop()
    cdb = open_cloud_db(fresh_pg_url)
    try:
        assert_exact(cdb, workload)
    finally:
        cdb.close()
