"""SIGKILL the terminal process mid-sale and between commit and print; check what the cashier sees.

The terminal runs as a real process (`python -m device --headless` on simulated hardware) and
is driven with JSON commands on stdin; each answer is the screen's state as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from device.config import dump_config
from provisioning import demo_data
from tests.device.harness import seeded_store, terminal_config

WATER = str(demo_data.products()[0]["barcodes"][0])
COLA = str(demo_data.products()[2]["barcodes"][0])
ROOT = Path(__file__).resolve().parents[2]


class Till:
    """One terminal process."""

    def __init__(self, config: Path, fault: str = "") -> None:
        env = {**os.environ, "POS_FAULT": fault}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "device", "--config", str(config), "--headless"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT, env=env, text=True,
        )  # fmt: skip
        ready = self._read()
        assert "ready" in ready, ready

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else {}

    def do(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(command) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return {}  # the process is gone
        return self._read()

    def event(self, name: str, **args: Any) -> dict[str, Any]:
        return self.do({"event": name, "args": args})

    def open_sale(self) -> dict[str, Any]:
        self.event("Login", staff_id="2001", pin="1234")
        view = self.do({"view": True})
        if view["shift"] is None:
            self.event("OpenShift", float_fen=20_000, manager={"manager_id": "1001",
                                                               "manager_pin": "8888"})  # fmt: skip
        self.do({"scan": WATER})
        return self.do({"scan": COLA})

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> int:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(20)


def _setup(tmp_path: Path) -> tuple[Path, Path]:
    cfg = terminal_config(tmp_path)
    seeded_store(cfg).close()
    path = tmp_path / "terminal.toml"
    path.write_text(dump_config(cfg))
    return path, tmp_path / "terminal.db"


def _sales(db: Path) -> list[tuple[str, str]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT sale_id, receipt_no FROM sale").fetchall()


@pytest.mark.slow
def test_killed_during_a_sale_the_cashier_is_told_it_was_not_recorded(tmp_path: Path) -> None:
    config, db = _setup(tmp_path)
    till = Till(config)
    view = till.open_sale()
    assert view["lines"] == 2 and view["phase"] == "selling"
    shift = view["shift"]
    till.kill()
    assert _sales(db) == []

    till = Till(config)
    try:
        view = till.do({"view": True})
        assert view["lost_sale"] is True and view["notice_key"] == "runtime.sale_lost"
        assert view["notice"] == "The sale in progress was not recorded; please scan again"
        assert view["phase"] == "logged_out" and view["lines"] == 0
        assert view["shift"] == shift and view["unprinted"] == []
        # The cashier acknowledges, signs in and sells again from scratch.
        assert till.event("Dismiss")["lost_sale"] is False
        view = till.open_sale()
        assert view["lines"] == 2
        view = till.event("Subtotal")
        view = till.event("AddTender", kind="cash", amount_fen=view["due_fen"])
        assert view["phase"] == "feedback"
        assert till.do({"wait": "printed", "count": 1})["printed"] == 1
    finally:
        assert till.close() == 0
    assert len(_sales(db)) == 1


@pytest.mark.slow
def test_killed_after_the_commit_before_the_print_offers_one_reprint(tmp_path: Path) -> None:
    config, db = _setup(tmp_path)
    till = Till(config, fault="after_commit")
    till.open_sale()
    view = till.event("Subtotal")
    died = till.event("AddTender", kind="cash", amount_fen=view["due_fen"] + 1_000)
    assert died == {}  # no answer: the process was killed right after the commit
    assert till.proc.wait(10) == -signal.SIGKILL
    ((sale_id, receipt_no),) = _sales(db)
    receipts = tmp_path / "receipts"
    assert list(receipts.glob("*.png")) == []

    till = Till(config)
    try:
        view = till.do({"view": True})
        assert view["unprinted"] == [[sale_id, receipt_no]] and view["lost_sale"] is False
        assert view["notice"] == (
            f"Sale {receipt_no} was saved but its receipt did not print: press Enter to reprint"
        )
        till.event("PrintUnprinted", sale_id=sale_id)
        view = till.event("PrintUnprinted", sale_id=sale_id)  # pressed twice
        assert view["unprinted"] == []
        assert till.do({"wait": "printed", "count": 1})["printed"] == 1
        assert till.do({"wait": "printed", "count": 2, "timeout": 2})["printed"] == 1
    finally:
        assert till.close() == 0
    assert [p.name for p in receipts.glob("*.png")] == [f"receipt-recover_{sale_id}.png"]
    assert receipt_no in (receipts / f"receipt-recover_{sale_id}.txt").read_text()
    till = Till(config)  # after one more restart nothing is offered again
    try:
        assert till.do({"view": True})["unprinted"] == []
    finally:
        till.close()
