"""Wrong PINs survive a SIGKILL: each failure is counted on disk before the till answers."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from device.checkout.records import Role
from device.store.store import Store
from tests.device.store.builders import FakeClock, store_config


def _guess_then_hang(path: Path, guesses: int, write_fd: int) -> None:
    """Child: enter ``guesses`` wrong PINs, report each answer, then wait to be killed."""
    store = Store.open(path, store_config(), clock=FakeClock())
    for _ in range(guesses):
        result = store.staff.verify("C01", "0000")
        os.write(write_fd, f"{result.attempts_left}\n".encode())
    os.write(write_fd, b"done\n")
    signal.pause()


def _killed_after(path: Path, guesses: int) -> list[str]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        os.close(read_fd)
        try:
            _guess_then_hang(path, guesses, write_fd)
        finally:
            os._exit(1)
    os.close(write_fd)
    data = b""
    while b"done\n" not in data:
        chunk = os.read(read_fd, 1024)
        assert chunk, f"child died early: {data!r}"
        data += chunk
    os.kill(pid, signal.SIGKILL)  # no close, no clean shutdown: a power cut at the till
    _, status = os.waitpid(pid, 0)
    os.close(read_fd)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    return data.decode().split()[:-1]


def test_failed_attempts_and_the_lockout_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "terminal.db"
    clock = FakeClock()
    store = Store.open(path, store_config(), create=True, clock=clock)
    store.staff.add_staff("C01", "李雷", Role.CASHIER, "4821")
    store.close()

    assert _killed_after(path, 3) == ["4", "3", "2"]  # the default policy allows 5 attempts
    assert _killed_after(path, 1) == ["1"]  # the count went on from 3 after the kill
    assert _killed_after(path, 1) == ["0"]  # the fifth wrong PIN locks the account

    store = Store.open(path, store_config(), clock=clock)
    result = store.staff.verify("C01", "4821")
    assert not result.ok and result.locked_until is not None  # the right PIN waits too
    clock.advance(minutes=16)
    assert store.staff.verify("C01", "4821").ok
    store.close()
