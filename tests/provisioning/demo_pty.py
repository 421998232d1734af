"""`make run` in a real pseudo-terminal window: make as its session leader, as in a terminal app."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _start_time(pid: int) -> str | None:
    """The process's start time (tells it from a later one with the same pid); None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return None if fields[0] in ("Z", "X") else fields[19]  # a zombie has ended


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    return parents


def descendants(pid: int) -> dict[int, str]:
    """Every process below ``pid`` now, each with its start time."""
    parents = _parents()
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        parent = todo.pop()
        for child, ppid in parents.items():
            if ppid == parent and (start := _start_time(child)) is not None:
                found[child] = start
                todo.append(child)
    return found


def still_running(procs: dict[int, str]) -> list[str]:
    """The command lines of those of ``procs`` that have not ended."""
    left = []
    for pid, start in procs.items():
        if _start_time(pid) == start:
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
                left.append(f"{pid} {cmd.decode(errors='replace')}")
    return left


class DemoWindow:
    """`make run` (the demo under ``root``) in a pseudo-terminal this test holds the master of."""

    def __init__(self, tmp: Path, root: Path, api_port: int, name: str) -> None:
        makefile = tmp / "Makefile"
        # The project Makefile's `run` recipe, with this test's directory and port.
        makefile.write_text(
            f"run:\n\t{sys.executable} -m provisioning.demo --root {root} --api-port {api_port}\n"
        )
        self.ready_file = tmp / f"ready-{name}"
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 110, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "POS_READY_FILE": str(self.ready_file)}
        try:
            # setsid -c: make leads a new session with this pty as its controlling terminal.
            self.make = subprocess.Popen(
                ["setsid", "-c", "make", "-s", "-f", str(makefile), "run"],
                stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env,
            )  # fmt: skip
        finally:
            os.close(slave)
        self.output = bytearray()

    def _drain(self, timeout: float) -> None:
        if self.master < 0:
            time.sleep(timeout)
            return
        if select.select([self.master], [], [], timeout)[0]:
            try:
                self.output += os.read(self.master, 65536)
            except OSError:  # EIO: nothing holds the window open any more
                time.sleep(timeout)

    def until(self, done: Callable[[], object], what: str, timeout: float = 90) -> None:
        """Read the window until ``done()`` holds; fail naming ``what`` at the deadline."""
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s:\n{self.tail()}"
            self._drain(0.1)

    def text(self) -> str:
        """The window's output so far, without the screen's escape sequences."""
        raw = self.output.decode(errors="replace")
        return re.sub(r"\x1b\[[0-9;?<>=$]*[A-Za-z]|\x1b[()][A-Z0-9]", "", raw)

    def tail(self) -> str:
        """The end of the output, for a failure's message."""
        return self.text()[-4000:]

    def ports(self) -> tuple[int, int]:
        """The broker's and the HQ page's ports, from the banner."""
        broker = re.search(r"broker\s+mqtts://127\.0\.0\.1:(\d+)", self.text())
        api = re.search(r"HQ page\s+http://127\.0\.0\.1:(\d+)/", self.text())
        assert broker and api, self.tail()
        return int(broker.group(1)), int(api.group(1))

    def demo_pid(self) -> int:
        """The demo's own process (make's child)."""
        kids = [pid for pid in descendants(self.make.pid) if _is_demo(pid)]
        assert len(kids) == 1, kids
        return kids[0]

    def type(self, keys: bytes) -> None:
        """Keys typed into the window."""
        os.write(self.master, keys)

    def close(self) -> None:
        """Close the window: the pty's master goes, which hangs its terminal up."""
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def kill_all(self, procs: dict[int, str]) -> None:
        """Whatever is left of a failed run (only the processes it started), and the window."""
        for line in still_running(procs):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.make.kill()
        self.make.wait(10)
        self.close()


def _is_demo(pid: int) -> bool:
    try:
        return b"provisioning.demo\0--root" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
