"""A store that is locked or failing under the sync thread: sync reports it, waits, recovers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from cloud.ingest.worker import IngestWorker
from device.store.db import DbOptions
from device.sync.service import SyncService, SyncSettings
from device.sync.storage import SyncStorage
from tests.broker import Broker
from tests.device.sync.harness import broker_settings, expected_total, record_sales, store_file
from tests.faults.sync_helpers import cloud_sales, ingest, outbox_depth

__all__ = ["ingest", "store_file"]


def test_a_locked_store_delays_acks_but_loses_nothing(
    broker: Broker, ingest: IngestWorker, store_file: Path, tmp_path: Path
) -> None:
    record_sales(store_file, 300)
    svc = SyncService(
        SyncSettings(broker=broker_settings(broker), batch_size=50, window=2, resend_after_s=1.0),
        open_store=lambda: SyncStorage.open(store_file, DbOptions(busy_timeout_ms=100)),
    )
    # Another process holds the write lock, so no ACK can delete rows meanwhile.
    locker = sqlite3.connect(store_file, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    svc.start()
    try:
        assert svc.wait(lambda s: "not applied yet" in s.last_problem, 30), svc.stats()
        assert cloud_sales(tmp_path, "S001-T01")[0] >= 50  # the cloud has them...
        assert svc.stats().acked_seq == 0  # ...but the outbox could not let go yet
        assert svc.wait(lambda s: s.acks >= 2, 30), svc.stats()  # more ACKs, still held
        assert svc.stats().acked_seq == 0
        locker.execute("ROLLBACK")
        assert svc.wait(lambda s: s.acked_seq == 300, 30), svc.stats()
    finally:
        locker.close()
        svc.stop()
    assert cloud_sales(tmp_path, "S001-T01") == (300, 300, expected_total(300))
    assert outbox_depth(store_file) == 0
