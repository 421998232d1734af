"""The `make run` launcher: broker, ingest and API up, both sides seeded, and all of it stopped."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from provisioning.ports import free_ports

ROOT = Path(__file__).resolve().parents[2]


def _ours(root: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-af", str(root)], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if "pgrep" not in line]


@pytest.mark.slow
def test_the_demo_stack_comes_up_seeded_and_goes_down_completely(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    launcher = subprocess.Popen(
        # A port of its own: another demo on this machine may hold the default 8080.
        [sys.executable, "-m", "provisioning.demo", "--root", str(root), "--no-terminal",
         "--api-port", str(free_ports(1)[0])],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert launcher.stdout is not None
    api = ""
    banner: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = launcher.stdout.readline()
        assert line, "the launcher stopped early:\n" + "".join(banner)
        banner.append(line)
        if match := re.search(r"HQ page\s+(http://127\.0\.0\.1:\d+)/", line):
            api = match.group(1)
        if "starting the terminal" in line:
            break
    try:
        assert api, "".join(banner)
        assert not any("NOT RUNNING" in line for line in banner), "".join(banner)
        assert any("pushed to S001" in line for line in banner)  # the cloud got the demo data
        with urllib.request.urlopen(f"{api}/api/health", timeout=10) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError) as anonymous:
            urllib.request.urlopen(f"{api}/api/sales", timeout=10)
        assert anonymous.value.code == 401  # only health answers without signing in
        assert any("HQ login admin / " in line for line in banner)
        token = json.loads((root / "hq-logins.json").read_text())[0]["token"]
        signed = urllib.request.Request(
            f"{api}/api/sales", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(signed, timeout=10) as response:
            assert json.loads(response.read())["totals"]["sales_count"] == 0
        # The cloud knows the demo members with their opening figures: M0000793 spent
        # ¥19,853.84 (gold), and the demo opens with half a point per ¥10 of it: 992.
        points = urllib.request.Request(
            f"{api}/api/members/M0000793/points", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(points, timeout=10) as response:
            member = json.loads(response.read())
        assert (member["tier"], member["balance"]) == ("gold", 992), member
        assert [(r["reason"], r["delta"]) for r in member["ledger"]] == [("adjust", 992)]
        assert member["over_redemptions"] == []
        term = root / "terminals" / "S001-T01"
        with sqlite3.connect(term / "var" / "lib" / "pos" / "terminal.db") as db:
            assert db.execute("SELECT count(*) FROM product").fetchone()[0] == 200
            # Members reach a till only from the cloud, once it runs (not in this mode).
            assert db.execute("SELECT count(*) FROM member").fetchone()[0] == 0
            assert db.execute("SELECT count(*) FROM staff").fetchone()[0] == 3
        config = term / "etc" / "pos" / "terminal.toml"
        assert "device.key" in config.read_text()  # a client certificate, no password
        # Files holding a key (and the config naming it) are readable by their owner only.
        for secret in (config, term / "etc" / "pos" / "tls" / "device.key",
                       root / "fleet" / "ca" / "ca.key"):  # fmt: skip
            assert secret.stat().st_mode & 0o777 == 0o600, secret
        # The cloud services reached the broker with their own certificates, over TLS.
        log = (root / "fleet" / "broker" / "mosquitto.log").read_text()
        assert "as ingest (p5" in log and "as hq (p5" in log and "as jobs (p5" in log
        children = [line for line in _ours(root) if "provisioning.demo" not in line]
        assert len(children) == 4, children  # mosquitto, ingest, the API and the jobs
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(30)
    tail = launcher.stdout.read()
    assert "every process it started has exited" in tail
    assert _ours(root) == []
