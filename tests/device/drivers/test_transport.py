"""Byte transports over real endpoints: a pty, a TCP socket, a file."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from device.drivers.errors import DeviceUnavailable
from device.drivers.sim.pty import SerialSimulator
from device.drivers.transport import FileTransport, SerialTransport, TcpTransport, Transport


class _Echo(SerialSimulator):
    def on_bytes(self, data: bytes) -> None:
        self.send(data[::-1])


def test_serial_transport_over_a_pty_round_trips_binary() -> None:
    with _Echo() as sim:
        port = SerialTransport(sim.path, 115200)
        assert isinstance(port, Transport)
        port.open()
        port.write(b"\x00\x1b\x10\x04\n\xff")
        got = b""
        deadline = time.monotonic() + 30  # a deadline for a busy machine
        while len(got) < 6 and time.monotonic() < deadline:
            got += port.read(16, 0.2)
        assert got == b"\xff\n\x04\x10\x1b\x00"
        assert port.read(16, 0.05) == b""
        port.close()


def test_serial_unplug_is_device_unavailable_and_replug_reopens() -> None:
    with _Echo() as sim:
        port = SerialTransport(sim.path)
        port.open()
        sim.unplug()
        with pytest.raises(DeviceUnavailable):
            port.write(b"x")
            port.read(1, 0.5)
        assert not port.is_open
        with pytest.raises(DeviceUnavailable, match="cannot open serial port"):
            port.open()
        sim.replug()
        port.open()
        port.write(b"ab")
        assert port.read(2, 1.0) == b"ba"
        port.close()


def test_discarding_input_on_a_pulled_port_is_device_unavailable() -> None:
    """tcflush on a pty whose master is gone fails with termios.error (EIO), not OSError;
    the driver must see DeviceUnavailable and reopen, not keep using a dead descriptor."""
    with _Echo() as sim:
        port = SerialTransport(sim.path)
        port.open()
        sim.unplug()
        with pytest.raises(DeviceUnavailable, match="Input/output error"):
            port.discard_input()
        assert not port.is_open


def test_a_second_opener_of_a_serial_port_is_told_it_is_busy() -> None:
    """Two processes writing one printer would interleave their receipts: the second waits."""
    with _Echo() as sim:
        first, second = SerialTransport(sim.path), SerialTransport(sim.path)
        first.open()
        with pytest.raises(DeviceUnavailable, match=f"cannot open serial port {sim.path}"):
            second.open()
        first.close()
        second.open()  # free again once the first lets go
        second.write(b"ok")
        got = b""
        deadline = time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < deadline:
            got += second.read(2, 0.2)
        assert got == b"ko"
        second.close()


def test_tcp_transport_talks_to_a_socket() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    host, port_no = server.getsockname()[:2]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.sendall(conn.recv(16).upper())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    tcp = TcpTransport(host, port_no)
    tcp.open()
    tcp.write(b"status")
    assert tcp.read(16, 2.0) == b"STATUS"
    with pytest.raises(DeviceUnavailable, match="closed the connection"):
        tcp.read(16, 2.0)
    thread.join()
    server.close()
    with pytest.raises(DeviceUnavailable, match="cannot connect"):
        TcpTransport(host, port_no).open()


def test_file_transport_appends_and_has_no_answers(tmp_path) -> None:
    path = tmp_path / "lp0"
    out = FileTransport(str(path))
    out.open()
    out.write(b"\x1b@abc")
    out.write(b"\n")
    assert out.read(4, 0.1) == b""
    out.close()
    assert path.read_bytes() == b"\x1b@abc\n"
    with pytest.raises(DeviceUnavailable, match="cannot open"):
        FileTransport(str(tmp_path / "missing" / "lp0")).open()
