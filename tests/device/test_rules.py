"""HQ's rules at the till: from the store file into the checkout, between sales, last good kept.

Real parts: a real store file, rule sets written through sync's own storage (the same checks a
pushed change meets), the runtime with simulated hardware for whole sales.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device.checkout import events as ev
from device.checkout.config import CheckoutConfig
from device.checkout.loyalty import points_earned
from device.checkout.records import TenderKind, Tier
from device.rules import RulesInForce, checkout_rules
from device.store.db import open_database
from device.sync.errors import BadMessage
from device.sync.storage import SyncStorage
from protocol.rules import default_rules
from protocol.rules_check import decode_body, decode_published, publish, to_plain
from tests.device.harness import Terminal, start_terminal

BASE = CheckoutConfig(store_id="S001", terminal_id="S001-T01", language="en")
NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


def rules(version: str, scope: str = "all", **changes: Any) -> dict[str, Any]:
    """The defaults with ``changes`` (section -> fields) published as ``version``."""
    body = to_plain(default_rules())
    for section, fields in changes.items():
        if isinstance(fields, dict):
            body[section] = {**body[section], **fields}
        else:
            body[section] = fields
    return to_plain(publish(decode_body(body), version, scope, NOW))


def gold_multiplier(bp: int) -> dict[str, Any]:
    levels = to_plain(default_rules())["tiers"]["levels"]
    levels[2]["points_multiplier_bp"] = bp
    return {"levels": levels}


HALF_OFF = {"kind": "percent_off", "id": "HALF", "label_zh": "半价", "label_en": "half price",
            "scope": {"all": True}, "percent_bp": 5000}  # fmt: skip


def test_a_rule_set_becomes_the_checkouts_settings() -> None:
    published = decode_published(
        rules(
            "r3",
            loyalty={"fen_per_point": 500, "redeem_cap_bp": 3000},
            tiers=gold_multiplier(15_000),
            returns={"no_receipt_cap_fen": 50_000},
            promotions=[HALF_OFF],
        )
    )
    config = checkout_rules(BASE, published)
    assert config.rules_version == "r3"
    # ¥15 paid by gold at 1 point per ¥5 and 1.5x: 15/5 * 1.5 = 4.5 -> 4 points.
    assert points_earned(1500, Tier.GOLD, config.loyalty) == 4
    assert points_earned(1500, Tier.SILVER, config.loyalty) == 3
    assert config.loyalty.redeem_cap_bp == 3000
    assert config.returns.no_receipt_cap_fen == 50_000
    assert [(p.promo_id, p.label, p.kind) for p in config.pricing.promotions] == [
        ("HALF", "half price", "item_percent")
    ]
    assert config.pricing.tier_discount_bp[Tier.GOLD] == 2000
    # The terminal file's own settings stay: language, ids, manager threshold.
    assert (config.language, config.terminal_id) == ("en", "S001-T01")
    # No rule set at all is exactly the built-in defaults.
    assert checkout_rules(BASE, None) == BASE


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[SyncStorage]:
    from tests.device.sync.harness import record_sales

    path = tmp_path / "terminal.db"
    record_sales(path, 0, create=True)
    s = SyncStorage.open(path)
    yield s
    s.close()


def test_the_store_rule_set_wins_and_withdrawing_it_falls_back_to_the_chains(
    storage: SyncStorage,
) -> None:
    db = open_database(storage.db.path)
    watch = RulesInForce(db, BASE)
    assert watch.refresh() is None and watch.config.rules_version == ""
    storage.apply("config", 1, "upsert", [{"key": "rules", "value": rules("r1")}])
    assert watch.refresh() is not None and watch.config.rules_version == "r1"
    assert watch.refresh() is None  # nothing new: no rebuild
    store_rules = rules("r2", "S001")
    storage.apply("config", 2, "upsert", [{"key": "rules:S001", "value": store_rules}])
    assert watch.refresh() is not None and watch.config.rules_version == "r2"
    # Another store's own rule set is not this till's business.
    storage.apply("config", 3, "upsert", [{"key": "rules:S002", "value": rules("r4", "S002")}])
    assert watch.refresh() is None and watch.config.rules_version == "r2"
    storage.apply("config", 4, "delete", [{"key": "rules:S001"}])
    assert watch.refresh() is not None and watch.config.rules_version == "r1"
    assert storage.rules_version("S001") == "r1"
    db.close()


def test_sync_refuses_a_rule_set_the_till_cannot_use_and_keeps_the_last_good(
    storage: SyncStorage,
) -> None:
    storage.apply("config", 1, "upsert", [{"key": "rules", "value": rules("r1")}])
    bad = rules("r2")
    bad["tiers"]["levels"][2]["threshold"] = 100  # gold below silver
    with pytest.raises(BadMessage, match=r"tiers\.levels\[2\]\.threshold: 100 must be above"):
        storage.apply("config", 2, "upsert", [{"key": "rules", "value": bad}])
    misplaced = rules("r3", "S002")
    with pytest.raises(BadMessage, match="a rule set for 'S002' under the key 'rules:S001'"):
        storage.apply("config", 2, "upsert", [{"key": "rules:S001", "value": misplaced}])
    assert storage.version("config") == 1 and storage.rules_version("S001") == "r1"


def test_a_damaged_rule_set_in_the_file_is_reported_and_the_last_good_stays(
    storage: SyncStorage,
) -> None:
    db = open_database(storage.db.path)
    watch = RulesInForce(db, BASE)
    storage.apply("config", 1, "upsert", [{"key": "rules", "value": rules("r1")}])
    assert watch.refresh() is not None
    damaged = rules("r2")
    damaged["loyalty"]["redeem_cap_bp"] = 20_000
    with storage.db.write() as conn:  # written around sync's checks, as a damaged file would be
        conn.execute("UPDATE meta SET value = ? WHERE key = 'hq_config:rules'",
                     (json.dumps(damaged),))  # fmt: skip
        conn.execute("UPDATE stream_version SET version = 2 WHERE stream = 'config'")
    assert watch.refresh() is None
    assert watch.config.rules_version == "r1"
    assert "r1 kept" in watch.problem and "loyalty.redeem_cap_bp" in watch.problem
    db.close()


# -- whole sales through the runtime ---------------------------------------------------------


@pytest.fixture
def till(tmp_path: Path) -> Iterator[Terminal]:
    term = start_terminal(tmp_path, members=20)
    try:
        term.login_and_open()
        yield term
    finally:
        term.stop()


def _product(till: Terminal) -> tuple[str, int]:
    row = till.store.db.row(
        "SELECT b.code, p.price_fen FROM product AS p JOIN barcode AS b ON b.sku = p.sku "
        "WHERE p.sold_by_weight = 0 AND p.price_fen >= 1000 AND p.price_fen % 2 = 0 "
        "ORDER BY p.sku LIMIT 1"
    )
    assert row is not None
    return str(row[0]), int(row[1])


def _pay(till: Terminal, price: int) -> Any:
    till.send(ev.Subtotal())
    view = till.send(ev.AddTender(TenderKind.CASH, price))
    sale_id = view.state.last_sale_id
    assert sale_id is not None, view.notice
    found = till.store.journal.sale(sale_id)
    assert found is not None
    till.send(ev.SkipFeedback())
    return found[0]


def test_a_sale_in_progress_keeps_its_rules_and_the_next_one_takes_the_new(
    till: Terminal, tmp_path: Path
) -> None:
    code, price = _product(till)
    till.scan(code)  # the sale is open under the built-in defaults
    pushed = SyncStorage.open(tmp_path / "terminal.db")
    try:
        pushed.apply("config", 1, "upsert",
                     [{"key": "rules", "value": rules("r1", promotions=[HALF_OFF])}])  # fmt: skip
    finally:
        pushed.close()
    first = _pay(till, price)
    assert (first.rules_version, first.total_fen) == ("", price)
    till.scan(code)
    second = _pay(till, price)
    assert (second.rules_version, second.total_fen) == ("r1", price // 2)
    assert [d.label for d in second.lines[0].discounts] == ["半价"]  # the till prints Chinese
    body = till.store.db.row("SELECT body FROM sale WHERE sale_id = ?", (second.sale_id,))
    assert body is not None and json.loads(body[0])["rules_version"] == "r1"
