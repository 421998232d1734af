"""HQ rules at the till: pricing under a big rule set, the between-sales check, loading a version.

Each figure comes with the baseline measured in the same run: pricing the same cart with no
promotions, and a bare SQLite point read on the same connection.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks._stats import percentile
from benchmarks.checkout_core import _cart
from device.checkout.config import CheckoutConfig
from device.checkout.pricing import PricingConfig, price_cart
from device.rules import RulesInForce, checkout_rules
from device.store.db import open_database
from device.sync.storage import SyncStorage
from protocol.rules import default_rules
from protocol.rules_check import decode_body, decode_published, publish, to_plain

BASE = CheckoutConfig(store_id="S001", terminal_id="S001-T01")


def big_rule_set() -> dict[str, Any]:
    """200 promotions: percentages on SKUs, member prices, buy-X-get-Y, spend offers."""
    body = to_plain(default_rules())
    promos: list[dict[str, Any]] = []
    for i in range(100):
        promos.append({"kind": "percent_off", "id": f"PCT{i}", "label_zh": f"折扣{i}",
                       "scope": {"skus": sorted({f"P{i}", f"P{(i * 7 + 1) % 100}"})},
                       "percent_bp": 500 + 10 * i})  # fmt: skip
    for i in range(50):
        promos.append({"kind": "member_price", "id": f"MP{i}", "label_zh": f"会员价{i}",
                       "prices": {f"P{j}": 150 + 30 * j for j in range(i, 100, 7)}})  # fmt: skip
    for i in range(40):
        promos.append({"kind": "buy_x_get_y", "id": f"BXGY{i}", "label_zh": f"买赠{i}",
                       "scope": {"skus": [f"P{j}" for j in range(i, 100, 9)]},
                       "buy": 2, "get": 1})  # fmt: skip
    for i in range(10):
        promos.append({"kind": "spend_off", "id": f"MJ{i}", "label_zh": f"满减{i}",
                       "scope": {"all": True}, "threshold_fen": 5000 * (i + 1),
                       "off_fen": 300 * (i + 1), "repeat": i % 2 == 0})  # fmt: skip
    body["promotions"] = promos
    return body


def _timed(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    for _ in range(max(5, runs // 20)):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1000)
    return percentile(samples, 50), percentile(samples, 99)


def run(quick: bool) -> dict[str, float]:
    """p99 timings in microseconds, and their ratios to the baselines."""
    runs = 100 if quick else 1000
    cart = _cart()
    plain = to_plain(publish(decode_body(big_rule_set()), "r1", "all", dt.datetime.now(dt.UTC)))
    config = checkout_rules(BASE, decode_published(plain, "rules"))
    bare = PricingConfig(promotions=())
    bare_50, bare_99 = _timed(lambda: price_cart(cart, bare), runs)
    rules_50, rules_99 = _timed(lambda: price_cart(cart, config.pricing), runs)
    _, load = _timed(lambda: checkout_rules(BASE, decode_published(plain, "rules")), runs // 10)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "terminal.db"
        open_database(path, create=True).close()
        storage = SyncStorage.open(path)
        storage.apply("config", 1, "upsert", [{"key": "rules", "value": plain}])
        storage.close()
        db = open_database(path)
        watch = RulesInForce(db, BASE)
        watch.refresh()
        check_50, check_99 = _timed(watch.refresh, runs * 5)
        read_50, _ = _timed(lambda: db.row("SELECT 1 FROM meta LIMIT 1"), runs * 5)
        db.close()
    return {
        "rules.price_100_lines_200_promotions_p50_us": round(rules_50, 1),
        "rules.price_100_lines_200_promotions_p99_us": round(rules_99, 1),
        "rules.price_100_lines_no_promotions_p50_us": round(bare_50, 1),
        "rules.price_100_lines_no_promotions_p99_us": round(bare_99, 1),
        "rules.promotions_cost_ratio_p50": round(rules_50 / bare_50, 2),
        "rules.load_200_promotions_p99_us": round(load, 1),
        "rules.between_sales_check_p99_us": round(check_99, 2),
        "rules.between_sales_check_vs_point_read_ratio_p50": round(check_50 / read_50, 2),
    }
