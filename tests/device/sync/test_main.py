"""`python -m device.sync`: drains a store file, and refuses bad settings with a clear message."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from msgspec.structs import replace

from device.config import SyncSection, dump_config
from tests.broker import Broker
from tests.device.harness import terminal_config
from tests.device.sync.fakecloud import FakeCloud
from tests.device.sync.harness import record_sales
from tests.faults.sync_helpers import ROOT, outbox_depth


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "device.sync", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def drain_args(broker: Broker, store_file: Path) -> tuple[str, ...]:
    """Drain ``store_file`` against ``broker`` as S001-T01 until the outbox is empty."""
    return (
        "--db", str(store_file), "--host", broker.host, "--port", str(broker.port),
        "--store", "S001", "--terminal", "S001-T01",
        "--password", broker.password("S001-T01"), "--until-drained", "--timeout", "30",
    )  # fmt: skip


def test_drains_the_outbox_and_exits_zero(broker: Broker, store_file: Path) -> None:
    record_sales(store_file, 120)
    cloud = FakeCloud(broker)
    try:
        done = run(*drain_args(broker, store_file))
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


def _rows_kept(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


def test_the_resend_window_is_taken_from_the_command_line(broker: Broker, store_file: Path) -> None:
    # Drained with the default window, acknowledged events stay to be sent again; a second
    # drain with a window of 0 days prunes them on its first ACK.
    record_sales(store_file, 30)
    cloud = FakeCloud(broker)
    common = drain_args(broker, store_file)
    try:
        first = run(*common)
        assert first.returncode == 0, first.stderr
        assert outbox_depth(store_file) == 0 and _rows_kept(store_file) == 30
        record_sales(store_file, 5)
        second = run(*common, "--resend-window-days", "0")
        assert second.returncode == 0, second.stderr
    finally:
        cloud.close()
    assert outbox_depth(store_file) == 0 and _rows_kept(store_file) == 0


def test_a_resend_window_out_of_range_is_refused(store_file: Path) -> None:
    done = run("--db", str(store_file), "--store", "S001", "--terminal", "S001-T01",
               "--resend-window-days", "400")  # fmt: skip
    assert done.returncode == 2
    assert "--resend-window-days 400" in done.stderr


def test_the_resend_window_is_the_terminal_files_when_given(
    broker: Broker, store_file: Path, tmp_path: Path
) -> None:
    # The drain-only unit passes the till's own file: a window set there holds for it too.
    cfg = terminal_config(tmp_path)
    config = tmp_path / "terminal.toml"
    config.write_text(dump_config(replace(cfg, sync=SyncSection(resend_window_days=0))))
    record_sales(store_file, 12)
    cloud = FakeCloud(broker)
    try:
        done = run(*drain_args(broker, store_file), "--resend-window-days", "7",
                   "--terminal-config", str(config))  # fmt: skip
    finally:
        cloud.close()
    assert done.returncode == 0, done.stderr
    assert outbox_depth(store_file) == 0 and _rows_kept(store_file) == 0
    broken = tmp_path / "broken.toml"
    broken.write_text("[sync]\nresend_window_days = -1\n")
    refused = run("--db", str(store_file), "--store", "S001", "--terminal", "S001-T01",
                  "--terminal-config", str(broken))  # fmt: skip
    assert refused.returncode == 2 and "broken.toml" in refused.stderr
