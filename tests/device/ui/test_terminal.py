"""The screen's terminal driver on real ptys and pipes: an input error or the end of input ends
its key loop and is told to the app once; output to a terminal that has gone is dropped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator

import pytest

from device.ui.terminal import TerminalOutput, TillDriver


class Watcher:
    """Stands in for the cashier screen: records what the driver tells it."""

    def __init__(self) -> None:
        self.reasons: list[str] = []

    def terminal_gone(self, reason: str) -> None:
        self.reasons.append(reason)


@pytest.fixture
def driver() -> Iterator[tuple[TillDriver, Watcher]]:
    # Textual's driver puts in its own job-control handlers: the test process gets its back.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTSTP, signal.SIGCONT)}
    watcher = Watcher()

    async def make() -> TillDriver:
        return TillDriver(watcher)

    try:
        yield asyncio.run(make()), watcher
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_an_input_error_ends_the_key_loop_and_is_told_once(
    driver: tuple[TillDriver, Watcher],
) -> None:
    till, watcher = driver
    master, slave = os.openpty()
    os.close(slave)  # a pty master with no slave left reads EIO on Linux
    try:
        till.fileno = master
        till.run_input_thread()  # returns, instead of ending in a traceback
    finally:
        os.close(master)
    assert watcher.reasons == [f"input error: {os.strerror(5)}"]


def test_the_end_of_input_ends_the_key_loop(driver: tuple[TillDriver, Watcher]) -> None:
    till, watcher = driver
    read_end, write_end = os.pipe()
    os.close(write_end)
    try:
        till.fileno = read_end
        till.run_input_thread()  # returns, instead of reading nothing for ever
    finally:
        os.close(read_end)
    assert watcher.reasons == ["end of input"]


def test_output_to_a_hung_up_terminal_is_dropped_and_told_once() -> None:
    watcher = Watcher()
    master, slave = os.openpty()
    screen = open(slave, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        output = TerminalOutput(screen, watcher.terminal_gone)
        output.write("drawn\n")
        output.flush()
        assert os.read(master, 100).startswith(b"drawn")
        os.close(master)  # the slave is hung up: writes fail with EIO
        for _ in range(3):
            assert output.write("more\n") == len("more\n")
            output.flush()
    finally:
        with contextlib.suppress(OSError):  # its buffer could not be written either
            screen.close()
    assert watcher.reasons == [f"output error: {os.strerror(5)}"]
