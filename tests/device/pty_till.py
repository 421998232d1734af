"""`python -m device` with its screen on a real pseudo-terminal, for the tests that stop it."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

from device.config import dump_config
from tests.device.harness import seeded_store, terminal_config

ROOT = Path(__file__).resolve().parents[2]
#: What a full-screen program writes to give the terminal back its normal screen.
LEAVE_ALT_SCREEN = b"\x1b[?1049l"


class PtyTill:
    """A till whose stdout and stderr are a pty's slave side; its stdin is the slave too, or,
    with ``stdin_pipe``, a pipe the test writes the keys into.

    The till starts in a session of its own and only inherits the slave (it never opens it), so
    the pty is not its controlling terminal: the kernel sends it no SIGHUP when the pty hangs up.
    """

    def __init__(self, tmp_path: Path, *, stdin_pipe: bool = False) -> None:
        cfg = terminal_config(tmp_path)
        seeded_store(cfg).close()
        self.db_path = Path(cfg.store.db_path)
        config = tmp_path / "terminal.toml"
        config.write_text(dump_config(cfg))
        self.log, self.ready = tmp_path / "till.log", tmp_path / "ready"
        self.output = bytearray()
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        stdin, self.keys = os.pipe() if stdin_pipe else (slave, self.master)
        env = {**os.environ, "TERM": "xterm-256color", "POS_READY_FILE": str(self.ready)}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "device", "--config", str(config), "--simulate",
                 "--log-file", str(self.log)],
                stdin=stdin, stdout=slave, stderr=slave, cwd=ROOT, env=env,
                start_new_session=True,
            )  # fmt: skip
        finally:
            os.close(slave)
            if stdin != slave:
                os.close(stdin)

    def read(self) -> bool:
        """Whatever the till wrote within 0.1 s; False once nothing more can come."""
        if self.master < 0:
            return False
        if not select.select([self.master], [], [], 0.1)[0]:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every holder of the till's side has closed it
            return False
        self.output.extend(chunk)
        return bool(chunk)

    def read_until(self, done: Callable[[], bool], what: str, timeout: float = 60) -> None:
        """Keep the pty drained until ``done`` holds, or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            tail = bytes(self.output[-2000:])
            assert time.monotonic() < deadline, f"{what} within {timeout:.0f}s: {tail!r}"
            if not self.read():
                time.sleep(0.1)  # the pty is gone: nothing to wait on but the clock

    def type(self, keys: bytes) -> None:
        """Keys as a terminal sends them (one escape sequence per call stays whole)."""
        os.write(self.keys, keys)

    def type_until_shown(self, keys: bytes, shown: str) -> None:
        """Type keys, then wait for the screen to draw ``shown`` after them."""
        since = len(self.output)
        self.type(keys)
        self.read_until(lambda: shown.encode() in self.output[since:], f"{keys!r}: {shown}")

    def hang_up(self) -> None:
        """Close the pty's master side, as a terminal emulator or sshd does when it goes: the
        kernel hangs the slave up (reads end, writes fail with EIO), with no signal."""
        os.close(self.master)
        if self.keys == self.master:
            self.keys = -1
        self.master = -1

    def end_input(self) -> None:
        """Close the till's stdin pipe: its input ends; the pty stays, to see what it writes."""
        assert self.keys != self.master, "the keys go through the pty: hang_up() instead"
        os.close(self.keys)
        self.keys = -1

    def drain_after_exit(self, timeout: float = 10) -> None:
        """Collect the rest the till wrote on its way out."""
        deadline = time.monotonic() + timeout
        while self.read() and time.monotonic() < deadline:
            pass

    def close(self) -> None:
        """Kill the till if it still runs, and close the test's ends."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for fd in {self.master, self.keys}:
            if fd >= 0:
                os.close(fd)
        self.master = self.keys = -1

    def stat(self) -> tuple[str, float, int]:
        """The till's state letter ("Z" once it has ended and is not yet reaped), the user and
        system CPU seconds it has used, and its controlling terminal (0: none), from /proc."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return fields[0], cpu, int(fields[4])
