"""Projections from sale, return, points and registration events."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from cloud.domain.errors import DomainError
from cloud.domain.projections import (
    EventFacts,
    SkuFigures,
    SkuKey,
    TotalsFigures,
    TotalsKey,
    business_time,
    combine,
    project,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
LOCAL = dt.datetime(2026, 11, 23, 21, 30, tzinfo=SHANGHAI)


def _line(line_no: int, sku: str, qty: int, net: int, weight: int | None = None) -> dict:
    return {
        "line_no": line_no, "sku": sku, "barcode": "", "name_zh": "", "name_en": "",
        "category": "c", "quantity": qty, "weight_g": weight, "unit_price_fen": net,
        "gross_fen": net, "discounts": [], "net_fen": net, "tax_rate_bp": 1300,
        "returnable": True, "price_overridden": False,
    }  # fmt: skip


def _sale(seq: int, member: str | None = "M1") -> EventFacts:
    body = {
        "sale_id": "5f0c7a57-0000-4000-8000-000000000001",
        "member_id": member,
        "lines": [_line(1, "A", 2, 1000), _line(2, "B", 1, 550, weight=350), _line(3, "A", 1, 500)],
        "gross_fen": 2200,
        "discount_fen": 150,
        "total_fen": 2050,
        "tenders": [
            {"kind": "points", "amount_fen": 1000},
            {"kind": "cash", "amount_fen": 1050, "tendered_fen": 1100},
        ],
        "points_earned": 1,
        "points_redeemed": 100,
        "points": (
            [
                {"member_id": member, "delta": -100, "reason": "redeem", "origin_sale_id": ""},
                {"member_id": member, "delta": 1, "reason": "earn", "origin_sale_id": ""},
            ]
            if member
            else []
        ),
    }
    return EventFacts("S001-T01", "S001", seq, "sale", body, LOCAL)


def test_sale_projects_figures_points_and_paid_spend() -> None:
    p = project(_sale(4))
    day = dt.date(2026, 11, 23)
    assert p.skus == {
        SkuKey("S001", day, 21, "A"): SkuFigures(lines=2, quantity=3, weight_g=0, net_fen=1500),
        SkuKey("S001", day, 21, "B"): SkuFigures(lines=1, quantity=1, weight_g=350, net_fen=550),
    }
    assert p.totals == {
        TotalsKey("S001", day, "S001-T01"): TotalsFigures(
            sales_count=1, gross_fen=2200, discount_fen=150, sales_fen=2050,
            points_earned=1, points_redeemed=100,
        )
    }  # fmt: skip
    # Spend counts money only: the 10 yuan paid with points is not spend.
    assert p.spend == {"M1": 1050}
    assert [(r.member_id, r.delta, r.reason, r.origin_seq, r.line_no) for r in p.ledger] == [
        ("M1", -100, "redeem", 4, 0),
        ("M1", 1, "earn", 4, 1),
    ]
    assert p.ledger[0].origin_sale_id == "5f0c7a57-0000-4000-8000-000000000001"


def test_anonymous_sale_has_no_member_effects() -> None:
    p = project(_sale(1, member=None))
    assert p.spend == {} and p.ledger == ()


def test_return_reverses_figures_spend_and_points() -> None:
    body = {
        "return_id": "5f0c7a57-0000-4000-8000-0000000000aa",
        "original_sale_id": "5f0c7a57-0000-4000-8000-000000000001",
        "member_id": "M1",
        "lines": [{"original_line_no": 1, "sku": "A", "quantity": 1, "weight_g": None,
                   "refund_fen": 500}],
        "refund_fen": 500,
        "refunds": [{"kind": "cash", "amount_fen": 450}, {"kind": "points", "amount_fen": 50}],
        "points": [{"member_id": "M1", "delta": 5, "reason": "return_refund",
                    "origin_sale_id": "5f0c7a57-0000-4000-8000-000000000001"}],
    }  # fmt: skip
    p = project(EventFacts("S001-T01", "S001", 9, "return", body, LOCAL))
    day = dt.date(2026, 11, 23)
    assert p.skus == {SkuKey("S001", day, 21, "A"): SkuFigures(0, -1, 0, -500)}
    assert p.totals[TotalsKey("S001", day, "S001-T01")] == TotalsFigures(
        returns_count=1, refund_fen=500
    )
    assert p.spend == {"M1": -450}
    assert [(r.delta, r.reason) for r in p.ledger] == [(5, "return_refund")]


def test_flat_points_adjustment() -> None:
    body = {"member_id": "M2", "delta": 30, "reason": "adjust", "origin_sale_id": "", "note": ""}
    p = project(EventFacts("S001-T01", "S001", 2, "points_adjustment", body, LOCAL))
    assert [(r.member_id, r.delta, r.reason) for r in p.ledger] == [("M2", 30, "adjust")]


def test_registration_records_home_store() -> None:
    body = {"member_id": "M3", "phone": "13800135678", "name": "Li", "registered_at": "x"}
    p = project(EventFacts("S002-T01", "S002", 1, "member_registered", body, LOCAL))
    assert [(r.member_id, r.phone, r.home_store) for r in p.registrations] == [
        ("M3", "13800135678", "S002")
    ]


def test_events_without_figures_project_nothing() -> None:
    p = project(EventFacts("S001-T01", "S001", 1, "shift_opened", {"shift_id": "x"}, LOCAL))
    assert p.skus == {} and p.ledger == () and p.totals == {}


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"total_fen": "20.50"}, "field 'total_fen' must be int"),
        ({"total_fen": True}, "field 'total_fen' must be int"),
        ({"lines": [{"sku": "A"}]}, "lines[0]: missing field 'quantity'"),
        ({"points": [{"member_id": "M1", "delta": 1.5, "reason": "earn"}]}, "'delta' must be int"),
    ],
)
def test_unusable_body_names_the_field(patch: dict, message: str) -> None:
    event = _sale(3)
    broken = EventFacts(
        event.terminal_id, event.store_id, 3, "sale", {**event.body, **patch}, LOCAL
    )
    with pytest.raises(DomainError) as err:
        project(broken)
    assert message in str(err.value)
    assert "sale seq 3" in str(err.value)


def test_combine_sums_per_key_and_keeps_ledger_order() -> None:
    merged = combine([project(_sale(1)), project(_sale(2))])
    day = dt.date(2026, 11, 23)
    assert merged.skus[SkuKey("S001", day, 21, "A")] == SkuFigures(4, 6, 0, 3000)
    assert merged.totals[TotalsKey("S001", day, "S001-T01")].sales_fen == 4100
    assert merged.totals[TotalsKey("S001", day, "S001-T01")].net_fen == 4100
    assert merged.spend == {"M1": 2100}
    assert [(r.origin_seq, r.line_no) for r in merged.ledger] == [(1, 0), (1, 1), (2, 0), (2, 1)]


def test_business_time_trusts_only_a_synced_clock() -> None:
    device = dt.datetime(1970, 1, 1, 0, 5, tzinfo=dt.UTC)
    received = dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC)
    # Unsynced: the receive time stands in, shown in store time (UTC+8 -> next day 00:00).
    assert business_time(device, False, received, SHANGHAI) == dt.datetime(
        2026, 11, 24, 0, 0, tzinfo=SHANGHAI
    )
    synced = dt.datetime(2026, 11, 23, 15, 59, tzinfo=dt.UTC)
    assert business_time(synced, True, received, SHANGHAI).date() == dt.date(2026, 11, 23)
