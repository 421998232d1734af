"""Returns through the state machine: against the receipt, without one, voids, and the Z report."""

from __future__ import annotations

from dataclasses import replace

from device.checkout import events as ev
from device.checkout.barcodes import gtin_check_digit, receipt_scan_text
from device.checkout.commands import (
    AskHq,
    Notify,
    OpenDrawer,
    PrintReceipt,
    PrintReport,
    PrintReturnReceipt,
    RecordAudit,
    RecordReturn,
    RecordSale,
)
from device.checkout.config import default_config
from device.checkout.events import ManagerCreds, ReturnItem
from device.checkout.records import Member, PointsReason, Product, SaleRecord, TenderKind
from device.checkout.returns import ReturnPolicy
from device.checkout.shifts import tender_differences
from device.checkout.state import Phase
from tests.device.checkout.fakes import Till

MANAGER = ManagerCreds("m1", "9999")


def ean13(body: str) -> str:
    return body + str(gtin_check_digit(body))


MILK = Product("SKU-MILK", "牛奶", "Milk", "dairy", 1250, barcodes=(ean13("690123456701"),))
RICE = Product("SKU-RICE", "大米", "Rice", "grain", 5990, barcodes=(ean13("690123456702"),))
ZHANG = Member(member_id="M2", phone="13700001234", points_balance=0)


def till_with_sale(tender: ev.AddTender | None = None) -> tuple[Till, SaleRecord, str]:
    """A shift with float 200.00 and one member sale: milk + 2 rice = 132.30."""
    till = Till([MILK, RICE], members=[ZHANG])
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(20000, MANAGER))
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.Scan(RICE.barcodes[0]))
    till.send(ev.SetQuantity(2))
    till.send(ev.IdentifyMember("phone", "13700001234"))
    done = till.send(tender or ev.AddTender(TenderKind.CASH, 20000))
    sale = next(c.sale for c in done if isinstance(c, RecordSale))
    till.send(ev.SkipFeedback())
    return till, sale, till.receipts[sale.sale_id]


def test_return_against_scanned_receipt_refunds_cash_and_reverses_points() -> None:
    till, sale, receipt = till_with_sale()
    assert sale.total_fen == 13230 and sale.points_earned == 13
    till.send(ev.Scan(receipt_scan_text(receipt)))  # a receipt scan in IDLE opens the return
    assert till.state.phase is Phase.RETURNING
    done = till.send(ev.ReturnLines((ReturnItem(2, 1),), reason="damaged"))
    ret = next(c.ret for c in done if isinstance(c, RecordReturn))
    # one of two rice units: half of the line's 119.80
    assert ret.refund_fen == 5990
    assert [(t.kind, t.amount_fen) for t in ret.refunds] == [(TenderKind.CASH, 5990)]
    assert ret.original_sale_id == sale.sale_id and ret.original_receipt_no == receipt
    # 13 points x 59.90 / 132.30 = 5.89 -> 6 points taken back
    assert [(p.reason, p.delta) for p in ret.points] == [(PointsReason.RETURN_REVERSAL, -6)]
    kinds = [type(c) for c in done if not isinstance(c, Notify | AskHq)]
    assert kinds[:3] == [RecordReturn, PrintReturnReceipt, OpenDrawer]
    assert till.state.phase is Phase.IDLE

    # the journal now holds that return: a second return of 2 rice is over-return
    till.send(ev.StartReturn(receipt))
    assert till.errors(till.send(ev.ReturnLines((ReturnItem(2, 2),)))) == [
        "return refused: only 1 of line 2 can still be returned"
    ]
    assert till.state.phase is Phase.RETURNING
    till.send(ev.CancelReturn())
    assert till.state.phase is Phase.IDLE


def test_return_refused_outside_window_and_for_unknown_receipt() -> None:
    till, _, receipt = till_with_sale()
    # Not in this till's journal: HQ is asked, and knows it nowhere in the chain either.
    assert till.errors(till.send(ev.StartReturn("S001-T01-20261123-9999"))) == [
        "receipt S001-T01-20261123-9999 is not known at any till of the chain"
    ]
    till.clock.advance(days=8)
    assert till.errors(till.send(ev.StartReturn(receipt))) == [
        "return refused: outside the 7-day return window (sold 2026-11-23)"
    ]
    assert till.state.phase is Phase.IDLE


def test_card_sale_refund_goes_back_to_the_card_without_opening_drawer() -> None:
    till, _sale, receipt = till_with_sale(ev.AddTender(TenderKind.CARD, 13230, approval_code="AP1"))
    till.send(ev.StartReturn(receipt))
    done = till.send(ev.ReturnLines((ReturnItem(1, 1),)))
    ret = next(c.ret for c in done if isinstance(c, RecordReturn))
    assert [(t.kind, t.amount_fen, t.reference) for t in ret.refunds] == [
        (TenderKind.CARD, 1250, "AP1")
    ]
    assert not [c for c in done if isinstance(c, OpenDrawer)]


def test_no_receipt_return_needs_manager_and_is_audited() -> None:
    till, _, _ = till_with_sale()
    before = till.state
    assert till.errors(till.send(ev.NoReceiptReturn("SKU-MILK", 2, 1250))) == [
        "manager PIN required"
    ]
    assert till.state is before
    done = till.send(ev.NoReceiptReturn("SKU-MILK", 2, 1250, MANAGER))
    audit = next(c.entry for c in done if isinstance(c, RecordAudit))
    ret = next(c.ret for c in done if isinstance(c, RecordReturn))
    assert audit.action == "no_receipt_return" and audit.manager_id == "m1"
    assert ret.authorised_by == "m1" and ret.original_sale_id is None
    assert ret.refund_fen == 2500
    assert len([c for c in done if isinstance(c, OpenDrawer)]) == 1
    assert till.errors(till.send(ev.NoReceiptReturn("SKU-RICE", 4, 5990, MANAGER))) == [
        "return refused: returns without a receipt are capped at ¥200.00 (this one is ¥239.60)"
    ]


def test_void_sale_reverses_everything_left_once() -> None:
    till, _sale, receipt = till_with_sale()
    till.send(ev.StartReturn(receipt))
    till.send(ev.ReturnLines((ReturnItem(1, 1),)))  # milk came back already: 12.50
    assert till.errors(till.send(ev.VoidSale(receipt))) == ["manager PIN required"]
    done = till.send(ev.VoidSale(receipt, MANAGER))
    assert [c.entry.action for c in done if isinstance(c, RecordAudit)] == ["void_sale"]
    ret = next(c.ret for c in done if isinstance(c, RecordReturn))
    assert ret.reason == "void" and ret.refund_fen == 13230 - 1250
    assert till.errors(till.send(ev.VoidSale(receipt, MANAGER))) == [
        f"nothing left to return on receipt {receipt}"
    ]


def test_z_report_after_sales_and_returns_matches_hand_count() -> None:
    till, _, receipt = till_with_sale()  # cash 132.30 kept (200.00 handed, 67.70 change)
    till.send(ev.StartReturn(receipt))
    till.send(ev.ReturnLines((ReturnItem(2, 1),)))  # 59.90 cash back
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.AddTender(TenderKind.MOBILE, 1250, approval_code="WX1"))
    till.send(ev.SkipFeedback())
    till.send(ev.CashOut(10000, "safe drop"))
    x = next(c.report for c in till.send(ev.XReport()) if isinstance(c, PrintReport))
    # float 200.00 + 132.30 - 59.90 - 100.00 = 172.40
    assert x.expected_cash_fen == 17240
    twice = ((TenderKind.MOBILE, 1250), (TenderKind.MOBILE, 1250))
    assert till.errors(till.send(ev.CloseShift(17200, MANAGER, twice))) == [
        "mobile is counted twice"
    ]
    # the mobile-payment settlement shows 12.60: 0.10 more than the till took
    close = ev.CloseShift(17200, MANAGER, ((TenderKind.MOBILE, 1260),))
    z = next(c.report for c in till.send(close) if isinstance(c, PrintReport))
    assert z.by_tender == {"cash": 13230 - 5990, "mobile": 1250}
    assert (z.sales_count, z.returns_count) == (2, 1)
    assert (z.expected_cash_fen, z.difference_fen) == (17240, -40)
    assert z.counted_by_tender == {"cash": 17200, "mobile": 1260}
    assert tender_differences(z) == {"cash": -40, "mobile": 10}


def test_reprint_prints_the_same_sale_again() -> None:
    till, sale, receipt = till_with_sale()
    done = till.send(ev.Reprint(receipt))
    printed = [c for c in done if isinstance(c, PrintReceipt)]
    assert len(printed) == 1 and printed[0].sale_id == sale.sale_id and printed[0].reprint


def test_member_over_the_30_day_return_limit_is_refused_at_the_receipt() -> None:
    config = replace(default_config(), returns=ReturnPolicy(max_returns_per_30_days=2))
    till = Till([MILK, RICE], members=[ZHANG], config=config)
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(20000, MANAGER))
    for code in (MILK.barcodes[0], RICE.barcodes[0], RICE.barcodes[0]):
        till.send(ev.Scan(code))
    till.send(ev.IdentifyMember("phone", "13700001234"))
    sale = next(
        c.sale for c in till.send(ev.AddTender(TenderKind.CASH, 20000)) if isinstance(c, RecordSale)
    )
    till.send(ev.SkipFeedback())
    receipt = till.receipts[sale.sale_id]
    for line_no in (1, 2):
        till.send(ev.StartReturn(receipt))
        assert till.errors(till.send(ev.ReturnLines((ReturnItem(line_no, 1),)))) == []
    assert till.errors(till.send(ev.StartReturn(receipt))) == [
        "return refused: member has reached 2 returns in 30 days"
    ]
    assert till.state.phase is Phase.IDLE


def test_a_void_is_not_a_return_so_the_window_does_not_apply() -> None:
    config = replace(default_config(), returns=ReturnPolicy(window_days=0))
    till = Till([MILK], config=config)
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(0, MANAGER))
    till.send(ev.Scan(MILK.barcodes[0]))
    sale = next(
        c.sale for c in till.send(ev.AddTender(TenderKind.CASH, 1250)) if isinstance(c, RecordSale)
    )
    till.send(ev.SkipFeedback())
    till.clock.advance(minutes=5)
    receipt = till.receipts[sale.sale_id]
    assert till.errors(till.send(ev.StartReturn(receipt))) == [
        "return refused: outside the 0-day return window (sold 2026-11-23)"
    ]
    done = till.send(ev.VoidSale(receipt, MANAGER))
    assert till.errors(done) == []
    assert next(c.ret for c in done if isinstance(c, RecordReturn)).refund_fen == 1250
