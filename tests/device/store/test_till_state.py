"""What recovery reads to rebuild the till, through the store's own methods."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

from device import recovery
from device.checkout.records import AuditEntry, CashMovement
from device.store.store import Store
from device.store.till_state import OpenShiftRow, ParkedCart, ShiftRefund
from tests.device.store.builders import T0, FakeClock, make_return, make_sale


def test_the_open_shift_its_sales_refunds_cash_and_no_sales(store: Store) -> None:
    assert store.till.open_shift() is None
    store.record_shift_open("SH1", "M01", 50_000, T0)
    first = make_sale(2, seed=1)
    receipt = store.record_sale(first).receipt_no
    second = make_sale(1, seed=2, member_id=None)
    store.record_sale(second)
    ret = make_return(first, receipt, (1,), when=T0 + dt.timedelta(minutes=5))
    store.record_return(ret)
    store.record_cash_movement(CashMovement("CM1", "SH1", 2_000, "change in", "M01", T0))
    store.record_cash_movement(CashMovement("CM2", "SH1", -500, "change out", "M01", T0))
    store.record_audit(AuditEntry("A1", "no_sale", "C01", "M01", "drawer", T0))
    store.record_audit(AuditEntry("A0", "no_sale", "C01", "M01", "before", T0 - dt.timedelta(1)))
    shift = store.till.open_shift()
    assert shift == OpenShiftRow("SH1", "M01", 50_000, shift.opened_at if shift else "")
    assert shift is not None and shift.opened_at.startswith("2026-11-23T02:00:00")
    assert store.till.shift_sale_ids("SH1") == [first.sale_id, second.sale_id]
    assert store.till.shift_sale_ids("SH2") == []
    [refund] = store.till.shift_refunds("SH1")  # the builder's sales are paid in cash
    assert refund == ShiftRefund(ret.return_id, ret.refund_fen, "cash", ret.refunds[0].amount_fen)
    assert store.till.shift_cash_movements("SH1") == [2_000, -500]
    assert store.till.no_sales_since(shift.opened_at) == 1


def test_parked_carts_and_the_days_sales(store: Store, clock: FakeClock) -> None:
    store.suspend("P2", "C01", "SH1", "parked first", {"lines": [2]})
    clock.advance(seconds=30)
    store.suspend("P1", "C01", "SH1", "parked next", {"lines": [1]})
    assert [c.suspend_id for c in store.till.parked_carts()] == ["P2", "P1"]
    assert store.till.parked_carts()[0] == ParkedCart("P2", {"lines": [2]})
    today = make_sale(1, seed=3)
    receipt = store.record_sale(today).receipt_no
    store.record_sale(make_sale(1, seed=4, when=T0 + dt.timedelta(days=1)))
    assert store.till.sales_of_day("20261123") == [(today.sale_id, receipt)]


def test_recovery_reads_the_store_only_through_its_methods() -> None:
    """No SQL against the store file from the runtime's recovery code: the store owns its
    schema (the command log's own small file is recovery's to query)."""
    tree = ast.parse(Path(recovery.__file__).read_text())
    raw = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in ("db", "models", "query", "row")
    ]
    assert raw == []
