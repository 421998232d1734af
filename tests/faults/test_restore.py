"""A terminal's store file restored from an old backup: nothing lost, nothing doubled, HQ told.

The backup is taken after 11 sales; the original file then rings 10 more (seqs 12-21), all
of which reach the cloud. The file is restored from the backup and 15 sales are rung on it:
they re-use seqs 12-26. Before epochs, the cloud took seqs 12-21 for duplicates and ACKed
them, and ten sales were lost without a trace. Now the terminal stops publishing at connect,
the cashier and HQ see why, and the technician's repair sends every sale exactly once.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings as IngestBrokerSettings
from cloud.store import receipts
from cloud.store.db import CloudDB, open_cloud_db
from device.store.db import open_database
from device.sync.service import SyncService, SyncSettings
from device.sync.storage import SyncStorage
from tests.broker import Broker
from tests.device.sync.harness import broker_settings, record_sales
from tests.faults.sync_helpers import ROOT, wait_until

TERMINAL = "S001-T01"


@pytest.fixture
def worker(broker: Broker, cloud_url: str) -> Iterator[IngestWorker]:
    settings = IngestBrokerSettings(
        host=broker.host, port=broker.port, username="ingest", password=broker.password("ingest")
    )
    w = IngestWorker(cloud_url, settings, client_id="ingest-restore")
    w.start()
    try:
        yield w
    finally:
        w.stop()


def _service(broker: Broker, path: Path) -> SyncService:
    settings = SyncSettings(broker=broker_settings(broker, reconnect_max_s=1),
                            resend_after_s=2.0, status_check_s=0.1, hello_retry_s=1.0)  # fmt: skip
    svc = SyncService(settings, open_store=lambda: SyncStorage.open(path))
    svc.start()
    return svc


def _drain(broker: Broker, path: Path) -> None:
    svc = _service(broker, path)
    try:
        assert svc.wait(lambda s: s.verified and s.outbox_depth == 0, 30), svc.stats()
    finally:
        svc.stop()


def _journal_sales(path: Path) -> dict[str, int]:
    """sale_id -> total, from the terminal's own journal (what the customers paid)."""
    db = open_database(path)
    try:
        return {sid: fen for sid, fen in db.query("SELECT sale_id, total_fen FROM sale")}
    finally:
        db.close()


def _cloud_sales(cdb: CloudDB) -> list[tuple[str, int]]:
    e = cdb.models.Event
    rows = e.select(e.body, e.amount_fen, e.status).where(
        (e.terminal_id == TERMINAL) & (e.type == "sale")
    )
    assert all(r.status == "ok" for r in rows), [r.status for r in rows]
    return [(r.body["sale_id"], r.amount_fen) for r in rows]


def _cloud_state(cloud_url: str) -> str:
    """What the cloud holds of the terminal, for a failure's message."""
    cdb = open_cloud_db(cloud_url)
    try:
        m = cdb.models
        t = m.Terminal.get_or_none(m.Terminal.terminal_id == TERMINAL)
        mark = (t.high_water, t.max_seq, t.epoch, t.epoch_since) if t is not None else None
        conflicts = [(c.seq, c.reason) for c in m.EventConflict.select()]
        events = [(e.seq, e.type, e.status, e.epoch) for e in
                  m.Event.select().where(m.Event.seq > 20).order_by(m.Event.seq)]  # fmt: skip
        epochs = [(e.epoch, e.since_seq) for e in m.TerminalEpoch.select()]
        return f"terminal={mark} epochs={epochs} conflicts={conflicts} events={events[:12]}"
    finally:
        cdb.close()


def _repair(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "device.repair", "--db", str(path), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_restored_store_file_halts_then_every_sale_reaches_the_cloud_once(
    broker: Broker, worker: IngestWorker, tmp_path: Path, cloud_url: str
) -> None:
    path = tmp_path / "terminal.db"
    record_sales(path, 11, create=True)
    _drain(broker, path)
    backup = tmp_path / "backup.db"
    shutil.copyfile(path, backup)
    record_sales(path, 10, start=11)
    _drain(broker, path)
    original = _journal_sales(path)
    assert len(original) == 21

    # The SD card is replaced; the technician restores last night's backup.
    shutil.copyfile(backup, path)
    record_sales(path, 15, start=100)
    svc = _service(broker, path)
    try:
        assert svc.wait(lambda s: bool(s.halted), 30), svc.stats()
        stats = svc.stats()
        assert "restored from an older copy or copied" in stats.halted
        assert stats.events_sent == 0 and stats.outbox_depth == 15  # nothing sent, nothing lost
        # HQ sees why, in the terminal's retained status.
        cdb = open_cloud_db(cloud_url)
        try:
            wait_until(lambda: "restored" in _problem(cdb), 30, "HQ told of the halt")
        finally:
            cdb.close()
        assert "STOPPED" in _repair(path, "status").stdout
        done = _repair(path, "new-epoch", "--reason", "restored", "--note", "SD card replaced")
        assert done.returncode == 0, done.stderr
        # The running service notices the new epoch and publishes again, with no restart.
        assert svc.wait(lambda s: not s.halted and s.verified and s.outbox_depth == 0, 60), (
            svc.stats(),
            _cloud_state(cloud_url),
        )
        # The new epoch starts above the cloud's mark: that is not a cloud restored behind
        # the till (nothing is sent again from the old epoch, nothing is reported lost).
        assert "older backup" not in svc.stats().last_problem, svc.stats()
    finally:
        svc.stop()

    restored = _journal_sales(path)
    assert len(restored) == 26  # the backup's 11 and the 15 rung after the restore
    cdb = open_cloud_db(cloud_url)
    try:
        cloud = _cloud_sales(cdb)
        expected = {**original, **restored}  # the 11 in both are the same sales
        assert len(cloud) == len(expected) == 36, "each sale exactly once"
        assert dict(cloud) == expected, "fen for fen"
        m = cdb.models
        epoch = m.TerminalEpoch.get(m.TerminalEpoch.terminal_id == TERMINAL)
        # 26 seqs were written by the restored file: 22..26 were never sent under the old epoch.
        assert (epoch.since_seq, epoch.reason, epoch.carried) == (27, "restored", 15)
        assert (epoch.abandoned_from, epoch.abandoned_to, epoch.abandoned) == (22, 26, 5)
        terminal = m.Terminal.get(m.Terminal.terminal_id == TERMINAL)
        assert terminal.high_water == terminal.max_seq == 27 + 15
        assert terminal.flagged and "epoch" in terminal.flag_reason
        assert m.EventConflict.select().count() == 0  # caught before anything conflicted
        # The restored file counted the day's receipts on from the backup's 11: its first 10
        # new sales repeat numbers the lost file printed. Each is listed for HQ, and no till
        # is given the other sale for such a number (docs/coupons-returns.md).
        reused = [p for p in receipts.over_returns(cdb) if p["reason"] == "receipt_reused"]
        assert len(reused) == 10
        some = reused[0]["receipt_no"]
        assert receipts.lookup(cdb, some, dt.datetime.now(), dt.date.today()) == receipts.Refusal(
            "receipt_ambiguous", {"receipt": some}, f"2 sales hold receipt number {some}"
        )
    finally:
        cdb.close()


def test_restored_file_with_nothing_new_is_caught_by_the_cloud_too(
    broker: Broker, worker: IngestWorker, tmp_path: Path, cloud_url: str
) -> None:
    path = tmp_path / "terminal.db"
    record_sales(path, 5, create=True)
    backup = tmp_path / "backup.db"
    shutil.copyfile(path, backup)
    record_sales(path, 5, start=5)
    _drain(broker, path)
    shutil.copyfile(backup, path)
    svc = _service(broker, path)
    try:
        assert svc.wait(lambda s: bool(s.halted), 30), svc.stats()
    finally:
        svc.stop()
    cdb = open_cloud_db(cloud_url)
    try:
        terminal = cdb.models.Terminal.get(cdb.models.Terminal.terminal_id == TERMINAL)
        assert terminal.flagged and "restored from an older copy" in terminal.flag_reason
        assert terminal.high_water == 10
    finally:
        cdb.close()
    # The halt survives a restart, so the next sale cannot slip out under a taken seq.
    db = open_database(path)
    try:
        assert db.row("SELECT value FROM meta WHERE key = 'sync_halt'") is not None
    finally:
        db.close()


def _problem(cdb: CloudDB) -> str:
    m = cdb.models
    row = m.Terminal.get_or_none(m.Terminal.terminal_id == TERMINAL)
    return str((row.status or {}).get("last_problem", "")) if row is not None else ""
