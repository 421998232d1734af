"""Listen ports: a port is taken only while something listens on it."""

from __future__ import annotations

import socket

from provisioning.ports import ephemeral_range, free_port, free_ports


def test_a_server_port_just_closed_is_free_again_despite_its_lingering_connections() -> None:
    port = free_ports(1)[0]
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as mosquitto and uvicorn
        server.bind(("127.0.0.1", port))
        server.listen()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            conn, _ = server.accept()
            conn.close()  # the server ends the connection: its side lingers in TIME_WAIT
            assert client.recv(1) == b""
    # The next `make run` must find its HQ page and broker on the same ports as the last.
    assert free_port(port) == port


def test_a_port_with_a_listener_is_not_free() -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        taken = server.getsockname()[1]
        other = free_port(taken)
    lo, hi = ephemeral_range()
    assert other != taken
    assert not lo <= other <= hi
