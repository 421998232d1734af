"""Shift accounting: expected cash and per-tender totals checked against hand sums."""

from __future__ import annotations

import datetime as dt

import pytest

from device.checkout.errors import ShiftError
from device.checkout.records import (
    CashMovement,
    ReturnLine,
    ReturnRecord,
    SaleRecord,
    TenderKind,
    TenderLine,
)
from device.checkout.shifts import (
    add_movement,
    add_no_sale,
    add_return,
    add_sale,
    cash_out_allowed,
    open_shift,
    report,
    report_from_records,
    tender_differences,
)

NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def sale(sale_id: str, total: int, tenders: list[TenderLine], change: int = 0) -> SaleRecord:
    return SaleRecord(
        sale_id=sale_id,
        cashier_id="c1",
        shift_id="S1",
        member_id=None,
        member_tier=None,
        lines=(),
        gross_fen=total,
        discount_fen=0,
        total_fen=total,
        tenders=tuple(tenders),
        change_fen=change,
        points_earned=0,
        points_redeemed=0,
        points=(),
        device_time=NOW,
        clock_synced=True,
    )


def refund(return_id: str, amount: int, kind: TenderKind) -> ReturnRecord:
    return ReturnRecord(
        return_id=return_id,
        original_sale_id="s1",
        original_receipt_no="R1",
        cashier_id="c1",
        shift_id="S1",
        member_id=None,
        lines=(ReturnLine(1, "sku", 1, None, amount),),
        refund_fen=amount,
        refunds=(TenderLine(kind, amount),),
        points=(),
        authorised_by=None,
        device_time=NOW,
        clock_synced=True,
    )


def movement(mid: str, amount: int) -> CashMovement:
    return CashMovement(mid, "S1", amount, "change float", "c1", NOW)


SALES = [
    # 38.50 paid with a 50 note: 38.50 stays in the drawer, 11.50 change went out
    sale("s1", 3850, [TenderLine(TenderKind.CASH, 3850, tendered_fen=5000)], change=1150),
    sale("s2", 12000, [TenderLine(TenderKind.CARD, 12000, approval_code="A1")]),
    # split: 20.00 cash + 79.90 mobile
    sale(
        "s3",
        9990,
        [
            TenderLine(TenderKind.CASH, 2000, tendered_fen=2000),
            TenderLine(TenderKind.MOBILE, 7990, approval_code="M1"),
        ],
    ),
]
RETURNS = [refund("r1", 1500, TenderKind.CASH), refund("r2", 4000, TenderKind.CARD)]
MOVES = [movement("m1", 10000), movement("m2", -5000)]


def test_z_report_expected_cash_matches_hand_computation() -> None:
    shift = open_shift("S1", "c1", NOW, 20000)
    for s in SALES:
        shift = add_sale(shift, s)
    for r in RETURNS:
        shift = add_return(shift, r)
    for m in MOVES:
        shift = add_movement(shift, m)
    z = report(shift, "Z", counted_cash_fen=70000)
    # float 200.00 + cash sales 38.50 + 20.00 - cash refund 15.00 + in 100.00 - out 50.00
    expected = 20000 + 3850 + 2000 - 1500 + 10000 - 5000
    assert expected == 29350
    assert z.expected_cash_fen == 29350
    assert z.counted_cash_fen == 70000
    assert z.difference_fen == 70000 - 29350
    assert z.by_tender == {"cash": 4350, "card": 8000, "mobile": 7990}
    assert (z.sales_count, z.returns_count) == (3, 2)
    assert (z.cash_in_fen, z.cash_out_fen) == (10000, 5000)
    assert z.extras["refund_fen"] == 5500


def test_x_report_has_no_counted_figures_and_the_shift_goes_on() -> None:
    shift = add_sale(open_shift("S1", "c1", NOW, 10000), SALES[0])
    x = report(shift, "X")
    assert x.kind == "X"
    assert x.expected_cash_fen == 13850
    assert x.counted_cash_fen is None and x.difference_fen is None
    later = add_sale(shift, SALES[1])
    assert report(later, "X").by_tender == {"cash": 3850, "card": 12000}


def test_report_from_records_equals_the_running_fold() -> None:
    shift = add_no_sale(open_shift("S1", "c1", NOW, 20000))
    for s in SALES:
        shift = add_sale(shift, s)
    for r in RETURNS:
        shift = add_return(shift, r)
    for m in MOVES:
        shift = add_movement(shift, m)
    running = report(shift, "Z", 29000)
    rebuilt = report_from_records("S1", "Z", 20000, SALES, RETURNS, MOVES, 29000, no_sale_count=1)
    assert rebuilt == running
    assert rebuilt.difference_fen == -350
    assert rebuilt.extras["no_sale_count"] == 1


def test_bad_shift_inputs_are_refused_with_reasons() -> None:
    with pytest.raises(ShiftError, match="float cannot be negative"):
        open_shift("S1", "c1", NOW, -1)
    shift = open_shift("S1", "c1", NOW, 1000)
    with pytest.raises(ShiftError, match="needs the counted cash"):
        report(shift, "Z")
    with pytest.raises(ShiftError, match="non-zero"):
        add_movement(shift, movement("m", 0))
    with pytest.raises(ShiftError, match="another shift"):
        add_movement(shift, CashMovement("m", "S2", 100, "x", "c1", NOW))
    with pytest.raises(ShiftError, match=r"only ¥10\.00 should be in the drawer"):
        cash_out_allowed(shift, 1001)
    cash_out_allowed(shift, 1000)


def test_z_report_sets_each_counted_tender_against_what_the_till_took() -> None:
    shift = open_shift("S1", "c1", NOW, 20000)
    for s in SALES:
        shift = add_sale(shift, s)
    for r in RETURNS:
        shift = add_return(shift, r)
    # card: 120.00 sold - 40.00 refunded = 80.00 expected; the bank slip says 79.00
    z = report(shift, "Z", counted_cash_fen=24850, counted_other={"card": 7900, "mobile": 7990})
    assert z.counted_by_tender == {"cash": 24850, "card": 7900, "mobile": 7990}
    # cash expected: 200.00 + 38.50 + 20.00 - 15.00 = 243.50
    assert tender_differences(z) == {"cash": 24850 - 24350, "card": -100, "mobile": 0}
    assert report(shift, "X").counted_by_tender == {}


@pytest.mark.parametrize(
    ("kind", "other", "reason"),
    [
        ("X", {"card": 1}, "an X report has no counted amounts"),
        ("Z", {"cash": 1}, "not a tender counted apart from cash"),
        ("Z", {"bitcoin": 1}, "not a tender counted apart from cash"),
        ("Z", {"card": -1}, "counted card cannot be negative"),
    ],
)
def test_bad_counted_tenders_are_refused(kind: str, other: dict[str, int], reason: str) -> None:
    shift = open_shift("S1", "c1", NOW, 0)
    with pytest.raises(ShiftError, match=reason):
        report(shift, kind, counted_cash_fen=0 if kind == "Z" else None, counted_other=other)
