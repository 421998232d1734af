"""The cloud's database restored from an older backup, behind what it had acknowledged: the
terminal says so, to the cashier's status and to HQ, and keeps selling and syncing."""

from __future__ import annotations

import shutil
from pathlib import Path

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings as IngestBrokerSettings
from cloud.store.db import open_cloud_db
from tests.broker import Broker
from tests.device.sync.harness import record_sales
from tests.faults.sync_helpers import wait_until
from tests.faults.test_restore import TERMINAL, _drain, _problem, _service


def _worker(broker: Broker, url: str) -> IngestWorker:
    settings = IngestBrokerSettings(
        host=broker.host, port=broker.port, username="ingest", password=broker.password("ingest")
    )
    w = IngestWorker(url, settings, client_id="ingest-cloud-restore")
    w.start()
    return w


def _copy_db(src: Path, dst: Path) -> None:
    """A file-level backup or restore of a stopped SQLite database (its WAL included)."""
    for suffix in ("", "-wal", "-shm"):
        target = Path(str(dst) + suffix)
        target.unlink(missing_ok=True)
        if Path(str(src) + suffix).exists():
            shutil.copyfile(str(src) + suffix, target)


def test_a_cloud_restored_behind_the_terminal_is_reported_and_selling_goes_on(
    broker: Broker, tmp_path: Path
) -> None:
    cloud_file = tmp_path / "cloud.db"
    url = f"sqlite:///{cloud_file}"
    path = tmp_path / "terminal.db"
    worker = _worker(broker, url)
    try:
        record_sales(path, 5, create=True)
        _drain(broker, path)
    finally:
        worker.stop()
    _copy_db(cloud_file, tmp_path / "nightly.db")  # last night's backup: seqs 1-5
    worker = _worker(broker, url)
    try:
        record_sales(path, 5, start=5)
        _drain(broker, path)  # seqs 6-10 acknowledged, gone from the outbox
    finally:
        worker.stop()
    _copy_db(tmp_path / "nightly.db", cloud_file)  # HQ restores the backup
    worker = _worker(broker, url)
    record_sales(path, 2, start=10)
    svc = _service(broker, path)
    try:
        assert svc.wait(lambda s: "restored from an older backup" in s.last_problem, 30), (
            svc.stats())  # fmt: skip
        assert "seqs 6-10 must be recovered" in svc.stats().last_problem
        assert not svc.stats().halted  # the till keeps selling and sending what is new
        cdb = open_cloud_db(url)
        try:
            wait_until(lambda: "seqs 6-10" in _problem(cdb), 30, "HQ told of the lost seqs")
            e = cdb.models.Event
            wait_until(
                lambda: e.select().where((e.terminal_id == TERMINAL) & (e.seq > 10)).count() == 2,
                30, "the new sales stored",
            )  # fmt: skip
        finally:
            cdb.close()
    finally:
        svc.stop()
        worker.stop()
