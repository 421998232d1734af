"""The screen's terminal driver on real ptys and pipes: an input error or the end of input ends
its key loop and is told to the app once; output to a terminal that has gone is dropped."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Iterator

import pytest
from textual import events

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


class Screen(Watcher):
    """Also takes the keys the driver posts, as the app's message queue would."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []
        self.pastes: list[str] = []

    async def _post_message(self, message: object) -> bool:
        if isinstance(message, events.Key):
            self.keys.append(message.character or message.key)
        elif isinstance(message, events.Paste):
            self.pastes.append(message.text)
        return True


def _unread(fd: int) -> int:
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


async def _typed(screen: Screen, chunks: list[bytes]) -> None:
    """Write ``chunks`` into a pipe the driver reads, each once the driver has read the one
    before (so each is a read of its own), then end the input; wait for the key loop."""
    read_end, write_end = os.pipe()
    till = TillDriver(screen)
    till.fileno = read_end
    loop = asyncio.get_running_loop()
    try:
        keys = loop.run_in_executor(None, till.run_input_thread)
        for chunk in chunks:
            os.write(write_end, chunk)
            deadline = loop.time() + 30
            while _unread(read_end) and not keys.done() and loop.time() < deadline:
                await asyncio.sleep(0.01)
            if keys.done():
                break  # it ended: what it says is below
            assert not _unread(read_end), "the key loop never read its input"
        os.close(write_end)
        write_end = -1
        await asyncio.wait_for(keys, 30)
    finally:
        if write_end >= 0:
            os.close(write_end)
        os.close(read_end)


def _type(chunks: list[bytes]) -> Screen:
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTSTP, signal.SIGCONT)}
    screen = Screen()
    try:
        asyncio.run(_typed(screen, chunks))
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    return screen


def test_a_character_split_across_two_reads_is_one_key_and_the_loop_goes_on() -> None:
    # A member's name typed in Chinese: 张 is three bytes, and a read can end after the first.
    name = "张三".encode()
    screen = _type([name[:1], name[1:], b"1"])
    assert screen.keys == ["张", "三", "1"]
    assert screen.reasons == ["end of input"]


def test_bytes_that_are_no_utf8_show_as_one_mark_and_lose_no_key() -> None:
    screen = _type([b"1\xff2", "张".encode()[:2] + b"3"])
    assert screen.keys == ["1", "\ufffd", "2", "\ufffd", "3"]
    assert screen.reasons == ["end of input"]


def test_an_escape_sequence_or_a_paste_split_across_reads_is_still_one_key() -> None:
    f3, paste = b"\x1bOR", "\x1b[200~会员 张三\x1b[201~".encode()
    screen = _type([f3[:2], f3[2:], paste[:9], paste[9:20], paste[20:], b"9"])
    assert screen.keys == ["f3", "9"]
    assert screen.pastes == ["会员 张三"]
