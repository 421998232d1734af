"""Provisioning figures: from nothing to a terminal connected over TLS, against a raw TLS connect.

Setup, all on loopback: a fleet made once by `fleet init`, its Mosquitto (TLS, client
certificates), and a stand-in HQ answering the registration contract (tests.provisioning).

- provisioning.terminal_add_s: `python -m provisioning terminal add` into an empty root (key,
  CSR signed by the fleet CA, HQ registration, the broker identity added live, service user,
  config, store and units), then the terminal's sync service started from exactly the files
  written, until the broker has accepted it over mutual TLS. Median of the rounds.
- provisioning.tls_connect_s: the baseline: a bare paho client connecting over mutual TLS
  with an already provisioned certificate (handshake and CONNACK only), median.
- provisioning.add_vs_connect_ratio: the first divided by the second.

One full run on the shared 2-core machine: 0.48 s from nothing to connected, against 9 ms for
the TLS connect alone. By the tool's own step timings most of it is writing the root (the new
store created and migrated with fsync, config, units); key, signing, registration and the
broker identity take milliseconds each.
"""

from __future__ import annotations

import ssl
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from device.config import load_config
from device.sync.client import BrokerSettings
from device.sync.service import SyncService, SyncSettings
from device.sync.storage import SyncStorage
from provisioning import ports
from provisioning.terminal_root import Layout
from tests.provisioning.fleet_support import TOKEN, FleetBroker, StandInHQ, cli


def _add_and_connect(fleet_dir: Path, root: Path, terminal: str) -> float:
    start = time.perf_counter()
    done = cli("terminal", "add", "--fleet", str(fleet_dir), "--store", "S001",
               "--terminal", terminal, "--root", str(root), "--token", TOKEN,
               "--store-name", "徐汇店")  # fmt: skip
    if done.code != 0:
        raise RuntimeError(f"terminal add failed: {done.err}")
    cfg = load_config(Layout(root).config)
    b = cfg.broker
    settings = SyncSettings(broker=BrokerSettings(
        host=b.host, port=b.port, store_id=cfg.terminal.store_id,
        terminal_id=cfg.terminal.terminal_id, ca_file=b.ca_file, cert_file=b.cert_file,
        key_file=b.key_file))  # fmt: skip
    svc = SyncService(settings, open_store=lambda: SyncStorage.open(cfg.store.db_path))
    svc.start()
    try:
        if not svc.wait(lambda s: s.connected, 30):
            raise RuntimeError(f"{terminal} did not connect: {svc.stats()}")
        return time.perf_counter() - start
    finally:
        svc.stop()


def _raw_connect(port: int, ca: Path, cert: Path, key: Path) -> float:
    connected = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.tls_set(str(ca), str(cert), str(key), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.on_connect = lambda *_a: connected.set()
    start = time.perf_counter()
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        if not connected.wait(30):
            raise RuntimeError("raw TLS connect: no CONNACK")
        return time.perf_counter() - start
    finally:
        client.disconnect()
        client.loop_stop()


def run(quick: bool) -> dict[str, float]:
    """Measure the figures named in the module docstring."""
    rounds = 3 if quick else 7
    hq = StandInHQ().start()
    adds: list[float] = []
    raws: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-prov-") as tmp:
        fleet_dir = Path(tmp) / "fleet"
        port = ports.free_ports(1)[0]
        done = cli("fleet", "init", "--fleet", str(fleet_dir), "--port", str(port),
                   "--hq-url", hq.url)  # fmt: skip
        if done.code != 0:
            raise RuntimeError(f"fleet init failed: {done.err}")
        broker = FleetBroker(fleet_dir)
        broker.start()
        try:
            for n in range(rounds):  # interleaved, so drifting load hits both alike
                root = Path(tmp) / f"pi{n}"
                adds.append(_add_and_connect(fleet_dir, root, f"S001-B{n:02d}"))
                lay = Layout(root)
                raws.append(_raw_connect(port, lay.ca, lay.cert, lay.key))
        finally:
            broker.stop()
            hq.stop()
    add, raw = statistics.median(adds), statistics.median(raws)
    return {
        "provisioning.terminal_add_s": round(add, 3),
        "provisioning.tls_connect_s": round(raw, 4),
        "provisioning.add_vs_connect_ratio": round(add / raw, 1),
    }


if __name__ == "__main__":
    print(run("--quick" in sys.argv))
