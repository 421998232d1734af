"""Random-fault soak: two terminals sell while terminals, broker and ingest workers are killed.

Every part runs as its public command: the terminals' sync (``python -m device.sync``), two
ingest workers on PostgreSQL (``python -m cloud.ingest``, one shared subscription), Mosquitto,
and per terminal a process recording sales into its store file (the till's commit path).
At least 200 faults, chosen at random: SIGKILL of a terminal's recorder or its sync, SIGKILL
of an ingest worker, SIGKILL of the broker (anything not yet autosaved is lost) or a graceful
broker restart. Afterwards everything drains, and each terminal's journal and the cloud must
agree sale by sale and fen by fen: no sale lost, none doubled, nothing held, nothing in
conflict, and the points ledger equal member by member.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import peewee as pw
import pytest

from cloud.store.db import CloudDB, open_cloud_db
from device.store.db import open_database
from device.store.outbox import Outbox
from tests.broker import Broker
from tests.faults.sync_helpers import ROOT, wait_until

TERMINALS = ("S001-T01", "S002-T01")
FAULTS = int(os.environ.get("POS_SOAK_FAULTS", "200"))
SEED = int(os.environ.get("POS_SOAK_SEED", "20261205"))
IDENTITIES = {"ingest-a": "ingest", "ingest-b": "ingest-2"}  # worker -> broker identity


@dataclass
class Procs:
    """The running processes, by role, restarted after each kill."""

    broker: Broker
    db_url: str
    tmp: Path
    writers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    syncs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    workers: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)
    starts: int = 0

    def store(self, terminal: str) -> Path:
        return self.tmp / f"{terminal}.db"

    def start_writer(self, terminal: str, seed: int) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.soak_writer", str(self.store(terminal)),
             terminal, str(seed)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n", "recorder did not start"
        os.set_blocking(proc.stdout.fileno(), False)  # never read again: receipts pile up
        self.writers[terminal] = proc
        self.starts += 1

    def log(self, name: str) -> int:
        """A file descriptor appending to the part's log (kept for a failure's message)."""
        return os.open(self.tmp / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def start_sync(self, terminal: str) -> None:
        self.syncs[terminal] = subprocess.Popen(
            [sys.executable, "-m", "device.sync", "--db", str(self.store(terminal)),
             "--host", self.broker.host, "--port", str(self.broker.port),
             "--store", terminal.split("-")[0], "--terminal", terminal,
             "--password", self.broker.password(terminal), "--resend-after", "3",
             "--reconnect-max", "1", "--log-level", "ERROR"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.starts += 1

    def start_worker(self, name: str) -> None:
        # One broker identity per worker: the broker makes the identity the client id, so two
        # workers under one identity would keep taking each other's connection.
        identity = IDENTITIES[name]
        proc = subprocess.Popen(
            [sys.executable, "-m", "cloud.ingest", "--db", self.db_url,
             "--broker", f"{self.broker.host}:{self.broker.port}", "--username", identity,
             "--password", self.broker.password(identity), "--client-id", name,
             "--heartbeat-s", "1", "--log-level", "ERROR"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=(log_fd := self.log(name)), text=True,
        )  # fmt: skip
        os.close(log_fd)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        log = (self.tmp / f"{name}.log").read_text(errors="replace")[-2000:]
        assert "ready" in line, f"ingest worker {name} did not start: {line!r}\n{log}"
        self.workers[name] = proc
        self.starts += 1

    def kill(self, proc: subprocess.Popen[bytes] | subprocess.Popen[str], what: str) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        self.kills[what] += 1

    def stop_all(self) -> None:
        for proc in [*self.writers.values(), *self.syncs.values(), *self.workers.values()]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)


@pytest.fixture
def procs(broker: Broker, fresh_pg_url: str, tmp_path: Path) -> Iterator[Procs]:
    p = Procs(broker, fresh_pg_url, tmp_path)
    for terminal in TERMINALS:
        open_database(p.store(terminal), create=True).close()
    try:
        yield p
    finally:
        p.stop_all()


def _inject(p: Procs, rng: random.Random, n: int) -> None:
    """One random fault, then the part comes back (as its service manager would restart it)."""
    roll = rng.random()
    terminal = rng.choice(TERMINALS)
    if roll < 0.3:
        p.kill(p.writers[terminal], "recorder")
        p.start_writer(terminal, seed=SEED + n)
    elif roll < 0.55:
        p.kill(p.syncs[terminal], "sync")
        p.start_sync(terminal)
    elif roll < 0.8:
        name = rng.choice(sorted(p.workers))
        p.kill(p.workers[name], "ingest")
        p.start_worker(name)
    elif roll < 0.9:
        p.broker.restart(hard=True)
        p.kills["broker -9"] += 1
    else:
        p.broker.restart()
        p.kills["broker restart"] += 1


def _journal(path: Path) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    db = open_database(path)
    try:
        sales = dict(db.query("SELECT sale_id, total_fen FROM sale"))
        returns = dict(db.query("SELECT return_id, refund_fen FROM sale_return"))
        points = dict(db.query("SELECT member_id, sum(delta) FROM points_ledger GROUP BY 1"))
        return sales, returns, points
    finally:
        db.close()


def _outbox_depth(path: Path) -> int:
    db = open_database(path)
    try:
        return Outbox(db).depth()
    finally:
        db.close()


def _cloud(cdb: CloudDB, terminal: str) -> tuple[dict[str, int], dict[str, int], Counter[str]]:
    e = cdb.models.Event
    sales: dict[str, int] = {}
    returns: dict[str, int] = {}
    statuses: Counter[str] = Counter()
    for row in e.select().where(e.terminal_id == terminal):
        statuses[row.status] += 1
        if row.type == "sale":
            assert row.body["sale_id"] not in sales, "a sale stored twice"
            sales[row.body["sale_id"]] = row.amount_fen
        elif row.type == "return":
            assert row.body["return_id"] not in returns, "a return stored twice"
            returns[row.body["return_id"]] = row.amount_fen
    return sales, returns, statuses


@pytest.mark.slow
@pytest.mark.pg
def test_random_faults_lose_and_double_nothing(procs: Procs) -> None:
    rng = random.Random(SEED)
    for name in IDENTITIES:
        procs.start_worker(name)
    for i, terminal in enumerate(TERMINALS):
        procs.start_sync(terminal)
        procs.start_writer(terminal, seed=SEED + 1000 * (i + 1))
    for n in range(FAULTS):
        _inject(procs, rng, n)
        # Let the system work between faults for a random while: this is the soak's input,
        # not a wait for anything (each restart above already waited for its part).
        time.sleep(rng.uniform(0.0, 0.25))
    for terminal in TERMINALS:
        procs.writers[terminal].send_signal(signal.SIGKILL)
        procs.writers[terminal].wait(timeout=30)
    for terminal in TERMINALS:
        what = f"{terminal}'s outbox drained after {sum(procs.kills.values())} faults"
        wait_until(lambda t=terminal: _outbox_depth(procs.store(t)) == 0, 300, what)

    assert sum(procs.kills.values()) >= FAULTS
    cdb = open_cloud_db(procs.db_url)
    try:
        ledger: Counter[str] = Counter()
        for terminal in TERMINALS:
            sales, returns, points = _journal(procs.store(terminal))
            ledger.update(points)
            cloud_sales, cloud_returns, statuses = _cloud(cdb, terminal)
            assert len(sales) > FAULTS // 2, "the terminals hardly sold"
            assert cloud_sales == sales, f"{terminal}: sales differ"
            assert cloud_returns == returns, f"{terminal}: returns differ"
            assert set(statuses) == {"ok"}, statuses
        m = cdb.models
        assert m.EventConflict.select().count() == 0
        assert m.EventFlag.select().count() == 0
        cloud_points = {
            r.member_id: int(r.total)
            for r in m.PointsLedger.select(m.PointsLedger.member_id,
                                           pw.fn.SUM(m.PointsLedger.delta).alias("total"))
            .group_by(m.PointsLedger.member_id)
        }  # fmt: skip
        assert cloud_points == {k: v for k, v in ledger.items()}, "points differ"
        totals = m.DailyTotals.select(
            pw.fn.SUM(m.DailyTotals.sales_fen), pw.fn.SUM(m.DailyTotals.refund_fen)
        )
        sales_fen, refund_fen = totals.tuples().get()
        journals = [_journal(procs.store(t)) for t in TERMINALS]
        assert sales_fen == sum(sum(j[0].values()) for j in journals)
        assert refund_fen == sum(sum(j[1].values()) for j in journals)
    finally:
        cdb.close()
    print(f"soak: {dict(procs.kills)} faults, {procs.starts} process starts")
