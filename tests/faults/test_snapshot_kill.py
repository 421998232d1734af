"""SIGKILL during a member snapshot load: after restart the old or the new cache, never a mix."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

from device.store.store import Store
from tests.device.store.builders import FakeClock, store_config

INDEXES = {"member_id_idx", "member_phone_idx", "member_code_idx"}


def _members(n: int, generation: int) -> list[dict[str, Any]]:
    return [
        {"member_id": f"M{i:07d}", "phone": f"13{generation}{i:08d}", "name": f"会员{i}",
         "member_code": f"QR{generation}-{i}", "cards": [f"C{generation}-{i}"]}
        for i in range(n)
    ]  # fmt: skip


def _load_in_child(path: Path, n: int, generation: int) -> tuple[int, int]:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        os.close(read_fd)
        try:
            store = Store.open(path, store_config(check="none"), clock=FakeClock())
            items = _members(n, generation)
            os.write(write_fd, b"loading\n")
            store.load_member_snapshot(items, version=generation, batch_size=5_000)
            os.write(write_fd, b"done\n")
            signal.pause()
        finally:
            os._exit(1)
    os.close(write_fd)
    return pid, read_fd


def _state(path: Path) -> tuple[int, int]:
    """(members, stream version) after checking the cache is whole and usable."""
    store = Store.open(path, store_config(check="full"), clock=FakeClock())
    try:
        count, version = store.members.count(), store.stream_version("members")
        names = {row[1] for row in store.db.query("PRAGMA index_list(member)")}
        assert names >= INDEXES, f"member indexes missing after the kill: {names}"
        last = f"M{count - 1:07d}"
        member = store.members.by_card(f"C{version}-{count - 1}")
        assert member is not None and member.member_id == last
        assert store.members.by_phone(f"13{version}{count - 1:08d}") == member
        return count, version
    finally:
        store.close()


def test_a_killed_snapshot_load_leaves_the_old_or_the_new_cache(tmp_path: Path) -> None:
    path = tmp_path / "terminal.db"
    store = Store.open(path, store_config(), create=True, clock=FakeClock())
    store.load_member_snapshot(_members(1_000, 1), version=1)
    store.close()
    expected = (1_000, 1)
    outcomes = []
    # From early in the batches to past the end (a 60,000-member load takes ~0.4 s here).
    for generation, delay in enumerate((0.01, 0.1, 0.2, 0.3, 0.4, 0.8), start=2):
        size = 60_000 + generation
        pid, fd = _load_in_child(path, size, generation)
        assert os.read(fd, 64).startswith(b"loading")
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        finished = b"done" in os.read(fd, 64)
        os.close(fd)
        state = _state(path)
        assert state in (expected, (size, generation))
        assert not finished or state == (size, generation)
        outcomes.append(state == expected)
        expected = state
    assert any(outcomes), "no kill landed inside a load: the test checked nothing"
