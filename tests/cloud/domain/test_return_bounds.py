"""A return re-checked against its sale: every return the till plans passes, forgeries don't."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.domain.return_bounds import check_against_sale
from device.checkout import records as r
from device.checkout.errors import ReturnError
from device.checkout.loyalty import LoyaltyConfig
from device.checkout.returns import ReturnPolicy, ReturnRequestLine, plan_return
from tests.protocol.samples import record_to_wire

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)


@st.composite
def sales(draw: st.DrawFn) -> r.SaleRecord:
    """A sale of 1-4 lines (some weighed, some discounted) paid by up to three tenders."""
    lines = []
    for no in range(1, draw(st.integers(1, 4)) + 1):
        weighed = draw(st.booleans())
        quantity = 1 if weighed else draw(st.integers(1, 7))
        weight = draw(st.integers(1, 5000)) if weighed else None
        gross = draw(st.integers(1, 200_000))
        net = draw(st.integers(0, gross))
        promo = (r.Discount("promo", "p", gross - net),)
        lines.append(r.SaleLine(no, f"SKU{no}", "", "", "", "c", quantity, weight, 1, gross,
                                promo, net, 0, True))  # fmt: skip
    total = sum(ln.net_fen for ln in lines)
    member = draw(st.sampled_from([None, "M1"]))
    kinds = [r.TenderKind.CASH, r.TenderKind.CARD] + ([r.TenderKind.POINTS] if member else [])
    cuts = sorted(draw(st.lists(st.integers(0, total), max_size=len(kinds) - 1)))
    amounts = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    tenders = tuple(r.TenderLine(kind, amount) for kind, amount in zip(kinds, amounts, strict=False)
                    if amount > 0)  # fmt: skip
    redeemed = sum(t.amount_fen for t in tenders if t.kind is r.TenderKind.POINTS) // 10
    earned = draw(st.integers(0, total // 100)) if member else 0
    return r.SaleRecord("S", "C1", "SH", member, None, tuple(lines), 0, 0, total, tenders, 0,
                        earned, redeemed, (), NOW, True)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sales(), st.data())
def test_every_return_the_till_plans_stays_within_its_sale(sale: r.SaleRecord, data: Any) -> None:
    # Two tills return parts of one sale, each knowing only its own earlier returns (offline):
    # together they may take back more than was sold (reported as an over-return), but each
    # return alone is within what the sale paid, and so are each till's returns together.
    # A third till is told by HQ what every till returned so far (another till's receipt).
    wire_sale = record_to_wire(sale)
    seen: dict[int, list[r.ReturnRecord]] = {0: [], 1: [], 2: []}
    for _ in range(data.draw(st.integers(1, 6))):
        till = data.draw(st.integers(0, 2))
        known = [*seen[0], *seen[1], *seen[2]] if till == 2 else seen[till]
        line = data.draw(st.sampled_from(sale.lines))
        request = ReturnRequestLine(line.line_no, data.draw(st.integers(1, 7)),
                                    data.draw(st.none() | st.integers(1, 5000))
                                    if line.weight_g is not None else None)  # fmt: skip
        try:
            plan = plan_return(sale, known, [request], NOW, 0, ReturnPolicy(),
                               LoyaltyConfig())  # fmt: skip
        except ReturnError:  # a refused request records nothing
            continue
        ret = r.ReturnRecord("R", sale.sale_id, "RC", "C1", "SH", sale.member_id,
                             plan.lines, plan.refund_fen, plan.refunds, plan.points, None, NOW,
                             True)  # fmt: skip
        own = [record_to_wire(x) for x in seen[till]]
        seen[till].append(ret)
        assert check_against_sale(record_to_wire(ret), wire_sale, True) == []
        assert check_against_sale(record_to_wire(ret), wire_sale, True, own) == []


def _sale() -> dict[str, Any]:
    """¥100 of 2 x RICE and ¥20 of MILK for M1: ¥90 card, ¥30 in 300 points; 9 points earned."""
    return {
        "sale_id": "S", "member_id": "M1", "total_fen": 12_000, "points_earned": 9,
        "points_redeemed": 300,
        "lines": [{"line_no": 1, "sku": "RICE", "quantity": 2, "weight_g": None, "net_fen": 10_000},
                  {"line_no": 2, "sku": "MILK", "quantity": 1, "weight_g": None, "net_fen": 2_000}],
        "tenders": [{"kind": "card", "amount_fen": 9_000}, {"kind": "points", "amount_fen": 3_000}],
    }  # fmt: skip


def _return() -> dict[str, Any]:
    """The honest return of one RICE: ¥50, ¥37.50 to the card and ¥12.50 as 125 points."""
    return {
        "member_id": "M1", "refund_fen": 5_000,
        "lines": [{"original_line_no": 1, "sku": "RICE", "quantity": 1, "weight_g": None,
                   "refund_fen": 5_000}],
        "refunds": [{"kind": "card", "amount_fen": 3_750}, {"kind": "points", "amount_fen": 1_250}],
        "points": [{"member_id": "M1", "delta": -4, "reason": "return_reversal"},
                   {"member_id": "M1", "delta": 125, "reason": "return_refund"}],
    }  # fmt: skip


def _refund(ret: dict[str, Any], fen: int) -> None:
    ret["lines"][0]["refund_fen"] = fen
    ret["refund_fen"] = fen + sum(ln["refund_fen"] for ln in ret["lines"][1:])


@pytest.mark.parametrize(
    ("forgery", "reason"),
    [
        (lambda t: _refund(t, 1_000_000), "line 1: refund 1000000 is more than the 1 of 2"),
        (lambda t: t["lines"][0].update(quantity=3), "line 1: 3 returned of 2 sold"),
        (lambda t: t["lines"].extend([dict(t["lines"][0])] * 2), "line 1: 3 returned of 2 sold"),
        (lambda t: t["lines"][0].update(original_line_no=9), "line 9 is not on the sale"),
        (lambda t: t["lines"][0].update(sku="TV"), "line 1: sku 'TV' is not the sale's 'RICE'"),
        (
            lambda t: t["refunds"].__setitem__(0, {"kind": "cash", "amount_fen": 3_750}),
            "cash refund 3750 is more than the sale paid by cash (0)",
        ),
        (lambda t: t["refunds"][1].update(amount_fen=3_001), "points refund 3001 is more than"),
        (
            lambda t: t["points"][1].update(delta=100_000),
            "return_refund of 100000 points is not the refund's share of the sale's 300 redeemed",
        ),
        (lambda t: t["points"].pop(0), "return_reversal of 0 points is not the refund's share"),
        (
            lambda t: [p.update(member_id="M2") for p in t["points"]],
            "points for member 'M1', not the sale's",
        ),
    ],
)
def test_each_forged_return_is_named(forgery: Any, reason: str) -> None:
    assert check_against_sale(_return(), _sale(), True) == []
    forged = _return()
    forgery(forged)
    same = all(p["member_id"] == "M1" for p in forged["points"])
    found = check_against_sale(forged, _sale(), same)
    assert any(reason in x for x in found), found


def test_points_moved_on_a_sale_without_a_member_are_named() -> None:
    anonymous = {**_sale(), "member_id": None}
    ret = {**_return(), "points": [{"member_id": "M2", "delta": 500, "reason": "return_refund"}]}
    assert check_against_sale(ret, anonymous, False) == [
        "points for member 'M1', not the sale's None",
        "points moved by the return of a sale that earned and redeemed none",
    ]


def test_a_weighed_line_is_bounded_by_its_grams() -> None:
    apples = {"line_no": 1, "sku": "APPLE", "quantity": 1, "weight_g": 1234, "net_fen": 1481}
    sale = {**_sale(), "lines": [apples], "tenders": [{"kind": "cash", "amount_fen": 1481}],
            "total_fen": 1481, "member_id": None}  # fmt: skip
    half = {"member_id": None, "refund_fen": 741, "points": [],
            "lines": [{"original_line_no": 1, "sku": "APPLE", "quantity": 1, "weight_g": 617,
                       "refund_fen": 741}],
            "refunds": [{"kind": "cash", "amount_fen": 741}]}  # fmt: skip
    assert check_against_sale(half, sale, False) == []
    half["lines"][0]["weight_g"] = 100  # 100 g passed off as half the bag
    assert check_against_sale(half, sale, False) == [
        "line 1: refund 741 is more than the 100 of 1234 returned paid (net 1481)"
    ]
