"""The till with its screen, in a real pseudo-terminal, stopped the ways systemd and a closed
window stop it: it ends as on Ctrl+Q (exit code 0, the runtime stopped, the screen handed back)
instead of dying mid-step."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.device.pty_till import LEAVE_ALT_SCREEN, PtyTill


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_the_till_stops_cleanly_on_a_stop_signal(tmp_path: Path, sig: signal.Signals) -> None:
    till = PtyTill(tmp_path)
    try:
        till.read_until(till.ready.exists, "the login screen drawn")
        drawn = len(till.output)
        till.proc.send_signal(sig)
        till.read_until(lambda: till.proc.poll() is not None, f"the till ending on {sig.name}")
        till.drain_after_exit()
    finally:
        till.close()
    assert till.proc.returncode == 0, f"the till died on {sig.name} (exit {till.proc.returncode})"
    assert LEAVE_ALT_SCREEN in till.output[drawn:], "the screen was not handed back"
    assert f"signal {int(sig)}: stopping" in till.log.read_text()
