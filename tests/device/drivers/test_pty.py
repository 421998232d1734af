"""The pseudo-terminal pair behind every simulated serial device."""

from __future__ import annotations

import os
import select

import serial

from device.drivers.sim.pty import PtyPair, SerialSimulator


def _read(fd: int, n: int, timeout: float = 1.0) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, n) if ready else b""


def test_pair_is_raw_no_echo_no_newline_translation() -> None:
    pair = PtyPair()
    try:
        port = serial.Serial(pair.path, 9600, timeout=1)
        port.write(b"a\r\n\x03\x1a\x11\x13")  # CR, LF, ^C, ^Z, XON, XOFF pass through as data
        port.flush()
        assert _read(pair.master_fd, 64) == b"a\r\n\x03\x1a\x11\x13"
        os.write(pair.master_fd, b"\r\x04\x10\x04\x01")
        assert port.read(5) == b"\r\x04\x10\x04\x01"
        assert _read(pair.master_fd, 64, 0.1) == b""  # nothing echoed back
        port.close()
    finally:
        pair.remove()
    assert not os.path.lexists(pair.path)


def test_path_is_stable_across_unplug_and_replug() -> None:
    received: list[bytes] = []

    class Recorder(SerialSimulator):
        def on_bytes(self, data: bytes) -> None:
            received.append(data)

    with Recorder() as sim:
        path = sim.path
        sim.unplug()
        assert not sim.plugged
        sim.replug()
        assert sim.plugged and sim.path == path
        port = serial.Serial(path, 9600, timeout=1)
        port.write(b"hello")
        port.flush()
        port.close()
        deadline = 250  # up to 5 s: the machine is shared and may be busy
        while b"".join(received) != b"hello" and deadline:
            select.select([], [], [], 0.02)
            deadline -= 1
        assert b"".join(received) == b"hello"
