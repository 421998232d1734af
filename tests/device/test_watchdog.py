"""systemd's notify protocol on a real unix datagram socket: readiness, and pings only while alive.

The real processes (`python -m device` headless, `python -m device.sync`) are started with
NOTIFY_SOCKET pointing at a socket this test holds, as systemd would for Type=notify with
WatchdogSec=; what arrives there is what systemd would see.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.config import BrokerSection, dump_config
from device.watchdog import Watchdog, notify
from tests.broker import Broker
from tests.device.harness import seeded_store, terminal_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(0.2)
    try:
        yield sock, path
    finally:
        sock.close()


def _collect(sock: socket.socket, until: float, want: int = 10**9) -> list[str]:
    got: list[str] = []
    while time.monotonic() < until and len(got) < want:
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            continue
    return got


def test_notify_speaks_the_protocol_on_path_and_abstract_sockets(
    notify_socket: tuple[socket.socket, str],
) -> None:
    sock, path = notify_socket
    assert notify("READY=1", {"NOTIFY_SOCKET": path})
    assert sock.recv(100) == b"READY=1"
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    abstract.bind(f"\0pos-test-{time.monotonic_ns()}")
    name = abstract.getsockname()  # b"\0pos-test-..."
    try:
        assert notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name[1:].decode()})
        assert abstract.recv(100) == b"WATCHDOG=1"
    finally:
        abstract.close()
    assert not notify("READY=1", {})  # not under systemd: nothing to do


def test_pings_stop_when_one_loop_stalls(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    now = [100.0]
    beats = {"runtime": 100.0, "sync": 100.0}
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000"}  # WatchdogSec=4
    dog = Watchdog({k: (lambda k=k: beats[k]) for k in beats}, env=env, clock=lambda: now[0])
    now[0] = 101.0
    beats.update(runtime=100.5, sync=100.9)
    assert dog.tick()
    assert sock.recv(100) == b"READY=1\nSTATUS=running"
    assert sock.recv(100) == b"WATCHDOG=1"
    now[0] = 104.0
    beats["runtime"] = 103.9  # the till turns; sync has not moved for 3.1 s > 2 s
    assert not dog.tick()
    assert sock.recv(100) == b"STATUS=stalled: sync"
    with pytest.raises(TimeoutError):
        sock.recv(100)  # no WATCHDOG=1: systemd will restart the service
    beats["sync"] = 104.0
    assert dog.tick() and sock.recv(100) == b"WATCHDOG=1"


def test_a_watchdog_for_another_pid_stays_silent() -> None:
    dog = Watchdog({}, env={"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000",
                            "WATCHDOG_PID": "1"})  # fmt: skip
    assert dog.interval_s is None


def test_the_sync_process_says_ready_then_keeps_pinging(
    broker: Broker, tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    db = tmp_path / "terminal.db"
    from device.store.db import open_database

    open_database(db, create=True).close()
    proc = subprocess.Popen(
        [sys.executable, "-m", "device.sync", "--db", str(db), "--port", str(broker.port),
         "--store", "S001", "--terminal", "S001-T01", "--password", broker.password("S001-T01")],
        cwd=ROOT, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000", "PATH": "/usr/bin"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        got = _collect(sock, time.monotonic() + 30, want=4)
    finally:
        proc.terminate()
        proc.wait(20)
    assert got[0] == "READY=1\nSTATUS=running", got
    assert got[1:4] == ["WATCHDOG=1"] * 3, got
    assert "STOPPING=1" in _collect(sock, time.monotonic() + 2)


def test_the_till_says_ready_then_keeps_pinging(
    broker: Broker, tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    section = BrokerSection(port=broker.port, password=broker.password("S001-T01"))
    cfg = terminal_config(tmp_path, section)
    seeded_store(cfg).close()
    config = tmp_path / "terminal.toml"
    config.write_text(dump_config(cfg))
    proc = subprocess.Popen(
        [sys.executable, "-m", "device", "--config", str(config), "--headless"],
        cwd=ROOT, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000", "PATH": "/usr/bin"},
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        got = _collect(sock, time.monotonic() + 40, want=3)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(30)
    assert got == ["READY=1\nSTATUS=running", "WATCHDOG=1", "WATCHDOG=1"], got
