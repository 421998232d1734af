"""The cloud's re-check of a till's numbers: genuine sales pass, every listed forgery is caught."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.domain import plausibility as p
from cloud.domain.flags import Flag
from cloud.domain.implausible import REASONS
from device.checkout.commands import RecordReturn, RecordSale
from device.checkout.money import round_div as device_round_div
from protocol import bodies
from tests.cloud.factories import no_receipt_return_body, sale_body
from tests.device.checkout.fakes import FakeCoupon, Till
from tests.device.checkout.test_machine_random import MEMBERS, PRODUCTS, START, _resolve, mixed
from tests.protocol.samples import record_to_wire

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
RULES = p.RuleSet()
UUID = "6f1c2a44-3b1e-4f7a-9a51-0c2d4e6f8a10"


def _sale(body: dict[str, Any]) -> bodies.SaleBody:
    return msgspec.convert(body, bodies.SaleBody)


def _said(found: Sequence[str]) -> list[str]:
    """The reasons, each a message HQ's page can say in its language (an id of REASONS, which
    tests/cloud/api/test_flag_reasons.py finds in both catalogues)."""
    for reason in found:
        assert isinstance(reason, Flag) and reason.msg_id in REASONS, reason
    return list(found)


def _check(body: dict[str, Any], kind: type = bodies.SaleBody, **kw: Any) -> list[str]:
    typed = msgspec.convert(body, kind)
    return _said(p.check(typed, RULES, "", NOW, True, NOW, **kw))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mixed, min_size=10, max_size=80))
def test_every_sale_and_return_the_real_till_records_is_plausible(sequence: list[Any]) -> None:
    # The device's checkout core produces the records; the cloud re-derives every sum and
    # points figure with its own code. Any disagreement would hold honest sales at HQ.
    till = Till(
        PRODUCTS, members=MEMBERS, cards={"C1": "M1"}, coupons=[FakeCoupon("CPN", "amount", 500)]
    )
    for raw in START + sequence:
        for command in till.send(_resolve(till, raw)):
            # The fake till's ids are counters; the wire wants UUIDs, which plausibility ignores.
            if isinstance(command, RecordSale):
                wire = {**record_to_wire(command.sale), "receipt_no": "R1", "sale_id": UUID}
                assert _check(wire) == [], wire
            if isinstance(command, RecordReturn):
                wire = {**record_to_wire(command.ret), "receipt_no": "R2", "return_id": UUID}
                assert _check(wire, bodies.ReturnBody) == [], wire


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_the_clouds_rounding_rule_is_the_tills(numerator: int, denominator: int) -> None:
    assert p.round_div(numerator, denominator) == device_round_div(numerator, denominator)


def _forge(change: Any, **kw: Any) -> dict[str, Any]:
    body = sale_body([("A", 2, 1000_00), ("B", 1, 250)], member_id="M1", **kw)
    change(body)
    return body


@pytest.mark.parametrize(
    ("forgery", "reason"),
    [
        # A 1-fen total against a ¥1,000,000 line.
        (lambda b: b.update(total_fen=1), "total 1 is not the lines' net"),
        (lambda b: b["lines"][0].update(net_fen=1), "line 1: net 1 is not gross"),
        (lambda b: b["lines"][0].update(gross_fen=5), "line 1: gross 5 is not price x"),
        (lambda b: b.update(gross_fen=7), "gross 7 is not the lines'"),
        (lambda b: b["tenders"][0].update(amount_fen=1), "tenders add up to 1"),
        (lambda b: b["tenders"][0].update(tendered_fen=0), "cash handed 0 below"),
        (lambda b: b.update(change_fen=5000), "change 5000 is not cash handed"),
        (lambda b: b.update(points_earned=1_000_000), "earn rows do not add up"),
        (
            lambda b: (b.update(points_earned=900), b["points"][-1].update(delta=900)),
            "900 points earned; the rules give 100",
        ),
        (lambda b: b["points"][-1].update(member_id="M999"), "not the event's member 'M1'"),
        (lambda b: b["points"][-1].update(reason="adjust"), "points reason 'adjust' not allowed"),
    ],
)
def test_each_forged_sale_is_named(forgery: Any, reason: str) -> None:
    found = _check(_forge(forgery))
    assert any(reason in r for r in found), found


def test_redemption_rules_block_value_and_cap() -> None:
    honest = sale_body([("A", 1, 10_000)], member_id="M1", redeem=500)
    assert _check(honest) == []
    odd = sale_body([("A", 1, 10_000)], member_id="M1", redeem=150)
    assert any("not in blocks of 100" in r for r in _check(odd))
    over_cap = sale_body([("A", 1, 10_000)], member_id="M1", redeem=600)  # ¥60 of ¥100
    assert any("over the cap 5000" in r for r in _check(over_cap))
    cheap = sale_body([("A", 1, 10_000)], member_id="M1", redeem=500)
    cheap["tenders"][0]["amount_fen"] = 9000  # 500 points passed off as ¥90
    cheap["tenders"][1]["amount_fen"] = cheap["tenders"][1]["tendered_fen"] = 1000
    assert any("not the value of 500 points" in r for r in _check(cheap))


def test_points_without_a_member_and_weighed_lines() -> None:
    anonymous = sale_body([("A", 1, 5000)])
    anonymous["points_earned"] = 5
    assert any("without a member" in r for r in _check(anonymous))
    weighed = sale_body([("K", 1, 0)])
    line = weighed["lines"][0]
    line.update(weight_g=755, unit_price_fen=3980, gross_fen=3005, net_fen=3005)  # 3004.9 -> 3005
    weighed.update(gross_fen=3005, total_fen=3005)
    weighed["tenders"][0].update(amount_fen=3005, tendered_fen=3005)
    assert _check(weighed) == []
    line.update(quantity=3)
    assert any("weighed line has quantity 1" in r for r in _check(weighed))


def test_a_synchronised_clock_in_2099_is_held_an_unsynchronised_one_is_not() -> None:
    body = sale_body([("A", 1, 100)])
    future = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
    typed = _sale(body)
    assert any("after the cloud's receive time" in r
               for r in _said(p.check(typed, RULES, "", future, True, NOW)))  # fmt: skip
    assert p.check(typed, RULES, "", future, False, NOW) == []
    ancient = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert any(
        "older than any plausible" in r
        for r in _said(p.check(typed, RULES, "", ancient, True, NOW))
    )


def test_an_unknown_rules_version_is_held_and_a_till_points_adjustment_always() -> None:
    typed = _sale(sale_body([("A", 1, 100)]))
    assert _said(p.check(typed, None, "v9", NOW, True, NOW)) == [
        "rules version 'v9' is not known to the cloud"
    ]
    grant = msgspec.convert(
        {"member_id": "M7", "delta": 1_000_000, "reason": "adjust"}, bodies.PointsAdjustmentBody
    )
    assert _said(p.check(grant, RULES, "", NOW, True, NOW)) == [
        "points adjustment of 1000000 for 'M7' sent by a till"
    ]


def test_a_registration_claiming_points_is_held() -> None:
    body = {"member_id": "M9", "phone": "13800000009", "points_balance": 99_999, "tier": "gold"}
    found = _check(body, bodies.MemberRegisteredBody)
    assert found == ["new member with 99999 points", "new member registered as gold"]


def test_returns_add_up_and_need_a_manager_without_receipt() -> None:
    ret = no_receipt_return_body(30_000, paid_fen=29_000, line_no=1)
    found = _check(ret, bodies.ReturnBody)
    assert found == [
        "refund tenders add up to 29000, not 30000",
        "a return without receipt needs a manager",
        "refund 30000 without receipt is over the cap 20000",
    ]


def test_a_managers_return_without_receipt_points_at_no_line_and_passes() -> None:
    # A no-receipt return has no receipt line to name: the till sends line 0.
    ret = no_receipt_return_body(1_500, authorised_by="M01")
    assert _check(ret, bodies.ReturnBody) == []
    # Line numbers below 0 are still refused at the wire.
    ret["lines"][0]["original_line_no"] = -1
    with pytest.raises(msgspec.ValidationError, match="original_line_no"):
        _check(ret, bodies.ReturnBody)
