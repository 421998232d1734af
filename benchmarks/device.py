"""Terminal figures: cold start to the login screen, RSS after 1,000 sales, scan-to-screen p99.

device.cold_start_s: a `python -m device --simulate` process, from spawn to the login screen
drawn (Textual in headless mode, simulated hardware on ptys), median of the runs.
device.cold_start_full_cache_s: the same, on the terminal with 1,000,000 members and 100,000
products in its caches (quick: the quick scale below), before any sale is made on it.
device.rss_mb: a whole terminal process (runtime, drivers, and the cashier screen drawn
off-terminal, driven by JSON commands) after 1,000 sales with 1,000,000 members and
100,000 products in its caches (quick: 100,000 members, 10,000 products, 200 sales; the scale
is reported as device.rss_members / device.rss_products / device.rss_sales). The simulated
printer lives in the same process and keeps its printed receipts, so the figure includes them.
checkout.scan_to_screen_p99_ms: a ScanEvent put on the runtime's queue until the published
view (the screen's model) holds the new line, on the same store, in process.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks._scans import ScanTimer, demo_barcodes
from benchmarks._stats import percentile
from device.config import dump_config
from provisioning import demo_data
from provisioning.demo import seed_store
from tests.device.harness import start_terminal, terminal_config

ROOT = Path(__file__).resolve().parents[1]


def _bulk_members(n: int) -> Iterator[dict[str, Any]]:
    tiers = ("regular", "regular", "regular", "silver", "gold")
    for i in range(n):
        yield {
            "member_id": f"B{i:09d}", "phone": f"19{i:09d}", "name": f"会员{i % 9973}",
            "tier": tiers[i % 5], "points_balance": i % 20_000,
            "cumulative_spend_fen": (i * 37) % 900_000, "birthday": None,
            "opt_out_sms": False, "member_code": f"BQ{i:09d}", "cards": [f"B{i:010d}"],
        }  # fmt: skip


def _bulk_products(n: int) -> Iterator[dict[str, Any]]:
    for i in range(n):
        yield {
            "sku": f"B{i:07d}", "name_zh": f"商品{i}", "name_en": f"Item {i}",
            "category": "bulk", "price_fen": 100 + (i * 97) % 20_000,
            "barcodes": [demo_data.ean13(f"68{i:010d}")],
        }  # fmt: skip


def _make_terminal(root: Path, members: int, products: int) -> Path:
    """A seeded terminal directory with big caches; returns its config file."""
    from itertools import chain

    from device.store.staff import PinPolicy
    from device.wiring import open_store

    cfg = terminal_config(root)
    store = open_store(cfg, pin_policy=PinPolicy.for_tests())
    seed_store(store)
    store.load_catalogue_snapshot(chain(demo_data.products(), _bulk_products(products)))
    store.load_member_snapshot(chain(demo_data.members(1000), _bulk_members(members)))
    store.close()
    path = root / "terminal.toml"
    path.write_text(dump_config(cfg))
    return path


def _cold_start(config: Path, runs: int) -> float:
    times = []
    for i in range(runs):
        ready = config.parent / f"ready-{i}"
        env = {**os.environ, "POS_UI_HEADLESS": "1", "POS_READY_FILE": str(ready)}
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "device", "--config", str(config), "--simulate"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            while not ready.exists():
                if proc.poll() is not None or time.monotonic() - start > 60:
                    raise RuntimeError("the terminal did not reach the login screen")
                time.sleep(0.002)
            times.append(time.monotonic() - start)
        finally:
            proc.kill()
            proc.wait(10)
    return statistics.median(times)


def _rss_after_sales(config: Path, sales: int) -> float:
    # The whole terminal: runtime, drivers and the cashier screen (drawn off-terminal).
    env = {**os.environ, "POS_SIM_RECEIPT_FILES": "0", "POS_HEADLESS_SCREEN": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "device", "--config", str(config), "--headless"],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None

    def do(command: dict[str, Any]) -> dict[str, Any]:
        proc.stdin.write(json.dumps(command) + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        return dict(json.loads(proc.stdout.readline()))  # type: ignore[union-attr]

    try:
        proc.stdout.readline()  # ready
        do({"event": "Login", "args": {"staff_id": "2001", "pin": "1234"}})
        manager = {"manager_id": "1001", "manager_pin": "8888"}
        do({"event": "OpenShift", "args": {"float_fen": 10_000, "manager": manager}})
        codes = demo_barcodes()
        cards = [str(m["cards"][0]) for m in demo_data.members(1000)]  # type: ignore[index]
        for i in range(sales):
            for n in range(3):
                do({"scan": codes[(i * 3 + n) % len(codes)]})
            if i % 2:
                do({"swipe": cards[i % len(cards)]})
            view = do({"event": "Subtotal"})
            do({"event": "AddTender", "args": {"kind": "cash", "amount_fen": view["due_fen"]}})
            do({"event": "SkipFeedback"})
        do({"wait": "printed", "count": sales, "timeout": 120})
        status = Path(f"/proc/{proc.pid}/status").read_text()
        rss_kb = next(
            int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS")
        )
        return rss_kb / 1024
    finally:
        proc.stdin.close()
        proc.wait(30)


def _scan_to_screen(root: Path, scans: int) -> float:
    # No receipt pictures: rendering PNGs is the demo's artefact, not the terminal's work.
    term = start_terminal(root, receipt_files=False)
    try:
        term.login_and_open()
        timer = ScanTimer(term)
        for _ in range(scans):
            timer.scan()
        return percentile(timer.samples, 99)
    finally:
        term.stop()


def run(quick: bool) -> dict[str, float]:
    """The three terminal figures (quick: smaller caches and fewer sales, scale reported)."""
    members, products, sales = (100_000, 10_000, 200) if quick else (1_000_000, 100_000, 1000)
    with tempfile.TemporaryDirectory(prefix="bench-device-") as tmp:
        root = Path(tmp)
        small = root / "small"
        small.mkdir()
        small_cfg = _make_terminal(small, 0, 0)
        big = root / "big"
        big.mkdir()
        big_cfg = _make_terminal(big, members, products)
        runs = 3 if quick else 5
        cold_small = _cold_start(small_cfg, runs)
        cold_full = _cold_start(big_cfg, runs)
        return {
            "device.cold_start_s": cold_small,
            "device.cold_start_full_cache_s": cold_full,
            "device.rss_mb": _rss_after_sales(big_cfg, sales),
            "device.rss_members": float(members + 1000),
            "device.rss_products": float(products + len(demo_data.products())),
            "device.rss_sales": float(sales),
            "checkout.scan_to_screen_p99_ms": _scan_to_screen(big, 500 if quick else 2000),
        }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
