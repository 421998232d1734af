"""`self-test` against the simulators: the table, its reasons, and HQ seeing it.

The broker is the fleet's (TLS, the terminal's own certificate), HQ's view is the real ingest
worker's record of the terminal's status, and the till started afterwards keeps the table in
its own status.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings
from device.config import load_config
from device.store.kernel_clock import kernel_clock_synced
from device.wiring import simulated_hardware
from protocol import codec, topics
from provisioning import selftest
from provisioning.terminal_root import Layout
from tests.mqtt_client import MqttClient
from tests.provisioning.conftest import FleetEnv
from tests.provisioning.fleet_support import cli

ROOT = Path(__file__).resolve().parents[2]
PARTS = ["printer", "drawer", "scanner", "card reader", "display", "keypad", "clock", "disk",
         "store", "certificate", "broker"]  # fmt: skip


def _ingest(env: FleetEnv, url: str) -> IngestWorker:
    fleet = env.fleet
    pair = fleet.service_pair("ingest")
    worker = IngestWorker(url, BrokerSettings(
        host="127.0.0.1", port=fleet.settings.broker_port, tls_ca=str(fleet.ca_cert),
        tls_cert=str(pair.cert), tls_key=str(pair.key)), client_id="ingest")  # fmt: skip
    worker.start()
    return worker


def _cloud_status(worker: IngestWorker, terminal: str, want: Any, timeout: float = 20) -> dict:
    m = worker.db.models
    deadline = time.monotonic() + timeout
    while True:
        row = m.Terminal.get_or_none(m.Terminal.terminal_id == terminal)
        status = row.status if row is not None else None
        if isinstance(status, str):
            status = json.loads(status)
        if status is not None and want(status):
            return dict(status)
        assert time.monotonic() < deadline, f"cloud status of {terminal}: {status}"
        time.sleep(0.1)


def test_all_parts_pass_on_the_simulators_and_hq_sees_the_table(
    fleet_env: FleetEnv, tmp_path: Path
) -> None:
    root = tmp_path / "pi"
    assert fleet_env.add("S001-T20", root=root).code == 0
    layout = Layout(root)
    worker = _ingest(fleet_env, f"sqlite:///{tmp_path}/cloud.db")
    try:
        done = cli("self-test", "--config", str(layout.config), "--simulate", "--timeout", "15")
        clock_ok = kernel_clock_synced()  # the one part this machine decides
        assert done.code == (0 if clock_ok else 1), done.out + done.err
        assert "published in the terminal's status" in done.out
        status = _cloud_status(worker, "S001-T20", lambda s: s.get("self_test"))
        checks = {c["name"]: c for c in status["self_test"]["checks"]}
        assert list(checks) == PARTS
        for name, check in checks.items():
            assert check["ok"] == (clock_ok if name == "clock" else True), check
        assert checks["scanner"]["detail"] == "read 6901234567892"
        assert checks["card reader"]["detail"] == "read card ************1234"
        assert checks["broker"]["detail"].endswith("over TLS as S001-T20")
        assert checks["certificate"]["detail"].endswith("(824 days)")  # 825, issued an hour ago
        # The till started afterwards repeats the table in its own (online) status.
        proc = subprocess.Popen(
            [sys.executable, "-m", "device", "--config", str(layout.config), "--headless"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            again = _cloud_status(worker, "S001-T20", lambda s: s["online"], timeout=40)
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(30)
        assert again["self_test"] == status["self_test"]
    finally:
        worker.stop()


class _Absent:
    """A technician who swipes and presses keys but never scans."""

    def __init__(self, hw: Any, inputs: selftest.Inputs) -> None:
        from provisioning.cmd_selftest import SimulatedTechnician

        self.hands = SimulatedTechnician(hw, inputs)

    def ask(self, what: str) -> None:
        if what != "scan":
            self.hands.ask(what)


def test_paper_out_and_no_scan_fail_with_reasons(fleet_env: FleetEnv, tmp_path: Path) -> None:
    root = tmp_path / "pi"
    assert fleet_env.add("S001-T21", "S001", root, "--days", "20").code == 0
    cfg = load_config(Layout(root).config)
    inputs = selftest.Inputs()
    hw = simulated_hardware(cfg, inputs.emit, tmp_path / "state")
    hw.printer_sim.run_out_of_paper()
    lines: list[str] = []
    report = selftest.run(cfg, hw, inputs, _Absent(hw, inputs), timeout=3, say=lines.append)
    checks = {c.name: c for c in report.checks}
    assert not report.passed
    assert not checks["printer"].ok and "paper" in checks["printer"].detail.lower()
    assert not checks["scanner"].ok and "nothing read within 3 s" in checks["scanner"].detail
    assert checks["card reader"].ok and checks["keypad"].ok and checks["broker"].ok
    # Issued for 20 days: still accepted, but due for a rotation while the technician is here.
    assert not checks["certificate"].ok
    assert "(19 days); rotate it now" in checks["certificate"].detail
    table = lines[0]
    assert "printer      FAIL" in table and "scanner      FAIL" in table
    assert "FAILED: fix the FAIL lines" in table
    hq = fleet_env.fleet.service_pair("hq")
    fleet = fleet_env.fleet
    watcher = MqttClient("127.0.0.1", fleet.settings.broker_port, username=None, password=None,
                         ca_file=fleet.ca_cert, client_cert=hq)  # fmt: skip
    watcher.connect()
    topic = topics.status_topic("S001", "S001-T21")
    watcher.subscribe(topic)
    [got] = watcher.wait_for(lambda m: m.topic == topic)
    status = codec.decode_status(got.payload)
    assert status.self_test is not None and not status.self_test.passed
    assert status.last_problem.startswith("self-test failed: printer, scanner")
    assert status.last_problem.endswith(", certificate")  # the clock between is this machine's
    assert status.cert_not_after is not None
    watcher.close()
