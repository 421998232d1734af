"""The cloud checks each sale against the rules version it names, with that version's figures.

The till side is the real checkout core configured from a published rule set (device.rules);
the cloud side is cloud.domain.rulesets and plausibility. They share no code but the protocol.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.domain import plausibility as p
from cloud.domain.rulesets import rule_set, rule_sets
from cloud.domain.tiers import TierThresholds
from cloud.store.effects import IngestRules
from device.checkout import events as ev
from device.checkout.commands import RecordReturn, RecordSale
from device.checkout.config import CheckoutConfig
from device.checkout.records import TenderKind
from device.rules import checkout_rules
from protocol import bodies
from protocol.rules import PublishedRules, default_rules
from protocol.rules_check import decode_body, decode_published, publish, to_plain
from tests.cloud.factories import sale_body
from tests.device.checkout.fakes import FakeCoupon, Till
from tests.device.checkout.test_machine_random import MEMBERS, PRODUCTS, START, _resolve, mixed
from tests.protocol.samples import record_to_wire

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
UUID = "6f1c2a44-3b1e-4f7a-9a51-0c2d4e6f8a10"


def published(version: str, **changes: Any) -> PublishedRules:
    body = to_plain(default_rules())
    for section, fields in changes.items():
        body[section] = {**body[section], **fields} if isinstance(fields, dict) else fields
    return publish(decode_body(body), version, "all", NOW)


def levels(silver: int = 200_000, gold: int = 500_000, gold_x: int = 10_000,
           silver_x: int = 10_000) -> dict[str, Any]:  # fmt: skip
    raw = to_plain(default_rules())["tiers"]["levels"]
    raw[1].update(threshold=silver, points_multiplier_bp=silver_x)
    raw[2].update(threshold=gold, points_multiplier_bp=gold_x)
    return {"levels": raw}


def check(body: dict[str, Any], rules: p.RuleSet | None, version: str = "r1",
          kind: type = bodies.SaleBody) -> list[str]:  # fmt: skip
    return list(p.check(msgspec.convert(body, kind), rules, version, NOW, True, NOW))


def test_points_earned_are_checked_with_the_versions_tier_multiplier() -> None:
    """A gold member pays ¥150.00: 15 points at 1x, 22 (22.5 rounded down) at 1.5x."""
    body = sale_body([("TV", 1, 15_000)], member_id="M1", earn=22)
    body["member_tier"] = "gold"
    r1 = rule_set(published("r1", tiers=levels(gold_x=15_000)))
    assert check(body, r1) == []
    assert check(body, p.RuleSet(), "") == ["22 points earned; the rules give 15"]
    assert check(body, None, "r9") == ["rules version 'r9' is not known to the cloud"]


def test_a_no_receipt_refund_is_capped_by_the_versions_figure() -> None:
    refund = {
        "return_id": UUID, "original_sale_id": None, "original_receipt_no": None,
        "cashier_id": "2001", "shift_id": "sh", "member_id": None,
        "lines": [{"original_line_no": 1, "sku": "A", "quantity": 1, "weight_g": None,
                   "refund_fen": 30_000}],
        "refund_fen": 30_000, "refunds": [{"kind": "cash", "amount_fen": 30_000}],
        "points": [], "authorised_by": "1001", "device_time": "2026-11-23T08:00:00Z",
        "clock_synced": True, "receipt_no": "R2", "rules_version": "r2",
    }  # fmt: skip
    r2 = rule_set(published("r2", returns={"no_receipt_cap_fen": 50_000}))
    assert check(refund, r2, "r2", bodies.ReturnBody) == []
    assert check(refund, p.RuleSet(), "", bodies.ReturnBody) == [
        "refund 30000 without receipt is over the cap 20000"
    ]


def test_every_version_stays_known_and_the_defaults_keep_ingests_thresholds() -> None:
    r1 = published("r1", tiers=levels(silver=100_000, gold=300_000))
    r2 = published("r2", tiers={**levels(), "basis": "visits"})
    rules = IngestRules(thresholds=TierThresholds(150_000, 400_000), rule_sets=rule_sets([r1, r2]))
    assert set(rules.rule_sets) == {"", "r1", "r2"}
    assert rules.tiers_for("r1") == TierThresholds(100_000, 300_000)
    assert rules.tiers_for("") == TierThresholds(150_000, 400_000)
    assert rules.tiers_for("r2") is None  # by visits: only the tier job judges
    # The defaults on the wire are the cloud's defaults.
    assert rule_set(default_rules()).multiplier_bp == p.RuleSet().multiplier_bp
    assert rule_set(default_rules()).redeem_cap_bp == p.RuleSet().redeem_cap_bp


_rule_sets = st.builds(
    lambda fpp, gold_x, silver_x, cap, block, value, no_receipt, promos: published(
        "r5",
        loyalty={"fen_per_point": fpp, "redeem_cap_bp": cap, "redeem_block_points": block,
                 "redeem_block_value_fen": value},
        tiers=levels(gold_x=gold_x, silver_x=silver_x),
        returns={"no_receipt_cap_fen": no_receipt},
        promotions=promos,
    ),
    st.sampled_from([500, 1000, 2000]),
    st.sampled_from([10_000, 15_000, 20_000, 30_000]),
    st.sampled_from([0, 10_000, 12_500]),
    st.sampled_from([0, 3000, 5000, 10_000]),
    st.sampled_from([50, 100]),
    st.sampled_from([500, 1000]),
    st.sampled_from([0, 20_000, 100_000]),
    st.sampled_from([
        [],
        [{"kind": "percent_off", "id": "A", "label_zh": "a", "scope": {"categories": ["a"]},
          "percent_bp": 1500}],
        [{"kind": "member_price", "id": "M", "label_zh": "m", "prices": {"P2": 4990}},
         {"kind": "buy_x_get_y", "id": "B", "label_zh": "b", "scope": {"all": True}, "buy": 1,
          "get": 1, "get_percent_bp": 5000},
         {"kind": "spend_off", "id": "S", "label_zh": "s", "scope": {"all": True},
          "threshold_fen": 5000, "off_fen": 700, "repeat": True}],
    ]),
)  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rule_sets, st.lists(mixed, min_size=10, max_size=60))
def test_every_sale_and_return_a_till_records_under_a_version_passes_that_versions_check(
    rules: PublishedRules, sequence: list[Any]
) -> None:
    config = checkout_rules(CheckoutConfig("S001", "S001-T01"), decode_published(to_plain(rules)))
    assert config.rules_version == "r5"
    till = Till(PRODUCTS, members=MEMBERS, cards={"C1": "M1"}, config=config,
                coupons=[FakeCoupon("CPN", "amount", 500)])  # fmt: skip
    figures = rule_set(rules)
    # A gold member's sale first, so every example checks at least one priced, earning sale.
    member_sale = [
        ev.Scan(PRODUCTS[1].barcodes[0]),
        ev.IdentifyMember("card", "C1"),
        ev.Subtotal(),
        ev.AddTender(TenderKind.CASH, 100_000),
        ev.SkipFeedback(),
    ]
    checked = 0
    for raw in START + member_sale + sequence:
        for command in till.send(_resolve(till, raw)):
            if isinstance(command, RecordSale):
                assert command.sale.rules_version == "r5"
                wire = {**record_to_wire(command.sale), "receipt_no": "R1", "sale_id": UUID}
                assert check(wire, figures, "r5") == [], wire
                checked += 1
            if isinstance(command, RecordReturn):
                assert command.ret.rules_version == "r5"
                wire = {**record_to_wire(command.ret), "receipt_no": "R2", "return_id": UUID}
                assert check(wire, figures, "r5", bodies.ReturnBody) == [], wire
    assert checked >= 1
