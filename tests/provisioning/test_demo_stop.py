"""`make run` in a real terminal window: however it ends, nothing it started keeps running."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioning.ports import free_ports
from tests.provisioning.demo_pty import DemoWindow, descendants, still_running

STOPPED = "every process it started has exited"
Ending = Callable[[DemoWindow], None]
Ports = tuple[int, int]


def _ctrl_q(window: DemoWindow) -> None:
    window.type(b"\x11")


def _ctrl_c(window: DemoWindow) -> None:
    window.type(b"\x03")


def _signal(sig: int) -> Ending:
    return lambda window: os.kill(window.demo_pid(), sig)


def _shell_hangup(window: DemoWindow) -> None:
    # What a shell does with its jobs when its window closes: SIGHUP to make's process group.
    os.killpg(window.make.pid, signal.SIGHUP)


# (how the run ends, whether the demo itself gets to say it stopped everything)
ENDINGS: list[tuple[str, Ending, bool]] = [
    ("Ctrl+Q in the terminal's screen", _ctrl_q, True),
    ("Ctrl+C in the terminal's screen", _ctrl_c, True),
    ("SIGTERM to the demo", _signal(signal.SIGTERM), True),
    ("SIGINT to the demo", _signal(signal.SIGINT), True),
    # SIGHUP to the demo, make and the terminal's screen alike.
    ("a shell's window closing", _shell_hangup, True),
    # A closed window or a dropped SSH session without a shell: only make, the session
    # leader, gets a SIGHUP, and it waits for the demo without passing it on.
    ("the window closing", DemoWindow.close, False),
    ("SIGKILL to the demo", _signal(signal.SIGKILL), False),
]


def _run_and_end(window: DemoWindow, root: Path, ending: str, end: Ending, says_so: bool) -> Ports:
    """Bring the demo up in ``window``, end it, wait until nothing of it runs; its ports."""
    procs: dict[int, str] = {}
    guard_log = root / "logs" / "guard.log"
    try:
        window.until(window.ready_file.exists, "the terminal's login screen")
        ports = window.ports()
        procs = descendants(window.make.pid)
        # The broker, ingest, the API, jobs, the terminal, the demo and its guard.
        assert len(procs) >= 7, procs
        guarded = guard_log.read_text() if guard_log.exists() else ""
        end(window)
        window.until(lambda: not still_running(procs), f"everything gone after {ending}", 30)
        window.until(lambda: window.make.poll() is not None, f"make gone after {ending}", 10)
        if says_so:
            window.until(lambda: STOPPED in window.text(), "the demo saying so", 5)
        now = guard_log.read_text() if guard_log.exists() else ""
        # Only a demo that could not stop its children itself leaves them to its guard.
        assert (now != guarded) == (ending == "SIGKILL to the demo"), now
        return ports
    finally:
        window.kill_all(procs)


@pytest.mark.slow
def test_every_way_make_run_ends_stops_all_it_started_and_frees_its_ports(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    api_port = free_ports(1)[0]
    first: Ports | None = None
    for number, (ending, end, says_so) in enumerate(ENDINGS):
        window = DemoWindow(tmp_path, root, api_port, str(number))
        ports = _run_and_end(window, root, ending, end, says_so)
        # Each run gets the ports the last one had: it left nothing listening on them.
        first = first or ports
        assert ports == first, ending
