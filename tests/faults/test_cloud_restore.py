"""The cloud's database restored from an older backup, behind what it had acknowledged.

The terminal keeps acknowledged events for its resend window, so it sends the lost ones again
(the same seqs, ids and bodies) and the cloud ends with every sale exactly once, its mark at
the terminal's last seq. Seqs older than the window are named in the status and recorded by
the cloud as lost, so the outbox still drains. A Hello answer that claims less than the cloud
holds only makes the till send duplicates, which the cloud keeps as duplicates.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings as IngestBrokerSettings
from cloud.store.db import CloudDB, open_cloud_db
from device.store.db import open_database
from protocol import codec, topics
from protocol.envelope import Ack
from tests.broker import Broker
from tests.device.sync.harness import record_sales
from tests.faults.sync_helpers import wait_until
from tests.faults.test_restore import (
    TERMINAL,
    _drain,
    _journal_sales,
    _problem,
    _repair,
    _service,
)

GAP = "restored from an older backup"


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


def _age(path: Path, seqs: range, days: float) -> None:
    """Make outbox rows look ``days`` old (as if the till had recorded them back then)."""
    then = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat(timespec="microseconds")
    db = open_database(path)
    try:
        with db.write() as conn:
            conn.execute(
                "UPDATE outbox SET created_at = ? WHERE seq BETWEEN ? AND ?",
                (then, seqs.start, seqs.stop - 1),
            )
    finally:
        db.close()


def _cloud_figures(cdb: CloudDB) -> tuple[int, int, int, int, int]:
    """(sale rows, distinct sale ids, sum of their fen, daily-total sales, daily-total fen)."""
    e, d = cdb.models.Event, cdb.models.DailyTotals
    rows = [(r.body["sale_id"], r.amount_fen) for r in
            e.select().where((e.terminal_id == TERMINAL) & (e.type == "sale")
                             & (e.status == "ok"))]  # fmt: skip
    totals = list(d.select().where(d.terminal_id == TERMINAL))
    return (
        len(rows), len({sid for sid, _ in rows}), sum(fen for _, fen in rows),
        sum(t.sales_count for t in totals), sum(t.sales_fen for t in totals),
    )  # fmt: skip


def _settled(s: Any) -> bool:
    """The till verified, nothing waiting for an ACK, no restored-cloud gap in its status."""
    return bool(s.verified and s.outbox_depth == 0 and GAP not in s.last_problem)


def _mark(cdb: CloudDB) -> tuple[int, int]:
    t = cdb.models.Terminal.get(cdb.models.Terminal.terminal_id == TERMINAL)
    return int(t.high_water), int(t.max_seq)


@pytest.fixture
def restored(broker: Broker, tmp_path: Path) -> Iterator[str]:
    """Seqs 1-10 acknowledged by the cloud, whose database is then restored to seqs 1-5."""
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    path = tmp_path / "terminal.db"
    worker = _worker(broker, url)
    try:
        record_sales(path, 5, create=True)
        _drain(broker, path)
    finally:
        worker.stop()
    _copy_db(tmp_path / "cloud.db", tmp_path / "nightly.db")  # last night's backup: seqs 1-5
    record_sales(path, 5, start=5)
    yield url
    _copy_db(tmp_path / "nightly.db", tmp_path / "cloud.db")  # (for the tests' own use)


def _sell_then_restore(broker: Broker, tmp_path: Path, url: str) -> None:
    """Drain seqs 6-10 to the cloud, then HQ restores last night's backup."""
    worker = _worker(broker, url)
    try:
        _drain(broker, tmp_path / "terminal.db")  # seqs 6-10 acknowledged, kept for resending
    finally:
        worker.stop()
    _copy_db(tmp_path / "nightly.db", tmp_path / "cloud.db")  # HQ restores the backup


class _HelloAnswers:
    """An independent client that answers the terminal's Hello with ``acked_seq``."""

    def __init__(self, broker: Broker, acked: int) -> None:
        self.sent = 0
        self._client = broker.client("ingest-2", client_id="hello-answers")
        topic = topics.hello_topic("S001", TERMINAL)

        def answer(_c: Any, _u: Any, msg: Any) -> None:
            hello = codec.decode_hello(bytes(msg.payload))
            ack = Ack(terminal_id=TERMINAL, acked_seq=acked, max_seq=acked, hello=hello.nonce)
            self._client.paho.publish(topics.ack_topic("S001", TERMINAL), codec.encode_ack(ack),
                                      qos=1)  # fmt: skip
            self.sent += 1

        self._client.paho.message_callback_add(topic, answer)
        self._client.subscribe(topic)

    def close(self) -> None:
        self._client.close()


def test_a_cloud_restored_behind_the_terminal_gets_every_lost_sale_again(
    broker: Broker, tmp_path: Path, restored: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, path = restored, tmp_path / "terminal.db"
    _sell_then_restore(broker, tmp_path, url)
    record_sales(path, 2, start=10)  # sold while the cloud was being restored: seqs 11-12
    # The restored cloud answers the Hello (seq 5) but its ingest is not storing yet: the
    # till starts sending seqs 6-12 again, and is restarted before anything is acknowledged.
    answers = _HelloAnswers(broker, 5)
    try:
        with caplog.at_level(logging.ERROR, logger="device.sync.service"):
            first = _service(broker, path)
            try:
                assert first.wait(lambda s: GAP in s.last_problem and s.events_sent >= 7, 30), (
                    first.stats())  # fmt: skip
                assert "sending seqs 6-10 again" in first.stats().last_problem
                assert first.stats().outbox_depth == 2  # the kept rows are not "unsynced"
            finally:
                first.stop()
    finally:
        answers.close()
    worker = _worker(broker, url)
    svc = _service(broker, path)  # the till comes back: the gap is still there
    try:
        assert svc.wait(_settled, 60), svc.stats()
        assert not svc.stats().halted
        cdb = open_cloud_db(url)
        try:
            wait_until(lambda: _mark(cdb) == (12, 12), 30, "the cloud's mark at seq 12")
            journal = _journal_sales(path)
            assert len(journal) == 12
            figures = (12, 12, sum(journal.values()), 12, sum(journal.values()))
            assert _cloud_figures(cdb) == figures, "every sale exactly once, fen for fen"
            wait_until(lambda: GAP not in _problem(cdb), 30, "HQ's status clear again")
            assert cdb.models.EventConflict.select().count() == 0
        finally:
            cdb.close()
    finally:
        svc.stop()
        worker.stop()
    assert "seqs 6-10 again" in caplog.text


def test_seqs_older_than_the_resend_window_are_named_and_the_outbox_still_drains(
    broker: Broker, tmp_path: Path, restored: str, caplog: pytest.LogCaptureFixture
) -> None:
    url, path = restored, tmp_path / "terminal.db"
    _age(path, range(1, 9), days=10)  # seqs 1-8 recorded ten days ago: pruned on their ACK
    _sell_then_restore(broker, tmp_path, url)
    record_sales(path, 2, start=10)
    worker = _worker(broker, url)
    svc = _service(broker, path)
    try:
        with caplog.at_level(logging.ERROR, logger="device.sync.service"):
            assert svc.wait(_settled, 60), svc.stats()
        assert "seqs 6-8 are older than the 7-day resend window" in caplog.text, caplog.text
        assert "sending seqs 9-10 again" in caplog.text
        assert (
            "seqs 6-8: lost by the cloud's restore" in svc.stats().last_problem
        )  # still the till's to report
        cdb = open_cloud_db(url)
        try:
            e = cdb.models.Event
            lost = e.select(e.seq).where((e.terminal_id == TERMINAL) & (e.status == "lost"))
            assert sorted(r.seq for r in lost) == [6, 7, 8]
            wait_until(lambda: _mark(cdb) == (13, 13), 30, "the mark past the lost seqs")
            journal = _journal_sales(path)
            sold = sorted(journal.items())
            db = open_database(path)
            try:
                lost_ids = {sid for (sid,) in db.query(
                    "SELECT sale_id FROM sale WHERE seq BETWEEN 6 AND 8")}  # fmt: skip
            finally:
                db.close()
            kept = sum(fen for sid, fen in sold if sid not in lost_ids)
            assert _cloud_figures(cdb) == (9, 9, kept, 9, kept)  # what HQ must recover: 3
            t = cdb.models.Terminal.get(cdb.models.Terminal.terminal_id == TERMINAL)
            assert t.flagged and "seqs 6-8" in t.flag_reason and "resend window" in t.flag_reason
        finally:
            cdb.close()
    finally:
        svc.stop()
        worker.stop()


def test_a_hello_answer_claiming_nothing_only_brings_duplicates(
    broker: Broker, tmp_path: Path, restored: str
) -> None:
    url, path = restored, tmp_path / "terminal.db"
    worker = _worker(broker, url)
    try:
        _drain(broker, path)  # seqs 1-10 at the cloud, kept at the till
    finally:
        worker.stop()
    cdb = open_cloud_db(url)
    try:
        before = _cloud_figures(cdb)
    finally:
        cdb.close()
    # Another client answers the Hello first (here: alone), claiming the cloud holds nothing.
    answers = _HelloAnswers(broker, 0)
    svc = _service(broker, path)
    try:
        assert svc.wait(lambda s: "sending seqs 1-10 again" in s.last_problem
                        and s.events_sent >= 10, 30), svc.stats()  # fmt: skip
        answers.close()
        worker = _worker(broker, url)  # the real cloud gets the whole window again
        try:
            assert svc.wait(lambda s: s.outbox_depth == 0 and GAP not in s.last_problem, 60), (
                svc.stats())  # fmt: skip
        finally:
            worker.stop()
    finally:
        svc.stop()
        answers.close()
    cdb = open_cloud_db(url)
    try:
        assert before[0] == 10
        assert _cloud_figures(cdb) == before, "duplicates never counted twice"
        assert _mark(cdb) == (10, 10)
        assert cdb.models.EventConflict.select().count() == 0
    finally:
        cdb.close()


def test_a_cloud_restored_to_before_the_tills_repair_gets_the_new_epoch_again(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url, path = f"sqlite:///{tmp_path / 'cloud.db'}", tmp_path / "terminal.db"
    worker = _worker(broker, url)
    try:
        record_sales(path, 6, create=True)
        _drain(broker, path)
        _copy_db(path, tmp_path / "till-backup.db")  # the till's backup: seqs 1-6
        record_sales(path, 4, start=6)
        _drain(broker, path)  # seqs 1-10 at the cloud
    finally:
        worker.stop()
    original = _journal_sales(path)
    _copy_db(tmp_path / "cloud.db", tmp_path / "nightly.db")  # the cloud's backup: seqs 1-10
    # The SD card is replaced with the till's backup, which sells on; the cloud halts it and
    # the technician starts a new epoch: seqs 11 (epoch_started) to 14 (three carried sales).
    _copy_db(tmp_path / "till-backup.db", path)
    record_sales(path, 3, start=100)
    worker = _worker(broker, url)
    svc = _service(broker, path)
    try:
        assert svc.wait(lambda s: bool(s.halted), 30), svc.stats()
        done = _repair(path, "new-epoch", "--reason", "restored")
        assert done.returncode == 0, done.stderr
        assert svc.wait(lambda s: not s.halted and s.verified and s.outbox_depth == 0, 60), (
            svc.stats())  # fmt: skip
    finally:
        svc.stop()
        worker.stop()
    # HQ restores the cloud's backup, taken before the repair: it knows neither the new epoch
    # nor its events, and answers the Hello with the old epoch.
    _copy_db(tmp_path / "nightly.db", tmp_path / "cloud.db")
    worker = _worker(broker, url)
    svc = _service(broker, path)
    try:
        with caplog.at_level(logging.ERROR, logger="device.sync.service"):
            assert svc.wait(_settled, 60), svc.stats()
            cdb = open_cloud_db(url)
            try:
                wait_until(lambda: _mark(cdb) == (14, 14), 30, "the new epoch's events again")
                expected = {**original, **_journal_sales(path)}
                assert len(expected) == 13
                figures = (13, 13, sum(expected.values()), 13, sum(expected.values()))
                assert _cloud_figures(cdb) == figures, "every sale exactly once, fen for fen"
                m = cdb.models
                epoch = m.TerminalEpoch.get(m.TerminalEpoch.terminal_id == TERMINAL)
                assert (epoch.since_seq, epoch.carried) == (11, 3)
                assert m.EventConflict.select().count() == 0
            finally:
                cdb.close()
        assert "backup taken before this store file's repair" in caplog.text, caplog.text
        assert "sending seqs 11-14 again" in caplog.text
    finally:
        svc.stop()
        worker.stop()
