"""Rule sets on the wire: every bad or inconsistent rule is refused, naming the field at fault."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import msgspec
import pytest

from protocol.items import ItemError, validate_items
from protocol.rules import RulesError, default_rules
from protocol.rules_check import decode_body, decode_published, publish, to_plain

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


def good() -> dict[str, Any]:
    """The defaults plus one promotion of each kind, as HQ's form would send them."""
    body = to_plain(default_rules())
    body["promotions"] = [
        {"kind": "spend_off", "id": "MJ200", "label_zh": "满200减20", "label_en": "¥20 off ¥200",
         "scope": {"all": True}, "threshold_fen": 20_000, "off_fen": 2000, "repeat": True},
        {"kind": "percent_off", "id": "DRINK9", "label_zh": "饮料9折",
         "scope": {"categories": ["drinks"]}, "percent_bp": 1000},
        {"kind": "member_price", "id": "MP1", "label_zh": "会员价", "prices": {"TEA": 1000}},
        {"kind": "buy_x_get_y", "id": "B2G1", "label_zh": "买二送一",
         "scope": {"skus": ["SOAP"]}, "buy": 2, "get": 1},
        {"kind": "percent_off", "id": "WED", "label_zh": "周三会员日", "tiers": ["gold"],
         "scope": {"all": True}, "percent_bp": 500, "weekdays": [3],
         "valid_from": "2026-06-01", "valid_until": "2026-06-30",
         "from_time": "10:00", "until_time": "22:00"},
    ]  # fmt: skip
    return body


def refused(body: dict[str, Any]) -> str:
    with pytest.raises(RulesError) as caught:
        decode_body(body)
    return str(caught.value)


def changed(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """``base`` (default: good()) with the field at ``path`` (dots and [i]) set to ``value``."""
    body = copy.deepcopy(base or good())
    here: Any = body
    parts = path.replace("]", "").replace("[", ".").split(".")
    for part in parts[:-1]:
        here = here[int(part)] if part.isdigit() else here[part]
    last = parts[-1]
    if last.isdigit():
        here[int(last)] = value
    else:
        here[last] = value
    return body


def test_a_full_rule_set_passes_and_keeps_every_figure() -> None:
    body = decode_body(good())
    assert to_plain(body)["promotions"] == to_plain(decode_body(to_plain(body)))["promotions"]
    assert [p.id for p in body.promotions] == ["MJ200", "DRINK9", "MP1", "B2G1", "WED"]
    assert body.tiers.levels[2].discount_bp == 2000
    assert body.loyalty.fen_per_point == 1000


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("loyalty.redeem_cap_bp", 12_000, "loyalty.redeem_cap_bp: expected `int` <= 10000"),
        ("loyalty.fen_per_point", "10", "loyalty.fen_per_point: expected `int`, got `str`"),
        ("loyalty.fen_per_point", 0, "loyalty.fen_per_point: expected `int` >= 1"),
        ("tiers.levels[1].discount_bp", 10_001, "tiers.levels[1].discount_bp"),
        (
            "tiers.levels[2].threshold",
            200_000,
            "tiers.levels[2].threshold: 200000 must be above silver's 200000",
        ),
        (
            "tiers.levels[1].threshold",
            600_000,
            "tiers.levels[2].threshold: 500000 must be above silver's 600000",
        ),
        ("tiers.levels[0].threshold", 1, "tiers.levels[0].threshold: regular starts at 0"),
        ("tiers.levels[1].tier", "gold", "tiers.levels[1].tier: expected 'silver'"),
        ("tiers.basis", "age", "tiers.basis: invalid enum value 'age'"),
        ("returns.window_days", -1, "returns.window_days: expected `int` >= 0"),
        ("returns.max_returns_per_30_days", 0, "returns.max_returns_per_30_days"),
        ("promotions[1].scope", {}, "promotions[1].scope: names no SKU or category"),
        ("promotions[1].scope", {"all": True, "skus": ["A"]}, "promotions[1].scope: either all"),
        ("promotions[1].percent_bp", 10_001, "promotions[1].percent_bp: expected `int` <= 10000"),
        ("promotions[1].percent_bp", 0, "promotions[1].percent_bp: expected `int` >= 1"),
        ("promotions[1].kind", "bundle", "promotions[1].kind: invalid value 'bundle'"),
        (
            "promotions[2].id",
            "MJ200",
            "promotions[2].id: 'MJ200' is already the id of promotions[0]",
        ),
        ("promotions[0].off_fen", 20_001, "promotions[0].off_fen: 20001 off is more than"),
        ("promotions[2].prices", {}, "promotions[2].prices: expected `object` of length >= 1"),
        ("promotions[3].get", 0, "promotions[3].get: expected `int` >= 1"),
        (
            "promotions[4].valid_until",
            "2026-05-31",
            "promotions[4].valid_until: 2026-05-31 is not after valid_from",
        ),
        (
            "promotions[4].valid_from",
            "2026-02-30",
            "promotions[4].valid_from: '2026-02-30' is not a date",
        ),
        ("promotions[4].until_time", "09:00", "promotions[4].until_time: 09:00 is not after 10:00"),
        ("promotions[4].from_time", "25:00", "promotions[4].from_time: '25:00' is not a time"),
        ("promotions[4].weekdays", [3, 3], "promotions[4].weekdays: a day is listed twice"),
        ("promotions[4].weekdays", [8], "promotions[4].weekdays[0]: expected `int` <= 7"),
        ("promotions[4].tiers", ["platinum"], "promotions[4].tiers[0]: invalid enum value"),
        ("promotions[1].earn_rate", 3, "promotions[1]: object contains unknown field `earn_rate`"),
    ],
)
def test_a_bad_or_inconsistent_rule_is_refused_naming_its_field(
    path: str, value: Any, expected: str
) -> None:
    assert expected in refused(changed(path, value))


def test_a_missing_section_is_refused_rather_than_reset_to_a_default() -> None:
    body = good()
    del body["returns"]
    assert refused(body) == "rule set: Object missing required field `returns`"
    del body["promotions"][1]["scope"]
    body["returns"] = to_plain(default_rules())["returns"]
    assert refused(body) == "promotions[1]: object missing required field `scope`"


def test_points_worth_more_than_the_money_that_earns_them_are_refused() -> None:
    # 1 point per fen paid, 100 points worth ¥10: every ¥1 paid would give back ¥10.
    assert "loyalty.fen_per_point" in refused(changed("loyalty.fen_per_point", 1))
    # At 1 point per 20 fen, ¥1 paid earns 5 points, worth ¥0.50: generous, but allowed...
    generous = changed("loyalty.fen_per_point", 20)
    decode_body(generous)
    # ...until gold's 2x multiplier gives back everything that was paid.
    greedy = changed("tiers.levels[2].points_multiplier_bp", 20_000, generous)
    assert "loyalty.fen_per_point" in refused(greedy)


def test_a_published_rule_set_must_sit_under_its_own_key() -> None:
    published = to_plain(publish(decode_body(good()), "r7", "S001", NOW))
    assert published["version"] == "r7" and published["published_at"] == "2026-06-01T02:00:00Z"
    assert decode_published(published, "rules:S001").scope == "S001"
    for key in ("rules", "rules:S002"):
        with pytest.raises(RulesError, match="scope: a rule set for 'S001' under the key"):
            decode_published(published, key)
    with pytest.raises(RulesError, match="version"):
        decode_published({**published, "version": "7"}, "rules:S001")


def test_the_config_stream_checks_rule_sets_and_allows_them_more_room() -> None:
    body = decode_body(good())
    chain = to_plain(publish(body, "r1", "all", NOW))
    chain["promotions"][2]["prices"] = {f"SKU{i:05d}": 100 + i for i in range(1000)}
    assert len(msgspec.json.encode(chain)) > 4096  # more than any other config value may be
    assert validate_items("config", "upsert", [{"key": "rules", "value": chain}])
    bad = changed("tiers.levels[2].threshold", 1, chain)
    with pytest.raises(ItemError, match=r"items\[0\]\.value: rules 'rules': tiers\.levels\[2\]"):
        validate_items("config", "upsert", [{"key": "rules", "value": bad}])
    with pytest.raises(ItemError, match="at most 4096 bytes"):
        validate_items("config", "upsert", [{"key": "receipt_footer", "value": "x" * 5000}])
