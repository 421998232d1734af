"""The demo's guard: stops every process the demo started when the demo dies without doing so.

A SIGKILL (or a crash) gives `make run` no chance to stop its broker, cloud services and
terminal, and they would keep the ports the next `make run` needs. So the demo first starts
this small process in a session of its own (a closed window or Ctrl+C never reaches it) and
writes each child it starts down a pipe that only the demo holds open. The pipe's end is the
demo's end: when the demo stopped its children itself it says "release" first and the guard
just exits; otherwise the guard sends SIGTERM to every child (to the whole process group of
each service, so their own helpers go too), then SIGKILL to whatever is left after a grace.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

#: Seconds the children get to stop on SIGTERM before SIGKILL (as the demo's own stop).
GRACE = 8.0
RELEASE = "release"


class Guard:
    """The demo's side of the guard: tells it each child, and releases it after a clean stop."""

    def __init__(self, proc: subprocess.Popen[bytes], pipe: IO[str]) -> None:
        self.proc = proc
        self._pipe = pipe

    @classmethod
    def start(cls, root: Path) -> Guard:
        """Start the guard for the demo under ``root`` (it logs to root/logs/guard.log)."""
        read_end, write_end = os.pipe()  # not inherited: only the demo holds the write end
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "provisioning.demo_guard", str(root)],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        return cls(proc, os.fdopen(write_end, "w", buffering=1))

    def watch(self, pid: int, group: bool) -> None:
        """Have the guard stop ``pid`` (its process group if ``group``) should the demo die."""
        self._send(f"{'group' if group else 'process'} {pid}\n")

    def release(self) -> None:
        """The demo stopped its children itself: the guard exits without touching anything."""
        self._send(f"{RELEASE}\n")
        with contextlib.suppress(OSError):
            self._pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    def _send(self, line: str) -> None:
        # A guard that is gone (killed by hand) must not stop the demo itself.
        with contextlib.suppress(OSError):
            self._pipe.write(line)


def _signal(targets: list[tuple[bool, int]], sig: int) -> bool:
    """Send ``sig`` to each target; True while any of them is still there."""
    alive = False
    for group, pid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig) if group else os.kill(pid, sig)
            alive = True
    return alive


def stop_all(targets: list[tuple[bool, int]], grace: float = GRACE) -> None:
    """SIGTERM every target, then SIGKILL those still there after ``grace`` seconds."""
    if not _signal(targets, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _signal(targets, 0):
            return
        time.sleep(0.1)
    _signal(targets, signal.SIGKILL)


def read_targets(lines: IO[str]) -> list[tuple[bool, int]] | None:
    """The children the demo named until its pipe ended; None when it released the guard."""
    targets: list[tuple[bool, int]] = []
    for line in lines:
        kind, _, pid = line.strip().partition(" ")
        if kind == RELEASE:
            return None
        if kind in ("group", "process") and pid.isdigit():
            targets.append((kind == "group", int(pid)))
    return targets


def main(argv: list[str] | None = None) -> int:
    """Wait for the demo's pipe to end; stop its children unless it released them."""
    args = sys.argv[1:] if argv is None else argv
    # Ctrl+C aimed at the demo's terminal window is not for the guard (nor a stray SIGHUP).
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    targets = read_targets(sys.stdin)
    if not targets:
        return 0
    stop_all(targets)
    if args:
        with (
            contextlib.suppress(OSError),
            open(Path(args[0]) / "logs" / "guard.log", "a") as log,
        ):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            print(f"{stamp} the demo ended without stopping {len(targets)} processes: "
                  "the guard stopped them", file=log)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
