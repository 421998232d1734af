"""`python -m device.sync`: drains a store file, and refuses bad settings with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.broker import Broker
from tests.device.sync.fakecloud import FakeCloud
from tests.device.sync.harness import record_sales
from tests.faults.sync_helpers import ROOT, outbox_depth


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "device.sync", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_drains_the_outbox_and_exits_zero(broker: Broker, store_file: Path) -> None:
    record_sales(store_file, 120)
    cloud = FakeCloud(broker)
    try:
        done = run(
            "--db", str(store_file), "--host", broker.host, "--port", str(broker.port),
            "--store", "S001", "--terminal", "S001-T01",
            "--password", broker.password("S001-T01"), "--until-drained", "--timeout", "30",
        )  # fmt: skip
    finally:
        cloud.close()
    assert done.returncode == 0, done.stderr
    assert outbox_depth(store_file) == 0 and cloud.count("S001-T01") == 120


def test_a_missing_store_file_is_named_and_nothing_is_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "terminal.db"
    done = run("--db", str(missing), "--store", "S001", "--terminal", "S001-T01")
    assert done.returncode == 2
    assert str(missing) in done.stderr
    assert not missing.exists()


def test_a_bad_terminal_id_is_refused(store_file: Path) -> None:
    done = run("--db", str(store_file), "--store", "S001", "--terminal", "T/../#")
    assert done.returncode == 2
    assert "terminal id" in done.stderr
