"""Shared pieces for the sync fault tests: a 10,000-sale store, the real ingest worker, readers."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings as IngestBrokerSettings
from device.store.db import open_database
from device.store.outbox import Outbox
from tests.broker import Broker
from tests.device.sync.harness import record_sales

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_SALES = 10_000


@pytest.fixture(scope="session")
def offline_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file holding 10,000 sales recorded while offline (built once per session)."""
    path = tmp_path_factory.mktemp("sync-template") / "terminal.db"
    record_sales(path, TEMPLATE_SALES, create=True)
    return path


def copy_store(template: Path, dest: Path) -> Path:
    """A private copy of a closed store file (its WAL was checkpointed on close)."""
    shutil.copyfile(template, dest)
    return dest


@pytest.fixture
def ingest(broker: Broker, tmp_path: Path) -> Iterator[IngestWorker]:
    """The real cloud ingest worker on a SQLite file, sharing the broker's ingest group."""
    settings = IngestBrokerSettings(
        host=broker.host, port=broker.port, username="ingest", password=broker.password("ingest")
    )
    worker = IngestWorker(f"sqlite:///{tmp_path}/cloud.db", settings, client_id="ingest-1")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()


def cloud_sales(tmp_path: Path, terminal_id: str) -> tuple[int, int, int]:
    """(event rows, distinct seqs, sum of sale totals in fen) held by the cloud for a terminal."""
    with sqlite3.connect(tmp_path / "cloud.db") as conn:
        rows, distinct, fen = conn.execute(
            "SELECT count(*), count(DISTINCT seq), coalesce(sum(amount_fen), 0) FROM events "
            "WHERE terminal_id = ? AND type = 'sale'",
            (terminal_id,),
        ).fetchone()
    return int(rows), int(distinct), int(fen)


def outbox_depth(path: Path) -> int:
    """Unacked events left in a terminal store file."""
    db = open_database(path)
    try:
        return Outbox(db).depth()
    finally:
        db.close()


def sync_child(
    broker: Broker, db: Path, terminal_id: str = "S001-T01", *extra: str
) -> subprocess.Popen[bytes]:
    """`python -m device.sync` on a store file, as the runtime would run it."""
    return subprocess.Popen(
        [sys.executable, "-m", "device.sync", "--db", str(db), "--host", broker.host,
         "--port", str(broker.port), "--store", terminal_id.split("-")[0],
         "--terminal", terminal_id, "--password", broker.password(terminal_id),
         "--reconnect-max", "2", "--log-level", "WARNING", *extra],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll check() until true; fail naming what did not happen."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.05)
