"""Whole cashier sales through the state machine: members, points, split tender, overrides."""

from __future__ import annotations

from dataclasses import replace

from device.checkout import events as ev
from device.checkout.barcodes import Gs1Layout, build_variable_code, gtin_check_digit
from device.checkout.commands import (
    Notify,
    OpenDrawer,
    PrintReceipt,
    RecordAudit,
    RecordFeedback,
    RecordMember,
    RecordSale,
    RecordTierChange,
    ShowOnDisplay,
    SuspendSale,
)
from device.checkout.events import ManagerCreds
from device.checkout.pricing import price_cart
from device.checkout.records import Member, PointsReason, Product, TenderKind, Tier
from device.checkout.snapshot import cart_from_plain
from device.checkout.state import Phase
from device.i18n import english
from tests.device.checkout.fakes import FakeCoupon, Till

MANAGER = ManagerCreds("m1", "9999")


def ean13(body: str) -> str:
    return body + str(gtin_check_digit(body))


MILK = Product("SKU-MILK", "牛奶", "Milk", "dairy", 1250, barcodes=(ean13("690123456701"),))
RICE = Product("SKU-RICE", "大米", "Rice", "grain", 5990, barcodes=(ean13("690123456702"),))
APPLE = Product("500234", "苹果", "Apples", "fruit", 3980, sold_by_weight=True)
GOLDISH = Member(
    member_id="M1",
    phone="13812345678",
    name="Chen",
    tier=Tier.SILVER,
    points_balance=500,
    cumulative_spend_fen=495_000,
)


def selling_till(members: list[Member] | None = None) -> Till:
    till = Till([MILK, RICE, APPLE], members=members, cards={"CARD1": "M1"})
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(20000, MANAGER))
    return till


def test_member_sale_with_points_and_split_tender_and_change() -> None:
    till = selling_till([GOLDISH])
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.Scan(RICE.barcodes[0], source="keypad"))
    till.send(ev.SetQuantity(2))
    assert till.errors(till.send(ev.IdentifyMember("card", "CARD1"))) == []
    shown = till.send(ev.Subtotal())
    # 12.50 + 2 x 59.90 = 132.30; silver 10 % off each line: 1.25 and 11.98 -> 119.07
    assert [english(c.line2, **c.params) for c in shown if isinstance(c, ShowOnDisplay)] == [
        "¥119.07"
    ]
    assert till.state.phase is Phase.TENDERING

    assert till.errors(till.send(ev.RedeemPoints(300))) == []  # 300 points = ¥30.00
    till.send(ev.AddTender(TenderKind.CARD, 5000, approval_code="A123"))
    assert till.state.phase is Phase.TENDERING
    done = till.send(ev.AddTender(TenderKind.CASH, 5000))

    kinds = [type(c) for c in done if not isinstance(c, Notify)]
    assert kinds == [RecordSale, RecordTierChange, PrintReceipt, OpenDrawer, ShowOnDisplay]
    sale = next(c.sale for c in done if isinstance(c, RecordSale))
    assert (sale.gross_fen, sale.discount_fen, sale.total_fen) == (13230, 1323, 11907)
    # due after points and card: 119.07 - 30.00 - 50.00 = 39.07; 50.00 cash -> 10.93 change
    assert sale.change_fen == 1093
    assert [(t.kind, t.amount_fen) for t in sale.tenders] == [
        (TenderKind.POINTS, 3000),
        (TenderKind.CARD, 5000),
        (TenderKind.CASH, 3907),
    ]
    assert sale.tenders[2].tendered_fen == 5000
    # money paid 89.07 earns floor(8.907) = 8 points; 300 redeemed
    assert (sale.points_earned, sale.points_redeemed) == (8, 300)
    assert {(p.reason, p.delta) for p in sale.points} == {
        (PointsReason.REDEEM, -300),
        (PointsReason.EARN, 8),
    }
    assert sale.member_id == "M1" and sale.member_tier is Tier.SILVER
    # 4,950.00 + 89.07 crosses the 5,000 yuan gold threshold
    upgrade = next(c for c in done if isinstance(c, RecordTierChange))
    assert (upgrade.old_tier, upgrade.new_tier) == (Tier.SILVER, Tier.GOLD)
    assert next(c for c in done if isinstance(c, PrintReceipt)).sale_id == sale.sale_id
    assert [english(c.line2, **c.params) for c in done if isinstance(c, ShowOnDisplay)] == [
        "¥10.93"
    ]

    assert till.state.phase is Phase.FEEDBACK
    rated = till.send(ev.Feedback(5))
    feedback = next(c for c in rated if isinstance(c, RecordFeedback))
    assert (feedback.sale_id, feedback.rating) == (sale.sale_id, 5)
    assert till.state.phase is Phase.IDLE and till.state.cart is None
    ids = [c.command_id for c in till.log]
    assert len(ids) == len(set(ids))


def test_card_only_sale_does_not_open_the_drawer() -> None:
    till = selling_till()
    till.send(ev.Scan(MILK.barcodes[0]))
    done = till.send(ev.AddTender(TenderKind.MOBILE, 1250, approval_code="WX99"))
    assert not [c for c in done if isinstance(c, OpenDrawer)]
    assert [type(c) for c in done][:2] == [RecordSale, PrintReceipt]


def test_offline_redemption_is_bounded_by_the_tills_own_balance() -> None:
    # The cloud said 500; this till has since redeemed 270 it has not heard back about.
    till = selling_till([replace(GOLDISH, cumulative_spend_fen=0, points_balance=230)])
    till.send(ev.Scan(RICE.barcodes[0]))
    till.send(ev.SetQuantity(3))
    till.send(ev.IdentifyMember("phone", "13812345678"))
    before = till.state
    assert till.errors(till.send(ev.RedeemPoints(300))) == ["only 230 points available"]
    assert till.state is before
    assert till.errors(till.send(ev.RedeemPoints(150))) == ["redeem in blocks of 100"]
    assert till.errors(till.send(ev.RedeemPoints(200))) == []
    till.send(ev.AddTender(TenderKind.CASH, 20000))
    # the recorded sale is in the till's balance at once: 230 - 200 redeemed + 14 earned
    till.send(ev.SkipFeedback())
    till.send(ev.Scan(RICE.barcodes[0]))
    till.send(ev.IdentifyMember("phone", "13812345678"))
    assert till.errors(till.send(ev.RedeemPoints(100))) == ["only 44 points available"]


def test_card_cannot_overpay_and_needs_approval() -> None:
    till = selling_till()
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.Subtotal())
    assert till.errors(till.send(ev.AddTender(TenderKind.CARD, 1250))) == [
        "card needs the approval code from the payment terminal"
    ]
    assert till.errors(till.send(ev.AddTender(TenderKind.CARD, 2000, approval_code="X"))) == [
        "card ¥20.00 is more than the ¥12.50 still due"
    ]
    assert till.state.tenders == ()


def test_weighed_item_from_a_scale_label() -> None:
    till = selling_till()
    code = build_variable_code("500234", 1250, "25", Gs1Layout())
    till.send(ev.Scan(code))
    assert till.state.cart is not None
    # 1,250 g at ¥39.80/kg = ¥49.75
    assert price_cart(till.state.cart, till.config.pricing).total_fen == 4975


def test_loose_item_weighed_on_the_counter_scale() -> None:
    loose = replace(APPLE, barcodes=(ean13("690123456703"),))
    till = Till([MILK, loose])
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(0, MANAGER))
    assert till.errors(till.send(ev.Scan(loose.barcodes[0]))) == [
        "Apples is sold by weight: weigh it"
    ]
    assert till.errors(till.send(ev.Scan(MILK.barcodes[0], weight_g=500))) == [
        "Milk is not sold by weight"
    ]
    assert till.errors(till.send(ev.Scan(loose.barcodes[0], weight_g=60_000))) == [
        "weight must be 1 g to 50000 g, not 60000 g"
    ]
    assert till.errors(till.send(ev.Scan(loose.barcodes[0], weight_g=755))) == []
    assert till.state.cart is not None
    line = till.state.cart.lines[-1]
    # 755 g at ¥39.80/kg = 3004.9 fen -> ¥30.05
    assert (line.weight_g, line.quantity, line.gross_fen) == (755, 1, 3005)
    labelled = build_variable_code("500234", 1250, "25", Gs1Layout())
    assert till.errors(till.send(ev.Scan(labelled, weight_g=100))) == [
        "the label already gives this item's weight or price"
    ]


def test_price_override_needs_manager_and_is_audited() -> None:
    till = selling_till()
    till.send(ev.Scan(RICE.barcodes[0]))
    before = till.state
    assert till.errors(till.send(ev.OverridePrice(1, 4990))) == ["manager PIN required"]
    assert till.state is before
    done = till.send(ev.OverridePrice(1, 4990, MANAGER))
    audit = next(c.entry for c in done if isinstance(c, RecordAudit))
    assert (audit.action, audit.staff_id, audit.manager_id) == ("price_override", "c1", "m1")
    assert "¥59.90 -> ¥49.90" in audit.detail
    assert till.state.cart is not None
    assert price_cart(till.state.cart, till.config.pricing).total_fen == 4990


def test_small_discount_is_the_cashiers_call_a_large_one_needs_a_manager() -> None:
    till = selling_till()
    till.send(ev.Scan(RICE.barcodes[0]))
    small = till.send(ev.DiscountLine(1, percent_bp=500))
    assert till.errors(small) == [] and not [c for c in small if isinstance(c, RecordAudit)]
    assert till.errors(till.send(ev.DiscountSale(percent_bp=3000))) == ["manager PIN required"]
    big = till.send(ev.DiscountSale(percent_bp=3000, manager=MANAGER))
    assert [c.entry.action for c in big if isinstance(c, RecordAudit)] == ["discount"]
    assert till.state.cart is not None
    # 59.90 - 5 % (3.00) = 56.90; 30 % of that (17.07) off = 39.83
    assert price_cart(till.state.cart, till.config.pricing).total_fen == 3983


def test_register_member_at_the_till_then_sell() -> None:
    till = selling_till()
    assert till.errors(till.send(ev.RegisterMember("1381234"))) == ["a phone number has 11 digits"]
    done = till.send(ev.RegisterMember("139 0000 1111", name="Liu"))
    record = next(c for c in done if isinstance(c, RecordMember))
    assert record.member.phone == "13900001111" and record.registered_by == "c1"
    assert till.state.cart is not None and till.state.cart.member == record.member
    # the display masks the phone
    assert [english(c.line1, **c.params) for c in done if isinstance(c, ShowOnDisplay)] == [
        "Liu 139****1111"
    ]
    till.send(ev.Scan(MILK.barcodes[0]))
    sale_cmds = till.send(ev.AddTender(TenderKind.CASH, 1250))
    sale = next(c.sale for c in sale_cmds if isinstance(c, RecordSale))
    assert sale.member_id == record.member.member_id and sale.points_earned == 1


def test_suspend_and_recall() -> None:
    till = selling_till()
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.Scan(RICE.barcodes[0]))
    held_cart = till.state.cart
    done = till.send(ev.Suspend())
    stored = next(c for c in done if isinstance(c, SuspendSale))
    assert till.state.phase is Phase.IDLE and till.state.suspended_ids == (stored.suspend_id,)
    assert held_cart is not None and cart_from_plain(stored.snapshot) == held_cart
    # serve the next customer in between
    till.send(ev.Scan(RICE.barcodes[0]))
    assert till.errors(till.send(ev.Recall(stored.suspend_id))) == [
        "finish the current sale or return first"
    ]
    till.send(ev.AddTender(TenderKind.CASH, 10000))
    till.send(ev.Recall(stored.suspend_id))
    assert till.state.phase is Phase.SELLING and till.state.cart == held_cart
    assert till.state.suspended_ids == ()
    assert till.errors(till.send(ev.Recall(stored.suspend_id))) == [
        "finish the current sale or return first"
    ]


def test_points_spent_while_a_sale_is_suspended_cannot_be_spent_again_on_recall() -> None:
    till = selling_till([GOLDISH])  # 500 points
    till.send(ev.IdentifyMember("card", "CARD1"))
    for _ in range(2):
        till.send(ev.Scan(RICE.barcodes[0]))
    stored = next(c for c in till.send(ev.Suspend()) if isinstance(c, SuspendSale))
    # The same customer pays another basket now, with all 500 points.
    till.send(ev.IdentifyMember("card", "CARD1"))
    for _ in range(2):
        till.send(ev.Scan(RICE.barcodes[0]))
    assert till.errors(till.send(ev.RedeemPoints(500))) == []
    assert till.state.cart is not None
    priced = price_cart(till.state.cart, till.config.pricing)
    till.send(ev.AddTender(TenderKind.CARD, priced.total_fen - 5000, approval_code="A1"))
    left = till.members.members["M1"].points_balance
    assert left < 100  # what that sale earned, less than one block
    till.send(ev.Recall(stored.suspend_id))
    assert till.state.cart is not None and till.state.cart.member is not None
    assert till.state.cart.member.points_balance == left
    assert till.errors(till.send(ev.RedeemPoints(500))) == [f"only {left} points available"]
    assert till.state.redeemed_points == 0


def test_illegal_events_leave_the_state_untouched_with_a_reason() -> None:
    till = selling_till()
    bad = "6901234567891"  # the right check digit is 2
    cases: list[tuple[ev.Event, str]] = [
        (ev.Subtotal(), "scan an item first"),
        (ev.AddTender(TenderKind.CASH, 100), "scan an item first"),
        (ev.VoidLine(1), "scan an item first"),
        (ev.Feedback(4), "not possible now"),
        (
            ev.Scan(bad),
            "invalid barcode: bad check digit: expected 2, got 1 (EAN-13 6901234567891)",
        ),
        (ev.Scan("6901234567892"), "unknown product 6901234567892"),
        (ev.Recall("nope"), "no suspended sale nope"),
        (ev.Login("m1", "9999"), "log out first"),
    ]
    for event, message in cases:
        before = till.state
        assert till.errors(till.send(event)) == [message], event
        assert till.state is before
    till.send(ev.Scan(MILK.barcodes[0]))
    before = till.state
    assert till.errors(till.send(ev.VoidLine(7))) == ["no line 7"]
    assert till.errors(till.send(ev.SetQuantity(0))) == ["quantity must be 1 to 9999, not 0"]
    assert till.errors(till.send(ev.Logout())) == ["finish or suspend the sale first"]
    assert till.state is before


def test_void_line_then_finish_and_scan_skips_feedback() -> None:
    till = selling_till()
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.Scan(RICE.barcodes[0]))
    till.send(ev.VoidLine(2))
    done = till.send(ev.AddTender(TenderKind.CASH, 2000))
    sale = next(c.sale for c in done if isinstance(c, RecordSale))
    assert [line.sku for line in sale.lines] == ["SKU-MILK"]
    assert sale.change_fen == 750
    till.send(ev.Scan(RICE.barcodes[0]))  # next customer: the rating is skipped
    assert till.state.phase is Phase.SELLING and till.state.last_sale_id is None


def test_notifications_have_bilingual_texts() -> None:
    from device.i18n import CATALOGUES, render

    till = selling_till([GOLDISH])
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.IdentifyMember("card", "nope"))
    till.send(ev.IdentifyMember("card", "CARD1"))
    for note in (c for c in till.log if isinstance(c, Notify)):
        assert note.message_key in CATALOGUES["en"] and note.message_key in CATALOGUES["zh_CN"]
        assert render(note.message_key, "en", **note.params) != note.message_key
        assert render(note.message_key, "zh", **note.params)
    unknown = next(c for c in till.log if isinstance(c, Notify) and c.level == "error")
    assert render(unknown.message_key, "zh", **unknown.params) == "未找到会员：nope"


def test_suspended_sale_and_shift_survive_a_restart() -> None:
    till = selling_till([GOLDISH])
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.IdentifyMember("card", "CARD1"))
    till.send(ev.DiscountLine(1, amount_fen=100))
    stored = next(c for c in till.send(ev.Suspend()) if isinstance(c, SuspendSale))
    held_cart, shift = till.state.suspended[0].cart, till.state.shift
    damaged = {"version": 1, "lines": [{"line_no": 1}]}
    # a fresh process: only what the store kept comes back
    restarted = Till([MILK, RICE], members=[GOLDISH])
    state, notices = restarted.machine.resume(
        shift, [(stored.suspend_id, stored.snapshot), ("broken", damaged)]
    )
    assert [n.message_key for n in notices if isinstance(n, Notify)] == ["error.cart"]
    assert state.phase is Phase.LOGGED_OUT and state.shift == shift
    restarted.state = state
    restarted.send(ev.Login("c1", "1111"))
    assert restarted.state.phase is Phase.IDLE
    restarted.send(ev.Recall(stored.suspend_id))
    assert restarted.state.cart == held_cart
    assert restarted.state.cart is not None and restarted.state.cart.member == GOLDISH


def test_one_more_item_after_subtotal_until_the_first_tender() -> None:
    till = selling_till()
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.Subtotal())
    till.send(ev.Scan(MILK.barcodes[0]))  # no tender yet: back to the sale
    assert till.state.phase is Phase.SELLING
    till.send(ev.Subtotal())
    till.send(ev.AddTender(TenderKind.CASH, 1000))
    before = till.state
    assert till.errors(till.send(ev.Scan(RICE.barcodes[0]))) == [
        "cannot change the sale after payment started"
    ]
    assert till.state is before
    again = till.send(ev.Subtotal())
    assert [english(c.message_key, **c.params) for c in again if isinstance(c, Notify)] == [
        "¥15.00 still due"
    ]
    till.send(ev.CancelTender())
    till.send(ev.VoidLine(2))
    done = till.send(ev.AddTender(TenderKind.CASH, 1250))
    assert next(c.sale for c in done if isinstance(c, RecordSale)).total_fen == 1250


def test_a_free_sale_completes_at_subtotal_without_opening_the_drawer() -> None:
    till = selling_till()
    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.DiscountLine(1, percent_bp=10000, manager=MANAGER))
    done = till.send(ev.Subtotal())
    sale = next(c.sale for c in done if isinstance(c, RecordSale))
    assert (sale.total_fen, sale.tenders, sale.change_fen) == (0, (), 0)
    assert not [c for c in done if isinstance(c, OpenDrawer)]
    assert till.state.phase is Phase.FEEDBACK


def test_coupon_and_mobile_split_then_the_coupon_is_spent() -> None:
    birthday = FakeCoupon("BDAY20", "amount", 2000, member_id="M1", valid_until="2026-11-30")
    other = FakeCoupon("LI5", "amount", 500, member_id="M7")
    member = replace(GOLDISH, cumulative_spend_fen=0)
    till = Till([MILK, RICE, APPLE], members=[member], coupons=[birthday, other])
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(20000, MANAGER))
    till.send(ev.Scan(RICE.barcodes[0]))
    till.send(ev.SetQuantity(2))
    coupon = ev.AddTender(TenderKind.COUPON, 0, reference="BDAY20")
    assert till.errors(till.send(coupon)) == [
        "coupon BDAY20 belongs to a member: identify the member first"
    ]
    till.send(ev.IdentifyMember("phone", "13812345678"))
    before = till.state
    assert till.errors(till.send(ev.AddTender(TenderKind.COUPON, 0, reference="LI5"))) == [
        "coupon LI5 belongs to another member"
    ]
    assert (till.state.tenders, till.state.cart) == (before.tenders, before.cart)
    assert till.errors(till.send(coupon)) == []
    assert till.errors(till.send(coupon)) == ["coupon BDAY20 is already on this sale"]
    # 2 x 59.90 = 119.80, silver 10 % off -> 107.82; coupon 20.00 leaves 87.82
    done = till.send(ev.AddTender(TenderKind.MOBILE, 8782, approval_code="WX77"))
    sale = next(c.sale for c in done if isinstance(c, RecordSale))
    assert [(t.kind, t.amount_fen, t.reference, t.approval_code) for t in sale.tenders] == [
        (TenderKind.COUPON, 2000, "BDAY20", ""),
        (TenderKind.MOBILE, 8782, "", "WX77"),
    ]
    assert sale.coupon_codes == ("BDAY20",)
    assert sale.points_earned == 8  # the coupon part earns nothing: floor(87.82 / 10)
    assert not [c for c in done if isinstance(c, OpenDrawer)]

    till.send(ev.Scan(MILK.barcodes[0]))
    till.send(ev.IdentifyMember("phone", "13812345678"))
    assert till.errors(till.send(coupon)) == ["coupon BDAY20 has already been used"]
