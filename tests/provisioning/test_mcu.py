"""Flashing the I/O board: the mpremote command, and clear errors when it cannot be done."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from device.drivers.sim.pty import PtyPair

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "provisioning", "mcu", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip


def test_dry_run_copies_every_firmware_file_and_resets() -> None:
    done = run("flash", "--port", "/dev/ttyACM7", "--dry-run")
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[1:3] == ["connect", "/dev/ttyACM7"]
    copied = sorted(Path(w).name for w in words if w.endswith(".py"))
    expected = sorted(p.name for p in (ROOT / "device" / "mcu").glob("*.py")
                      if p.name not in ("__init__.py", "hal_sim.py"))  # fmt: skip
    assert copied == expected
    assert words[-3:] == [":", "+", "reset"]


def test_missing_port_is_a_clear_error() -> None:
    done = run("flash", "--port", "/dev/ttyACM-none")
    assert done.returncode == 1
    assert "no I/O board on /dev/ttyACM-none" in done.stderr
    assert "Traceback" not in done.stderr


def test_mpremote_failure_is_reported_in_one_line(tmp_path: Path) -> None:
    # A "board" that is a bare pty: mpremote cannot get a REPL from it. A stand-in mpremote
    # that fails like the real one does keeps the test from waiting on its timeouts.
    fake = tmp_path / "mpremote"
    fake.write_text("#!/bin/sh\necho 'mpremote: failed to access port' >&2\nexit 1\n")
    fake.chmod(0o755)
    pty = PtyPair()
    try:
        done = run("flash", "--port", pty.path, "--mpremote", str(fake))
    finally:
        pty.remove()
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"error: flashing {pty.path} failed: mpremote: failed to access port"
    )
