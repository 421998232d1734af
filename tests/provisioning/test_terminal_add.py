"""`terminal add` end to end: provision into a temporary root, run what was written, sell, see it.

Real parts only: the broker runs the config `fleet init` wrote (TLS, client certificates), the
terminal is `python -m device` started from the written config and key, the cloud is the real
ingest worker authenticating with its own certificate, files are checked on disk.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings
from device.config import load_config
from device.store.store import Store, StoreConfig
from protocol.envelope import parse_utc
from provisioning import certs, demo_data
from provisioning.demo import seed_store
from provisioning.terminal_root import Layout
from tests.provisioning.conftest import FleetEnv

ROOT = Path(__file__).resolve().parents[2]
WATER = str(demo_data.products()[0]["barcodes"][0])


def _ingest(env: FleetEnv, db_url: str) -> IngestWorker:
    fleet = env.fleet
    pair = fleet.service_pair("ingest")
    settings = BrokerSettings(
        host="127.0.0.1", port=fleet.settings.broker_port, tls_ca=str(fleet.ca_cert),
        tls_cert=str(pair.cert), tls_key=str(pair.key),
    )  # fmt: skip
    worker = IngestWorker(db_url, settings, client_id="ingest")
    worker.start()
    return worker


def _until(check: Any, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        time.sleep(0.05)


def test_a_provisioned_terminal_sells_over_mutual_tls_and_the_cloud_has_the_sale(
    fleet_env: FleetEnv, tmp_path: Path
) -> None:
    root = tmp_path / "pi"
    done = fleet_env.add("S001-T03", root=root)
    assert done.code == 0, done.err
    layout = Layout(root)
    # The catalogue and staff would come down from HQ; seed them as the demo does.
    store = Store.open(layout.db, StoreConfig(terminal_id="S001-T03"))
    seed_store(store)
    store.close()
    worker = _ingest(fleet_env, f"sqlite:///{tmp_path}/cloud.db")
    proc = subprocess.Popen(
        [sys.executable, "-m", "device", "--config", str(layout.config), "--headless"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None

    def do(command: dict[str, Any]) -> dict[str, Any]:
        proc.stdin.write(json.dumps(command) + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        return dict(json.loads(proc.stdout.readline()))  # type: ignore[union-attr]

    try:
        assert "ready" in json.loads(proc.stdout.readline())
        do({"event": "Login", "args": {"staff_id": "2001", "pin": "1234"}})
        manager = {"manager_id": "1001", "manager_pin": "8888"}
        do({"event": "OpenShift", "args": {"float_fen": 10_000, "manager": manager}})
        do({"event": "Scan", "args": {"raw": WATER}})
        do({"event": "Subtotal"})
        view = do({"event": "AddTender", "args": {"kind": "cash", "amount_fen": 1_000}})
        receipt = view["last_receipt_no"]
        m = worker.db.models

        def sale_at_cloud() -> bool:
            rows = m.Event.select().where(m.Event.terminal_id == "S001-T03",
                                          m.Event.type == "sale")  # fmt: skip
            return [r.receipt_no for r in rows] == [receipt]

        _until(sale_at_cloud, "the sale reaching the cloud")
        sale = m.Event.get(m.Event.receipt_no == receipt)
        assert (sale.store_id, sale.amount_fen) == ("S001", 200)
        # Its status tells HQ when its certificate ends, so a rotation comes before a refusal.
        ends = certs.load_cert(layout.cert).not_valid_after_utc

        def status_names_the_end() -> bool:
            till = m.Terminal.get_or_none(m.Terminal.terminal_id == "S001-T03")
            return till is not None and (till.status or {}).get("cert_not_after") is not None

        _until(status_names_the_end, "a status naming the certificate's end")
        till = m.Terminal.get(m.Terminal.terminal_id == "S001-T03")
        assert parse_utc(till.status["cert_not_after"]) == ends
    finally:
        proc.stdin.close()
        proc.wait(30)
        worker.stop()
    # The broker saw the terminal by its certificate, on the certificate listener.
    log = fleet_env.broker.fleet.log_file.read_text()
    assert "as S001-T03 (p5" in log and "u'S001-T03'" in log


def test_keys_config_and_store_belong_to_the_service_user_alone(
    fleet_env: FleetEnv, tmp_path: Path
) -> None:
    done = fleet_env.add("S001-T04", root=tmp_path / "pi")
    assert done.code == 0, done.err
    layout = Layout(tmp_path / "pi")
    owner = pwd.getpwnam("pos").pw_uid if os.geteuid() == 0 else os.geteuid()
    private = [layout.key, layout.config, layout.db]
    for path in private:
        st = path.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, owner), path
    for directory in (layout.tls, layout.var):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(layout.cert.stat().st_mode) == 0o644  # a certificate is public
    fleet = fleet_env.fleet
    for key in (fleet.ca_key, fleet.service_pair("ingest").key, fleet.broker_dir / "server.key",
                fleet.broker_dir / "dynsec.json", fleet.root / "registry.json"):  # fmt: skip
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    # Nothing secret stays in a pending file, and the key never went to the fleet side.
    assert not list(layout.tls.glob("*.pending"))
    key_pem = layout.key.read_bytes()
    for path in fleet.root.rglob("*"):
        if path.is_file():
            assert key_pem not in path.read_bytes(), path


def test_running_add_again_changes_nothing_but_rewrites_config_and_units(
    fleet_env: FleetEnv, tmp_path: Path
) -> None:
    root = tmp_path / "pi"
    assert fleet_env.add("S001-T05", root=root).code == 0
    layout = Layout(root)
    cert = layout.cert.read_bytes()
    layout.config.write_text("broken")
    again = fleet_env.add("S001-T05", root=root)
    assert again.code == 0, again.err
    assert "already provisioned" in again.out
    assert layout.cert.read_bytes() == cert  # same identity
    assert "S001-T05" in layout.config.read_text()  # repaired
    assert [a["terminal_id"] for a in fleet_env.hq.accepted] == ["S001-T05"]  # registered once


def test_units_pass_systemd_analyze_verify(fleet_env: FleetEnv, tmp_path: Path) -> None:
    root = tmp_path / "pi"
    assert fleet_env.add("S001-T06", root=root).code == 0
    units = Layout(root).units
    names = ["pos-terminal.service", "pos-sync.service"]
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(units / n) for n in names)],
        capture_output=True, text=True, check=False, timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
    )  # fmt: skip
    problems = [line for line in done.stderr.splitlines() if any(n in line for n in names)]
    assert done.returncode == 0 and problems == [], done.stderr
    text = (units / "pos-terminal.service").read_text()
    for must in ("Restart=always", "WatchdogSec=30", "Type=notify", "After=network-online.target",
                 "StandardError=journal", "User=pos"):  # fmt: skip
        assert must in text, must
    link = units / "multi-user.target.wants" / "pos-terminal.service"
    assert os.readlink(link) == "/etc/systemd/system/pos-terminal.service"
    # /etc is read-only to both services but for the TLS directory, where the till renews
    # its certificate, and nothing wider.
    for name in names:
        text = (units / name).read_text()
        assert "ProtectSystem=full" in text
        writable = [line for line in text.splitlines() if line.startswith("ReadWritePaths=")]
        assert writable == [f"ReadWritePaths={Layout(root).tls}"], name


def test_a_root_holding_another_terminal_is_refused_naming_it(
    fleet_env: FleetEnv, tmp_path: Path
) -> None:
    root = tmp_path / "pi"
    layout = Layout(root)
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "systemd").write_text("")  # the units cannot be written: A stops half-done
    half = fleet_env.add("S001-T21", root=root)
    assert half.code != 0
    pending = layout.tls / "device.key.pending"
    key = pending.read_bytes()

    other = fleet_env.add("S001-T22", root=root)
    assert other.code == 1
    assert "already holds terminal S001-T21 (half-provisioned)" in other.err
    assert "fresh --root" in other.err and "--terminal S001-T21" in other.err
    assert pending.read_bytes() == key  # A's key is untouched
    assert "S001-T22" not in fleet_env.fleet.registry().terminals

    (root / "etc" / "systemd").unlink()
    assert fleet_env.add("S001-T21", root=root).code == 0  # A finished where it stopped
    again = fleet_env.add("S001-T22", root=root)
    assert again.code == 1 and "already holds terminal S001-T21 (provisioned)" in again.err
    assert load_config(layout.config).terminal.terminal_id == "S001-T21"
