"""Test support for certificate renewal: a provisioned till's sync service, independent clients."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from device.config import load_config
from device.sync.client import BrokerSettings
from device.sync.service import SyncService, SyncSettings
from device.sync.storage import SyncStorage
from protocol import enrol
from provisioning import certs
from provisioning.certs import CertPair
from provisioning.fleet import Fleet
from provisioning.terminal_root import Layout
from tests.mqtt_client import MqttClient, Received
from tests.provisioning.conftest import FleetEnv

DUE_DAYS = "10"  # issued long ago: ten days left, inside the 30-day renewal window


def layout_of(env: FleetEnv, terminal: str) -> Layout:
    """Where provision put the terminal's root."""
    return Layout(env.tmp / f"root-{terminal}")


def provision(env: FleetEnv, terminal: str, store: str = "S001", days: str = DUE_DAYS) -> Layout:
    """`terminal add` into a root of its own; its certificate ends in `days` days."""
    layout = layout_of(env, terminal)
    done = env.add(terminal, store, layout.root, "--days", days)
    assert done.code == 0, done.out + done.err
    return layout


def pair(layout: Layout) -> CertPair:
    """The till's current certificate and key files."""
    return CertPair(layout.cert, layout.key)


def copy_pair(layout: Layout, where: Path) -> CertPair:
    """A copy of the till's current pair (to show later what it still can do)."""
    kept = CertPair(where / f"{layout.root.name}.crt", where / f"{layout.root.name}.key")
    kept.cert.write_bytes(layout.cert.read_bytes())
    kept.key.write_bytes(layout.key.read_bytes())
    return kept


@contextmanager
def till(layout: Layout, **settings: Any) -> Iterator[SyncService]:
    """The till's sync service, started from exactly the files `terminal add` wrote."""
    cfg = load_config(layout.config)
    b = cfg.broker
    broker = BrokerSettings(
        host=b.host, port=b.port, store_id=cfg.terminal.store_id,
        terminal_id=cfg.terminal.terminal_id, ca_file=b.ca_file, cert_file=b.cert_file,
        key_file=b.key_file, reconnect_min_s=1, reconnect_max_s=2,
    )  # fmt: skip
    svc = SyncService(SyncSettings(broker=broker, **settings),
                      open_store=lambda: SyncStorage.open(layout.db))  # fmt: skip
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


def client(fleet: Fleet, who: CertPair) -> MqttClient:
    """An independent MQTT client presenting this certificate, connected."""
    c = MqttClient("127.0.0.1", fleet.settings.broker_port, username=None, password=None,
                   ca_file=fleet.ca_cert, client_cert=who)  # fmt: skip
    c.connect()
    return c


def admin(fleet: Fleet) -> MqttClient:
    """An independent client holding the fleet's admin identity."""
    return client(fleet, fleet.service_pair("admin"))


def signer(fleet: Fleet) -> MqttClient:
    """An independent client holding the fleet's signer identity."""
    return client(fleet, fleet.service_pair("signer"))


def retained(fleet: Fleet, topic: str, reader: CertPair | None = None) -> bytes:
    """The payload retained on topic now (b"" if none), read by a fresh client (the signer's
    for renew topics, the admin's for status, unless reader is given: a terminal reads its own
    cert topic)."""
    # One identity is one client id at this broker (a second signer would knock off the first).
    own = admin if topic.endswith("/status") else signer
    watcher = client(fleet, reader) if reader else own(fleet)
    marker = own(fleet) if reader else watcher
    try:
        assert not watcher.subscribe(topic).is_failure
        # Retained messages come before anything published after the SUBACK: an unretained
        # marker from the admin (who may send on every topic read here) says they are all in.
        assert not marker.publish(topic, b"marker").is_failure
        watcher.wait_for(lambda m: m.topic == topic and m.payload == b"marker")
        got: list[Received] = [m for m in watcher.messages if m.topic == topic and m.retain]
        return got[-1].payload if got else b""
    finally:
        marker.close()
        watcher.close()


def request_for(terminal: str) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A fresh key and a PEM signing request for it naming terminal."""
    key = certs.new_key()
    return key, enrol.csr_pem(key, terminal)


def registry_serial(env: FleetEnv, terminal: str) -> str:
    """The serial the fleet's registry holds as the terminal's current certificate."""
    return env.fleet.registry().terminals[terminal].serial


def file_serial(layout: Layout) -> str:
    """The serial of the certificate file the till holds."""
    return certs.serial_hex(certs.load_cert(layout.cert))


def mosquitto_pub(fleet: Fleet, who: CertPair, topic: str, payload: bytes) -> str:
    """Publish retained at QoS 1 with Mosquitto's own client holding who; what it printed."""
    done = subprocess.run(
        ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(fleet.settings.broker_port),
         "--cafile", str(fleet.ca_cert), "--cert", str(who.cert), "--key", str(who.key),
         "-V", "mqttv5", "-q", "1", "-t", topic, "-s", "-r"],
        input=payload, capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    return (done.stdout + done.stderr).decode()
