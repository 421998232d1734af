"""The pseudo-terminal pair behind every simulated serial device."""

from __future__ import annotations

import os
import select

import pytest
import serial

from device.drivers.sim.pty import PtyPair, SerialSimulator


def _read(fd: int, n: int, timeout: float = 30.0) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout)
    return os.read(fd, n) if ready else b""


def test_pair_is_raw_no_echo_no_newline_translation() -> None:
    pair = PtyPair()
    try:
        port = serial.Serial(pair.path, 9600, timeout=30)
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
        port = serial.Serial(path, 9600, timeout=30)
        port.write(b"hello")
        port.flush()
        port.close()
        deadline = 1500  # up to 30 s: the machine is shared and may be busy
        while b"".join(received) != b"hello" and deadline:
            select.select([], [], [], 0.02)
            deadline -= 1
        assert b"".join(received) == b"hello"


def test_an_unplugged_devices_path_leads_nowhere_not_to_a_newer_pty() -> None:
    """The kernel gives a freed /dev/pts number to the next pty opened anywhere on the machine.

    A link left pointing at it after unplug would let a driver reopening the path talk to
    another test's (or process's) device: a receipt "printed" while its printer is unplugged.
    """
    with SerialSimulator() as sim:
        path = sim.path
        sim.unplug()
        newer = PtyPair()  # most likely given the number just freed
        try:
            assert not os.path.lexists(path)
            with pytest.raises(serial.SerialException):
                serial.Serial(path, 9600, timeout=0.1)
        finally:
            newer.remove()
        sim.replug()
        assert os.path.exists(path) and sim.plugged
