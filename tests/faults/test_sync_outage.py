"""Sync through outages: days of offline sales, a terminal killed mid-drain, a broker restart.

Every test runs the real cloud ingest worker on SQLite and checks the cloud's own tables:
each sale exactly once, and the fen total equal to the sum of the recorded prices.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from pathlib import Path

import pytest

from cloud.ingest.worker import IngestWorker
from cloud.store.db import open_cloud_db
from cloud.store.downstream import append_change
from device.store.db import open_database
from tests.broker import Broker
from tests.device.sync.harness import expected_total, make_service, store_file
from tests.faults.sync_helpers import (
    TEMPLATE_SALES,
    cloud_sales,
    copy_store,
    ingest,
    offline_template,
    outbox_depth,
    sync_child,
    wait_until,
)

__all__ = [
    "ingest",
    "make_service",
    "offline_template",
    "store_file",
]  # fixtures used by name below


@pytest.mark.slow
def test_ten_thousand_offline_sales_arrive_once_after_reconnect(
    broker: Broker, ingest: IngestWorker, offline_template: Path, tmp_path: Path, make_service
) -> None:
    db = copy_store(offline_template, tmp_path / "terminal.db")
    broker.stop()  # the store's uplink is down when the terminal starts
    svc = make_service(db, reconnect_max_s=1)
    assert not svc.wait(lambda s: s.connected, 1.0)
    broker.start()
    assert svc.wait(lambda s: s.acked_seq == TEMPLATE_SALES, 120), svc.stats()
    assert cloud_sales(tmp_path, "S001-T01") == (
        TEMPLATE_SALES,
        TEMPLATE_SALES,
        expected_total(TEMPLATE_SALES),
    )
    assert svc.wait(lambda s: s.outbox_depth == 0, 30)
    assert outbox_depth(db) == 0


@pytest.mark.slow
def test_terminal_killed_during_drain_loses_and_duplicates_nothing(
    broker: Broker, ingest: IngestWorker, offline_template: Path, tmp_path: Path
) -> None:
    db = copy_store(offline_template, tmp_path / "terminal.db")
    # Kill -9 three times, each once the cloud holds a further part of the backlog.
    for threshold in (1000, 3500, 6000):
        child = sync_child(broker, db, "S001-T01", "--batch-size", "100", "--window", "2")
        try:
            wait_until(lambda t=threshold: cloud_sales(tmp_path, "S001-T01")[0] >= t, 60, "commits")
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
        held = cloud_sales(tmp_path, "S001-T01")[0]
        assert held < TEMPLATE_SALES, "the kill came after the drain finished"
        deleted = TEMPLATE_SALES - outbox_depth(db)
        assert deleted <= held  # a row leaves the outbox only once the cloud holds it
    restarted = sync_child(broker, db, "S001-T01", "--until-drained", "--timeout", "120")
    assert restarted.wait(150) == 0, restarted.stderr.read() if restarted.stderr else ""
    assert cloud_sales(tmp_path, "S001-T01") == (
        TEMPLATE_SALES,
        TEMPLATE_SALES,
        expected_total(TEMPLATE_SALES),
    )
    assert outbox_depth(db) == 0


@pytest.mark.slow
@pytest.mark.parametrize("hard", [False, True], ids=["graceful", "kill-9"])
def test_broker_restart_during_drain_loses_and_duplicates_nothing(
    broker: Broker,
    ingest: IngestWorker,
    offline_template: Path,
    tmp_path: Path,
    make_service,
    hard: bool,
) -> None:
    db = copy_store(offline_template, tmp_path / "terminal.db")
    svc = make_service(db, batch_size=100, window=2, resend_after_s=2.0, reconnect_max_s=1)
    assert svc.wait(lambda s: s.acked_seq >= 1000, 60), svc.stats()
    broker.restart(hard=hard)
    assert svc.stats().acked_seq < TEMPLATE_SALES, "the restart came after the drain finished"
    assert svc.wait(lambda s: s.acked_seq == TEMPLATE_SALES, 120), svc.stats()
    assert cloud_sales(tmp_path, "S001-T01") == (
        TEMPLATE_SALES,
        TEMPLATE_SALES,
        expected_total(TEMPLATE_SALES),
    )
    assert svc.wait(lambda s: s.outbox_depth == 0, 30)


def test_downstream_changes_made_while_offline_arrive_by_catch_up(
    broker: Broker, ingest: IngestWorker, store_file: Path, tmp_path: Path, make_service
) -> None:
    svc = make_service(store_file)
    assert svc.wait(lambda s: s.connected and s.catchups_requested == 1, 30)
    svc.stop()  # the store goes offline; HQ keeps changing things
    cdb = open_cloud_db(f"sqlite:///{tmp_path}/cloud.db")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    try:
        with cdb.write():
            for scope, n in (("S001", 1), ("S002", 2), ("all", 3), ("S001", 4)):
                item = {"member_id": f"M{n}", "phone": f"1390000000{n}", "name": f"N{n}"}
                append_change(cdb, "members", scope, "upsert", [item], now)
    finally:
        cdb.close()
    svc = make_service(store_file)
    # On reconnect the terminal asks from version 0; the cloud answers 1, 3 and 4 (2 was for
    # S002) on the terminal's own topic.
    assert svc.wait(lambda s: s.stream_versions.get("members") == 4, 30), svc.stats()
    db = open_database(store_file)
    try:
        held = sorted(r[0] for r in db.query("SELECT member_id FROM member"))
    finally:
        db.close()
    assert held == ["M1", "M3", "M4"]


def test_a_lost_last_change_is_recovered_by_the_periodic_catch_up(
    broker: Broker, ingest: IngestWorker, store_file: Path, tmp_path: Path, make_service
) -> None:
    answered = threading.Event()
    handle = ingest.handle_catchup

    def handle_and_tell(topic: str, payload: bytes) -> int:
        try:
            return handle(topic, payload)
        finally:
            answered.set()

    ingest.handle_catchup = handle_and_tell  # type: ignore[method-assign]
    svc = make_service(store_file, catchup_interval_s=1.5)
    assert svc.wait(lambda s: s.connected and s.catchups_requested >= 1, 30)
    assert answered.wait(30)  # the cloud answered the on-connect catch-up (with nothing) first
    # HQ stored a change whose broadcast never reached the terminal, and nothing follows it,
    # so no version gap will ever reveal it.
    cdb = open_cloud_db(f"sqlite:///{tmp_path}/cloud.db")
    try:
        with cdb.write():
            item = {"sku": "P1", "name_zh": "茶", "name_en": "Tea", "price_fen": 500}
            append_change(cdb, "catalogue", "all", "upsert", [item], dt.datetime.now())
    finally:
        cdb.close()
    assert svc.wait(lambda s: s.stream_versions.get("catalogue") == 1, 30), svc.stats()
    assert svc.stats().catchups_requested >= 2
