"""The demo's guard: what a killed demo started is stopped; what a clean stop released is not."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from provisioning.demo_guard import stop_all

# A stand-in demo: starts its guard and a service (a shell with a child of its own, in a
# process group of its own, as the demo's services are), says their pids, then waits.
DEMO = """
import subprocess, sys, time
from pathlib import Path
from provisioning.demo_guard import Guard
guard = Guard.start(Path(sys.argv[1]))
service = subprocess.Popen(["sh", "-c", "sleep 300 & wait"], start_new_session=True)
guard.watch(service.pid, group=True)
if sys.argv[2] == "release":
    guard.release()
print(service.pid, guard.proc.pid, flush=True)
time.sleep(300)
"""
ROOT = Path(__file__).resolve().parents[2]


def _state(pid: int) -> list[str]:
    """State, parent and process group of ``pid`` ([] once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat[stat.rindex(")") + 2 :].split()[:3]


def _running(state: list[str]) -> bool:
    return bool(state) and state[0] not in ("Z", "X")  # a zombie has ended


def _group_gone(pgid: int) -> bool:
    procs = (_state(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit())
    return not any(_running(state) and state[2] == str(pgid) for state in procs)


def _pid_gone(pid: int) -> bool:
    return not _running(_state(pid))


def _until(done: object, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _demo(root: Path, mode: str) -> tuple[subprocess.Popen[str], int, int]:
    (root / "logs").mkdir(parents=True)
    demo = subprocess.Popen([sys.executable, "-c", DEMO, str(root), mode], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert demo.stdout is not None
    service, guard = (int(x) for x in demo.stdout.readline().split())
    return demo, service, guard


def test_a_demo_killed_outright_leaves_its_guard_to_stop_its_services(tmp_path: Path) -> None:
    demo, service, guard = _demo(tmp_path, "watch")
    demo.kill()  # SIGKILL: no cleanup of its own
    demo.wait()
    # The whole group goes, the service's own child too, and the guard with it.
    assert _until(lambda: _group_gone(service)), "the service outlived the demo"
    assert _until(lambda: _pid_gone(guard)), "the guard outlived its work"
    assert "the guard stopped them" in (tmp_path / "logs" / "guard.log").read_text()


def test_a_guard_released_after_a_clean_stop_touches_nothing(tmp_path: Path) -> None:
    demo, service, guard = _demo(tmp_path, "release")
    try:
        assert _until(lambda: _pid_gone(guard)), "a released guard exits"
        demo.kill()
        demo.wait()
        assert not _group_gone(service)
        assert not (tmp_path / "logs" / "guard.log").exists()
    finally:
        os.killpg(service, signal.SIGKILL)


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace() -> None:
    child = subprocess.Popen(["sh", "-c", "trap '' TERM; echo ready; sleep 300 & wait"],
                             start_new_session=True, stdout=subprocess.PIPE)  # fmt: skip
    assert child.stdout is not None
    child.stdout.readline()  # the trap is set
    stop_all([(True, child.pid)], grace=0.5)
    assert child.wait(30) == -signal.SIGKILL
    assert _until(lambda: _group_gone(child.pid))
