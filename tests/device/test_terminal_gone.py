"""The till whose terminal goes away with no SIGHUP to it stops by itself as on Ctrl+Q, instead
of reading nothing at 100% of a core.

How the hangup reaches no signal: the till runs in a session of its own and only inherits the
pty's slave side, so the pty is not its controlling terminal (/proc shows tty 0). Closing the
master makes the kernel hang the slave up (reads return end of input, writes EIO) and send
SIGHUP only to the session the terminal controls: none. The other case is stdin ending (a pipe
closed) while the screen's pty stays.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from device.checkout.state import Phase
from device.ui.panels import phase_name
from provisioning.demo_data import DEMO_STAFF
from tests.device.pty_till import LEAVE_ALT_SCREEN, PtyTill

F3, F4 = b"\x1bOR", b"\x1bOS"  # as xterm sends them
CTRL_S = b"\x13"  # demo key: scan a random product
EXIT_WITHIN_S = 60  # a generous deadline for a loaded machine; the till takes well under 1 s
# The till may use CPU to stop, never the whole of a core for the time it takes: a busy read
# loop uses about 1 s per second of wall time.
CPU_SHARE, CPU_SLACK_S = 0.5, 2.0


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _integrity(db: Path) -> str:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.parametrize("how", ["pty master closed", "stdin ended"], ids=["hang-up", "stdin-eof"])
def test_the_till_stops_by_itself_when_its_terminal_goes(tmp_path: Path, how: str) -> None:
    till = PtyTill(tmp_path, stdin_pipe=how == "stdin ended")
    try:
        till.read_until(till.ready.exists, "the login screen drawn")
        # Not the till's controlling terminal: the hangup can send it no SIGHUP.
        assert till.stat()[2] == 0
        # Each key waits for the screen to show what it leads to, as a cashier would: the
        # manager's name once signed in, then each phase's name in the title bar.
        manager = DEMO_STAFF[0]
        for keys, shown in [
            (f"{manager.staff_id}\r{manager.pin}\r".encode(), manager.name),
            (b"100\r", phase_name(Phase.IDLE, "zh")),  # the opening float
            (CTRL_S, phase_name(Phase.SELLING, "zh")),
            (F3, phase_name(Phase.TENDERING, "zh")),
            (F4, phase_name(Phase.FEEDBACK, "zh")),  # cash, the exact amount due
        ]:
            till.type_until_shown(keys, shown)
        assert _count(till.db_path, "sale") == 1
        drawn = len(till.output)

        _, cpu_before, _ = till.stat()
        gone_at = time.monotonic()
        if how == "pty master closed":
            till.hang_up()
        else:
            till.end_input()
        while True:
            state, cpu_now, _ = till.stat()  # "Z": it ended; /proc still has its CPU time
            cpu, wall = cpu_now - cpu_before, time.monotonic() - gone_at
            assert cpu <= CPU_SHARE * wall + CPU_SLACK_S, (
                f"{cpu:.1f}s of CPU in {wall:.1f}s after {how} (still running: {state != 'Z'})"
            )
            if state == "Z":
                break
            assert wall < EXIT_WITHIN_S, f"the till still runs {wall:.0f}s after {how}"
            if not till.read():
                time.sleep(0.1)
        assert till.proc.wait(10) == 0
        till.drain_after_exit()
    finally:
        till.close()
    log = till.log.read_text()
    assert "terminal gone (end of input): stopping" in log
    assert "Traceback" not in log
    if how == "stdin ended":  # the screen is still there to be handed back
        assert LEAVE_ALT_SCREEN in till.output[drawn:], "the screen was not handed back"
    # What was sold before is whole, still waiting in the outbox for the cloud (no broker here).
    assert _count(till.db_path, "sale") == 1
    assert _count(till.db_path, "outbox") >= 2  # the shift's opening and the sale
    assert _integrity(till.db_path) == "ok"
