"""A worker removed for good must have its broker session retired, or it keeps a share of work."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import retire_session
from protocol.topics import events_topic
from tests.broker import Broker
from tests.cloud.factories import batch_payload, simple_sale
from tests.cloud.ingest.conftest import ingest_settings

ROOT = Path(__file__).resolve().parents[3]


def _publish_ten(broker: Broker, terminal_id: str) -> None:
    terminal = broker.client(terminal_id, client_id=terminal_id)
    for seq in range(1, 11):
        terminal.publish(events_topic("S001", terminal_id),
                         batch_payload([simple_sale(terminal_id, seq)]))  # fmt: skip


def _wait_for(worker: IngestWorker, batches: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while worker.batches_applied < batches and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_stopped_workers_session_keeps_its_share_until_retired(
    broker: Broker, tmp_path: Path
) -> None:
    settings = ingest_settings(broker)
    # The broker binds a session to its identity, so each worker has its own identity.
    gone_settings = ingest_settings(broker, "ingest-2")
    gone = IngestWorker(f"sqlite:///{tmp_path}/a.db", gone_settings, client_id="ingest-gone")
    gone.start()
    gone.stop()  # stopped, but its persistent session stays in the share group
    live = IngestWorker(f"sqlite:///{tmp_path}/b.db", settings, client_id="ingest-live")
    live.start()
    try:
        _publish_ten(broker, "S001-T01")
        _wait_for(live, 10, timeout=3)
        # The broker queued part of the work for the stopped session (why --retire exists).
        assert live.batches_applied < 10
        retire_session(gone_settings, "ingest-gone")
        before = live.batches_applied
        _publish_ten(broker, "S001-T02")
        _wait_for(live, before + 10, timeout=30)
        assert live.batches_applied == before + 10
    finally:
        live.stop()


def test_retire_from_the_command_line(broker: Broker) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cloud.ingest", "--retire", "--client-id", "ingest-old",
         "--broker", f"{broker.host}:{broker.port}", "--password", broker.password("ingest")],
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "session of ingest-old retired" in done.stdout
