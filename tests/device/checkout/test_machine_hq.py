"""The checkout core asking HQ: coupons confirmed or refused, other tills' receipts, claims.

HQ is played by the test: each question the machine emits (AskHq) is answered with the event
the test chooses, or left open. The machine must never wait, never change anything HQ
refused, and give back what HQ granted that it did not use.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from device.checkout import events as ev
from device.checkout.commands import AskHq, RecordAudit, RecordReturn, RecordSale
from device.checkout.config import default_config
from device.checkout.events import ManagerCreds, ReturnItem
from device.checkout.hq import (
    ClaimFree,
    ClaimQuery,
    CouponFree,
    CouponQuery,
    HqPolicy,
    ReceiptQuery,
)
from device.checkout.records import Product, SaleRecord, TenderKind
from device.checkout.state import Phase
from tests.device.checkout.fakes import FakeCoupon, Till, hq_silent, hq_unreachable
from tests.device.checkout.test_machine_sale import ean13

MANAGER = ManagerCreds("m1", "9999")
RICE = Product("SKU-RICE", "大米", "Rice", "grain", 5990, barcodes=(ean13("690123456702"),))
TV = Product("SKU-TV", "电视", "TV", "tv", 300_000, barcodes=(ean13("690123456703"),))


def _till(coupons: list[FakeCoupon] | None = None, policy: HqPolicy | None = None) -> Till:
    config = dataclasses.replace(default_config(), hq=policy or HqPolicy())
    till = Till([RICE, TV], coupons=coupons, config=config, hq=hq_silent)
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(20000, MANAGER))
    return till


def _paying(till: Till, code: str = RICE.barcodes[0], quantity: int = 1) -> int:
    till.send(ev.Scan(code))
    if quantity > 1:
        till.send(ev.SetQuantity(quantity))
    till.send(ev.Subtotal())
    assert till.state.phase is Phase.TENDERING
    return 5990 * quantity if code == RICE.barcodes[0] else 300_000 * quantity


def _asked(till: Till) -> AskHq:
    return till.asked[-1]


def test_a_coupon_pays_only_once_hq_confirms_it() -> None:
    till = _till()
    total = _paying(till, quantity=2)
    till.send(ev.AddTender(TenderKind.COUPON, 0, reference="BDAY20"))
    ask = _asked(till)
    assert ask.query == CouponQuery("BDAY20", None, total, 0)
    assert till.state.asking is not None and till.state.tenders == ()
    # Nothing else happens meanwhile; the cashier is told why.
    assert till.errors(till.send(ev.AddTender(TenderKind.CASH, 100))) == [
        "still checking with HQ: wait for its answer"
    ]
    done = till.send(ev.HqCouponGranted(ask.request_id, "BDAY20", 2000))
    [tender] = till.state.tenders
    assert (tender.amount_fen, tender.reference) == (2000, "BDAY20")
    assert tender.approval_code == f"HQ-{ask.request_id}" and till.state.asking is None
    assert not [c for c in done if isinstance(c, RecordSale)]
    # Taken off again: HQ's hold for this till is given back at once.
    till.send(ev.CancelTender())
    assert [t.query for t in till.told] == [CouponFree("BDAY20")]


def test_hq_refuses_and_nothing_changes() -> None:
    till = _till()
    _paying(till)
    before = till.state
    till.send(ev.AddTender(TenderKind.COUPON, 0, reference="OLD"))
    answer = ev.HqRefused(
        _asked(till).request_id, "coupon_expired", (("code", "OLD"), ("date", "2026-11-01"))
    )
    assert till.errors(till.send(answer)) == ["coupon OLD expired on 2026-11-01"]
    assert dataclasses.replace(till.state, message_key="") == dataclasses.replace(
        before, message_key=""
    )
    assert till.told == []  # nothing was held for a refusal


def test_a_coupon_pressed_while_selling_goes_back_to_selling_when_refused_and_pays_if_granted() -> (
    None
):
    # A tender pressed while selling implies the subtotal; HQ's no must not leave the till on
    # the payment screen the cashier never asked for (a card refused at once does not either).
    till = _till()
    till.send(ev.Scan(RICE.barcodes[0]))
    before = till.state
    assert before.phase is Phase.SELLING
    till.send(ev.AddTender(TenderKind.COUPON, 0, reference="OLD"))
    refused = ev.HqRefused(_asked(till).request_id, "coupon_used_up", (("code", "OLD"),))
    assert till.errors(till.send(refused))
    assert till.state.phase is Phase.SELLING
    assert dataclasses.replace(till.state, message_key="") == dataclasses.replace(
        before, message_key=""
    )
    # Granted, the same press pays: the till moves on to paying.
    till.send(ev.AddTender(TenderKind.COUPON, 0, reference="GOOD"))
    till.send(ev.HqCouponGranted(_asked(till).request_id, "GOOD", 1000))
    assert till.state.phase is Phase.TENDERING
    assert [(t.kind, t.amount_fen) for t in till.state.tenders] == [(TenderKind.COUPON, 1000)]


def test_a_late_or_stray_answer_changes_nothing_but_a_grant_is_given_back() -> None:
    till = _till()
    _paying(till)
    till.send(ev.AddTender(TenderKind.COUPON, 0, reference="A"))
    first = _asked(till).request_id
    till.send(ev.HqUnreachable(first, "timeout"))  # offline policy: not in the cache
    assert [t.query for t in till.told] == [CouponFree("A")]  # it may have been held
    before = till.state
    till.send(ev.HqCouponGranted(first, "A", 500))  # the real answer, too late
    assert till.state == before
    assert [t.query for t in till.told] == [CouponFree("A"), CouponFree("A")]
    till.send(ev.HqRefused("feedfeedfeedfeed", "coupon_unknown"))  # nobody asked this
    assert till.state == before


@given(granted=st.integers(1, 1_000_000), quantity=st.integers(1, 3))
def test_a_coupon_never_pays_more_than_is_due_whatever_hq_grants(
    granted: int, quantity: int
) -> None:
    till = _till()
    total = _paying(till, quantity=quantity)
    till.send(ev.AddTender(TenderKind.COUPON, 0, reference="BIG"))
    done = till.send(ev.HqCouponGranted(_asked(till).request_id, "BIG", granted))
    paid = min(granted, total)
    if paid < total:
        assert [t.amount_fen for t in till.state.tenders] == [paid]
        assert till.state.phase is Phase.TENDERING
        return
    [sale] = [c.sale for c in done if isinstance(c, RecordSale)]
    assert [(t.kind, t.amount_fen) for t in sale.tenders] == [(TenderKind.COUPON, total)]
    assert sale.change_fen == 0 and sale.coupon_codes == ("BIG",)


@given(
    value=st.integers(1, 50_000),
    cap=st.integers(0, 20_000),
    requested=st.integers(0, 60_000),
)
def test_offline_a_cached_coupon_pays_within_the_cap_and_what_was_asked(
    value: int, cap: int, requested: int
) -> None:
    policy = HqPolicy(coupon_offline_cap_fen=cap)
    till = _till([FakeCoupon("C", "amount", value)], policy)
    till.hq = hq_unreachable
    total = _paying(till, quantity=2)
    done = till.send(ev.AddTender(TenderKind.COUPON, requested, reference="C"))
    expected = min(value, requested or value, total)
    if cap:
        expected = min(expected, cap)
    sales = [c.sale for c in done if isinstance(c, RecordSale)]
    tenders = sales[0].tenders if sales else till.state.tenders  # paid in full: recorded
    assert [(t.amount_fen, t.approval_code) for t in tenders] == [(expected, "")]  # offline
    assert bool(sales) == (expected == total)
    assert any(getattr(c, "message_key", "") == "coupon.offline" for c in done)


def test_offline_policy_limits_and_refusals() -> None:
    # One offline use per coupon per till until the cloud has counted it.
    till = _till([FakeCoupon("C", "amount", 500, max_uses=5, offline_uses=1, used=1)])
    till.hq = hq_unreachable
    _paying(till)
    assert till.errors(till.send(ev.AddTender(TenderKind.COUPON, 0, reference="C"))) == [
        "HQ unreachable: coupon C was already used offline at this till"
    ]
    assert till.errors(till.send(ev.AddTender(TenderKind.COUPON, 0, reference="X"))) == [
        "HQ unreachable, and coupon X is not known on this till"
    ]
    strict = _till([FakeCoupon("C", "amount", 500)], HqPolicy(coupons_offline="refuse"))
    strict.hq = hq_unreachable
    _paying(strict)
    assert strict.errors(strict.send(ev.AddTender(TenderKind.COUPON, 0, reference="C"))) == [
        "HQ unreachable: coupons cannot be taken until it answers"
    ]
    assert strict.state.tenders == ()


def _other_sale(till: Till) -> tuple[SaleRecord, str]:
    """A two-unit rice sale rung up at another till (built by a second machine)."""
    other = Till([RICE], hq=hq_silent)
    other.send(ev.Login("c1", "1111"))
    other.send(ev.OpenShift(20000, MANAGER))
    other.send(ev.Scan(RICE.barcodes[0]))
    other.send(ev.SetQuantity(2))
    [sale] = [
        c.sale
        for c in other.send(ev.AddTender(TenderKind.CASH, 20_000))
        if isinstance(c, RecordSale)
    ]
    return sale, "S002-T01-20261123-0042"


def test_another_tills_receipt_is_opened_through_hq_and_its_units_claimed() -> None:
    till = _till()
    sale, receipt = _other_sale(till)
    till.send(ev.StartReturn(receipt))
    ask = _asked(till)
    assert ask.query == ReceiptQuery(receipt) and till.state.phase is Phase.IDLE
    # HQ: one of the two was already returned elsewhere; the member count is HQ's.
    till.send(ev.HqReceiptFound(ask.request_id, receipt, sale, ((1, 1),), 0))
    session = till.state.returning
    assert till.state.phase is Phase.RETURNING and session is not None and not session.own
    assert till.errors(till.send(ev.ReturnLines((ReturnItem(1, 2),)))) == [
        "return refused: only 1 of line 1 can still be returned"
    ]
    till.send(ev.ReturnLines((ReturnItem(1, 1),)))
    claim = _asked(till)
    assert isinstance(claim.query, ClaimQuery) and claim.query.lines == ((1, 1),)
    # Nothing is recorded before HQ reserved the unit.
    assert not [c for c in till.log if isinstance(c, RecordReturn)]
    done = till.send(ev.HqClaimGranted(claim.request_id, claim.query.return_id))
    [ret] = [c.ret for c in done if isinstance(c, RecordReturn)]
    assert (ret.return_id, ret.refund_fen, ret.original_receipt_no) == (
        claim.query.return_id,
        5990,
        receipt,
    )
    assert till.state.phase is Phase.IDLE


def test_a_claim_hq_never_answers_is_refused_for_another_tills_sale_and_given_back() -> None:
    till = _till()
    sale, receipt = _other_sale(till)
    till.send(ev.StartReturn(receipt))
    till.send(ev.HqReceiptFound(_asked(till).request_id, receipt, sale, (), 0))
    till.send(ev.ReturnLines((ReturnItem(1, 1),)))
    claim = _asked(till)
    till.clock.advance(seconds=HqPolicy().timeout_s * 3 + 6)  # the sync layer's answer is lost
    errors = till.errors(till.send(ev.Tick()))
    assert errors == ["HQ did not answer: nothing was returned, try again"]
    assert till.state.phase is Phase.RETURNING and till.state.asking is None
    assert isinstance(claim.query, ClaimQuery)
    assert [t.query for t in till.told] == [ClaimFree(claim.query.return_id)]
    assert not [c for c in till.log if isinstance(c, RecordReturn)]


def test_offline_this_tills_own_sale_is_returned_and_a_void_waits_for_hq() -> None:
    till = _till()
    _paying(till, quantity=2)
    [sale] = [
        c.sale
        for c in till.send(ev.AddTender(TenderKind.CASH, 20_000))
        if isinstance(c, RecordSale)
    ]
    till.send(ev.SkipFeedback())
    receipt = till.receipts[sale.sale_id]
    till.send(ev.VoidSale(receipt, MANAGER))
    void = _asked(till)
    assert isinstance(void.query, ClaimQuery) and void.query.lines == ((1, 2),)
    assert not [c for c in till.log if isinstance(c, RecordAudit)]  # audited once it happens
    done = till.send(ev.HqUnreachable(void.request_id, "offline"))
    assert [type(c).__name__ for c in done][:2] == ["RecordAudit", "RecordReturn"]
    assert till.state.message_key == "void.done"


def test_offline_another_stores_receipt_is_refused_or_returned_by_item_under_a_cap() -> None:
    till = _till()
    till.send(ev.StartReturn("S002-T01-20261123-0042"))
    assert till.errors(till.send(ev.HqUnreachable(_asked(till).request_id, "offline"))) == [
        "receipt S002-T01-20261123-0042 is from another till and HQ cannot be reached: "
        "the return needs HQ online"
    ]
    item = ev.NoReceiptReturn("SKU-RICE", 1, 5990, MANAGER, receipt="S002-T01-20261123-0042")
    assert till.errors(till.send(item)) == [
        "receipt S002-T01-20261123-0042 is from another till: open it with the return key "
        "while HQ is reachable"
    ]
    capped = _till(
        policy=HqPolicy(other_receipts_offline="capped", other_receipt_offline_cap_fen=5000)
    )
    capped.send(ev.StartReturn("S002-T01-20261123-0042"))
    capped.send(ev.HqUnreachable(_asked(capped).request_id, "timeout"))
    assert capped.state.message_key == "return.other_offline_capped"
    assert capped.errors(capped.send(item)) == [
        "return refused: returns without a receipt are capped at ¥50.00 (this one is ¥59.90)"
    ]
    done = capped.send(dataclasses.replace(item, unit_price_fen=4500))
    [ret] = [c.ret for c in done if isinstance(c, RecordReturn)]
    assert (ret.original_receipt_no, ret.original_sale_id, ret.authorised_by) == (
        "S002-T01-20261123-0042",
        None,
        "m1",
    )


def test_the_core_gives_up_by_itself_if_no_answer_ever_comes() -> None:
    till = _till([FakeCoupon("C", "amount", 500)])
    _paying(till)
    till.send(ev.AddTender(TenderKind.COUPON, 0, reference="C"))
    till.clock.advance(seconds=1)
    till.send(ev.Tick())
    assert till.state.asking is not None  # still within its patience
    till.clock.advance(seconds=60)
    till.send(ev.Tick())
    assert till.state.asking is None and till.state.message_key == "coupon.offline"


def test_a_receipt_scanned_at_the_rating_prompt_leaves_it_only_when_the_return_opens() -> None:
    till = _till()
    _paying(till)
    till.send(ev.AddTender(TenderKind.CASH, 10_000))
    assert till.state.phase is Phase.FEEDBACK
    rated = till.state.last_sale_id
    # A receipt HQ does not know: the prompt for the customer who just paid is still there.
    till.send(ev.Scan("R:S009-T09-20261123-0001"))
    refused = till.send(ev.HqRefused(_asked(till).request_id, "receipt_unknown",
                                     (("receipt", "S009-T09-20261123-0001"),)))  # fmt: skip
    assert till.errors(refused)
    assert (till.state.phase, till.state.last_sale_id) == (Phase.FEEDBACK, rated)
    # One HQ finds: the return opens and the prompt is gone.
    sale, receipt = _other_sale(till)
    till.send(ev.Scan(f"R:{receipt}"))
    till.send(ev.HqReceiptFound(_asked(till).request_id, receipt, sale, (), 0))
    assert till.state.phase is Phase.RETURNING and till.state.last_sale_id is None
