"""The cloud's MQTT client factory: a session kept at the broker, Nagle off on the socket."""

from __future__ import annotations

import socket
import threading

from cloud.mqtt import BrokerSettings, connect_properties, make_client
from tests.broker import Broker


def test_cloud_clients_send_small_packets_without_delay(broker: Broker) -> None:
    settings = BrokerSettings(host=broker.host, port=broker.port, username="ingest",
                              password=broker.password("ingest"))  # fmt: skip
    client = make_client(settings, "nodelay-check")
    connected = threading.Event()
    client.on_connect = lambda _c, _u, _f, rc, _p: connected.set() if not rc.is_failure else None
    client.connect(broker.host, broker.port, clean_start=True, properties=connect_properties(0))
    client.loop_start()
    try:
        assert connected.wait(10)
        sock = client.socket()
        assert sock is not None
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        client.disconnect()
        client.loop_stop()
