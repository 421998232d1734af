"""The till with its screen, in a real pseudo-terminal, stopped the ways systemd and a closed
window stop it: it ends as on Ctrl+Q (exit code 0, the runtime stopped, the screen handed back)
instead of dying mid-step."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from device.config import dump_config
from tests.device.harness import seeded_store, terminal_config

ROOT = Path(__file__).resolve().parents[2]
#: What a full-screen program writes to give the terminal back its normal screen.
LEAVE_ALT_SCREEN = b"\x1b[?1049l"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_the_till_stops_cleanly_on_a_stop_signal(tmp_path: Path, sig: signal.Signals) -> None:
    cfg = terminal_config(tmp_path)
    seeded_store(cfg).close()
    config = tmp_path / "terminal.toml"
    config.write_text(dump_config(cfg))
    log, ready = tmp_path / "till.log", tmp_path / "ready"
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "POS_READY_FILE": str(ready)}
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "device", "--config", str(config), "--simulate",
             "--log-file", str(log)],
            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env, start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(slave)
    output = bytearray()

    def read() -> bool:
        """Whatever the till wrote within 0.1 s; False once nothing more can come."""
        if not select.select([master], [], [], 0.1)[0]:
            return True
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every holder of the till's side has closed it
            return False
        output.extend(chunk)
        return bool(chunk)

    def read_until(done: Callable[[], bool], what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s: {output[-2000:]!r}"
            read()

    try:
        read_until(ready.exists, "the login screen drawn")
        drawn = len(output)
        proc.send_signal(sig)
        read_until(lambda: proc.poll() is not None, f"the till ending on {sig.name}")
        deadline = time.monotonic() + 10
        while read() and time.monotonic() < deadline:  # the rest it wrote on its way out
            pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        os.close(master)
    assert proc.returncode == 0, f"the till died on {sig.name} (exit {proc.returncode})"
    assert LEAVE_ALT_SCREEN in output[drawn:], "the screen was not handed back"
    assert f"signal {int(sig)}: stopping" in log.read_text()
