"""The demo's child processes: started, watched over and stopped together, however the demo ends.

The ways `make run` ends, and what stops the children in each:
- the cashier quits (Ctrl+Q or Ctrl+C in the terminal's screen): the terminal exits, wait()
  returns and the demo stops the rest;
- SIGINT, SIGTERM or SIGHUP to the demo: the handler ends the run and the demo stops them all;
- the window or SSH session closes: make, the session leader between the window and the
  demo, gets the SIGHUP and waits for its child without passing it on, and the terminal's
  screen only reads end-of-file from then on (it would neither exit nor get a signal), so the
  demo watches its controlling terminal itself and ends when it hangs up;
- the demo is killed outright (SIGKILL): its guard (provisioning.demo_guard) stops them.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from provisioning.demo_guard import Guard

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
HANGUP_EXIT = 128 + signal.SIGHUP


class Stack:
    """The child processes of one demo run; stop() ends every one of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._guard: Guard | None = None
        self._holding = False
        self._pending = 0
        self._tty = _open_tty()
        self._tty_modes = _modes(self._tty)

    def catch_signals(self) -> None:
        """End the run on SIGINT (KeyboardInterrupt, as ever), SIGTERM and SIGHUP (SystemExit
        with 128 + the signal)."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._holding:
            self._pending = self._pending or signum
            return
        _end(signum)

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        # A signal between starting a child and recording it would leave that child behind.
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._pending:
            _end(self._pending)

    def spawn(self, name: str, argv: list[str], log: bool = True) -> subprocess.Popen[bytes]:
        """Start a child: with ``log``, a service in its own process group logging to logs/;
        without, in this window (the terminal's screen)."""
        with self._held():
            if self._guard is None:
                self._guard = Guard.start(self.root)
            out: Any = None
            if log:
                out = open(self.root / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - child owns it
            try:
                proc = subprocess.Popen(
                    argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL if log else None,
                    start_new_session=log,
                )  # fmt: skip
            finally:
                if out is not None:
                    out.close()
            self.procs.append((name, proc))
            self._guard.watch(proc.pid, group=log)
        return proc

    def wait(self, terminal: subprocess.Popen[bytes] | None = None) -> int:
        """Block until ``terminal`` exits (its exit code) or this window hangs up (129).

        Without a terminal, only a hangup or a signal ends the wait.
        """
        poller = select.poll()
        pidfd = -1
        if terminal is not None:
            pidfd = os.pidfd_open(terminal.pid)
            poller.register(pidfd, select.POLLIN)
        if self._tty is not None:
            poller.register(self._tty, 0)  # POLLHUP/POLLERR are always reported
        try:
            while True:
                for fd, _event in poller.poll():
                    if fd == pidfd and terminal is not None:
                        return terminal.wait()
                    return HANGUP_EXIT
        finally:
            if pidfd >= 0:
                os.close(pidfd)

    def stop(self) -> None:
        """Stop every child (SIGTERM, then SIGKILL after 8 s), then release the guard."""
        self._holding = True  # a second signal (SIGHUP after SIGTERM...) must not cut this short
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM) if _own_group(proc) else proc.terminate()
        deadline = time.monotonic() + 8
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL) if _own_group(proc) else proc.kill()
                proc.wait(5)
        if self._tty is not None and self._tty_modes is not None:
            # A terminal stopped by a signal leaves the window in its raw, no-echo mode.
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self._tty, termios.TCSADRAIN, self._tty_modes)
        if self._guard is not None:
            self._guard.release()


def _end(signum: int) -> NoReturn:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _own_group(proc: subprocess.Popen[bytes]) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return False


def _open_tty() -> int | None:
    """This window (the controlling terminal), or None when the demo runs without one."""
    try:
        return os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None


def _modes(tty: int | None) -> list[Any] | None:
    if tty is None:
        return None
    try:
        return termios.tcgetattr(tty)
    except termios.error:
        return None
