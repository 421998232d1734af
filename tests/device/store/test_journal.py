"""Recording sales and returns on a real SQLite file and reading them back through the ports."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from device.checkout.records import PointsReason, TenderKind, TenderLine
from device.store.errors import InvalidRecord
from device.store.store import Store
from tests.device.store.builders import T0, FakeClock, make_return, make_sale, store_config


def test_recorded_sale_reads_back_identical_through_the_journal_port(store: Store) -> None:
    sale = make_sale(10, redeem_blocks=2)
    recorded = store.record_sale(sale)
    assert recorded.receipt_no == "S001-T01-20261123-0001"
    assert recorded.seq == 1
    found = store.journal.sale_by_receipt("S001-T01-20261123-0001")
    assert found == (sale, "S001-T01-20261123-0001")
    assert store.journal.sale_by_receipt("S001-T01-20261123-0002") is None


def test_sale_writes_lines_discounts_tenders_ledger_and_one_outbox_event(store: Store) -> None:
    sale = make_sale(4, redeem_blocks=1)
    store.record_sale(sale)
    q = store.db.query
    [(seq,)] = q("SELECT seq FROM sale WHERE sale_id = ?", (sale.sale_id,))
    assert q("SELECT count(*) FROM sale_line WHERE seq = ?", (seq,))[0][0] == 4
    tier_off = q(
        "SELECT sum(json_extract(d.value, '$.amount_fen')) FROM sale_line, "
        "json_each(sale_line.discounts) AS d WHERE json_extract(d.value, '$.kind') = 'tier'"
    )[0][0]
    assert tier_off == sale.gross_fen - sale.total_fen  # every discount here is the tier one
    assert q("SELECT kind FROM sale_tender ORDER BY idx") == [("points",), ("cash",)]
    ledger = q("SELECT member_id, delta, reason FROM points_ledger ORDER BY seq, idx")
    assert ledger == [("M0001", sale.points_earned, "earn"), ("M0001", -100, "redeem")]
    [event] = store.outbox_pending()
    body = json.loads(event.body)
    assert event.type == "sale" and event.seq == 1
    assert body["sale_id"] == sale.sale_id and body["receipt_no"] == "S001-T01-20261123-0001"
    assert body["total_fen"] == sale.total_fen and len(body["lines"]) == 4


def test_replaying_a_recorded_sale_does_not_record_it_twice(store: Store) -> None:
    sale = make_sale(2)
    first = store.record_sale(sale)
    again = store.record_sale(sale)
    assert (again.receipt_no, again.seq, again.already_recorded) == (first.receipt_no, 1, True)
    assert store.outbox_depth() == 1
    assert store.db.query("SELECT count(*) FROM points_ledger")[0][0] == 1
    after = store.record_sale(make_sale(1, seed=3))  # the replay used up no number
    assert (after.receipt_no, after.seq) == ("S001-T01-20261123-0002", 2)


def test_receipt_numbers_are_gapless_per_day_in_store_local_time(store: Store) -> None:
    # 15:59 UTC is 23:59 in Shanghai; 16:00 UTC is already the next local day.
    late = dt.datetime(2026, 11, 23, 15, 59, tzinfo=dt.UTC)
    numbers = [store.record_sale(make_sale(1, when=late)).receipt_no for _ in range(3)]
    numbers += [
        store.record_sale(make_sale(1, when=late + dt.timedelta(minutes=1))).receipt_no
        for _ in range(2)
    ]
    assert numbers == [
        "S001-T01-20261123-0001",
        "S001-T01-20261123-0002",
        "S001-T01-20261123-0003",
        "S001-T01-20261124-0001",
        "S001-T01-20261124-0002",
    ]


def test_receipt_numbers_and_seq_continue_after_reopening(db_path: Path, clock: FakeClock) -> None:
    first = Store.open(db_path, store_config(), create=True, clock=clock)
    assert first.record_sale(make_sale(1)).receipt_no.endswith("-0001")
    first.close()
    second = Store.open(db_path, store_config(), clock=clock)
    recorded = second.record_sale(make_sale(1))
    assert (recorded.receipt_no, recorded.seq) == ("S001-T01-20261123-0002", 2)
    second.close()


def test_a_rejected_sale_uses_no_receipt_number_or_seq(store: Store) -> None:
    bad = dataclasses.replace(make_sale(1), lines=())
    with pytest.raises(InvalidRecord, match="no lines"):
        store.record_sale(bad)
    assert store.record_sale(make_sale(1)).receipt_no.endswith("-0001")
    assert store.outbox.last_seq() == 1


def test_return_is_linked_to_its_sale_and_counted_for_the_member(store: Store) -> None:
    sale = make_sale(3)
    recorded = store.record_sale(sale)
    ret = make_return(sale, recorded.receipt_no, (1, 2), when=T0 + dt.timedelta(hours=1))
    r = store.record_return(ret)
    assert (r.receipt_no, r.seq) == ("S001-T01-20261123-0002", 2)
    assert store.journal.returns_for_sale(sale.sale_id) == [ret]
    assert store.journal.member_returns_since("M0001", T0) == 1
    assert store.journal.member_returns_since("M0001", T0 + dt.timedelta(hours=2)) == 0
    kinds = [e.type for e in store.outbox_pending()]
    assert kinds == ["sale", "return"]
    if ret.points:
        assert ret.points[0].reason is PointsReason.RETURN_REVERSAL
        rows = store.db.query("SELECT origin_return_id FROM points_ledger WHERE delta < 0")
        assert rows == [(ret.return_id,)]


def test_a_return_paying_back_more_money_than_its_sale_took_is_refused(store: Store) -> None:
    """A share paid with points comes back as points: cash beyond the sale's money is refused.

    One line of 272.95 paid 20.00 in points and 252.95 in cash (the sale that drove a
    member's cached spend below zero, clamped at 0, in the crash loop): a return refunding
    the whole 272.95 in cash is refused, the journal and the member are left untouched, and
    the till's own plan (252.95 cash, 20.00 as points) is recorded.
    """
    store.members.upsert([{"member_id": "M0001", "phone": "13800000001"}])
    sale = make_sale(1, redeem_blocks=2, seed=88)
    assert [(t.kind, t.amount_fen) for t in sale.tenders] == [
        (TenderKind.POINTS, 2000),
        (TenderKind.CASH, sale.total_fen - 2000),
    ]
    receipt = store.record_sale(sale).receipt_no
    planned = make_return(sale, receipt, (1,), when=T0 + dt.timedelta(hours=1))
    all_cash = dataclasses.replace(
        planned, refunds=(TenderLine(TenderKind.CASH, sale.total_fen),), points=()
    )
    with pytest.raises(InvalidRecord, match=re.escape(f"sale {receipt} took ¥252.95 in money")):
        store.record_return(all_cash)
    assert store.outbox.last_seq() == 1
    member = store.members.by_id("M0001")
    assert member is not None and member.cumulative_spend_fen == sale.total_fen - 2000

    assert [(t.kind, t.amount_fen) for t in planned.refunds] == [
        (TenderKind.POINTS, 2000),
        (TenderKind.CASH, sale.total_fen - 2000),
    ]
    store.record_return(planned)
    member = store.members.by_id("M0001")
    assert member is not None and member.cumulative_spend_fen == 0
    # Once everything is back, not one more fen of money can be refunded against the sale.
    again = make_return(sale, receipt, (1,), when=T0 + dt.timedelta(hours=2))
    with pytest.raises(InvalidRecord, match=re.escape("¥252.95 of it is already refunded")):
        store.record_return(again)


def test_a_return_whose_refunds_do_not_add_up_is_refused(store: Store) -> None:
    sale = make_sale(2)
    receipt = store.record_sale(sale).receipt_no
    ret = make_return(sale, receipt, (1,), when=T0 + dt.timedelta(hours=1))
    short = dataclasses.replace(ret, refund_fen=ret.refund_fen + 1)
    with pytest.raises(InvalidRecord, match="refunds add up to"):
        store.record_return(short)
    assert store.outbox.last_seq() == 1


def test_the_cached_balance_takes_each_sale_at_once_and_an_ack_changes_nothing(
    store: Store,
) -> None:
    store.members.upsert([{"member_id": "M0001", "phone": "13900000001",
                           "points_balance": 1000, "rev": 1}])  # fmt: skip
    sale = make_sale(10, redeem_blocks=3)  # 300 points redeemed, some earned
    store.record_sale(sale)
    after = 1000 + sum(p.delta for p in sale.points)
    member = store.members.by_id("M0001")
    assert member is not None and member.points_balance == after
    store.outbox_ack(1)  # the cloud holds the sale: its next push rebases, the ACK does not
    member = store.members.by_id("M0001")
    assert member is not None and member.points_balance == after


def test_points_delta_for_another_member_is_refused(store: Store) -> None:
    sale = make_sale(2)
    wrong = dataclasses.replace(
        sale, points=(dataclasses.replace(sale.points[0], member_id="M9999"),)
    )
    with pytest.raises(InvalidRecord, match="M9999"):
        store.record_sale(wrong)
    assert store.outbox_depth() == 0


def test_a_coupon_use_counts_here_until_the_cloud_has_counted_it(store: Store) -> None:
    store.coupons.upsert([{"code": "BDAY-1", "kind": "amount", "value": 1000, "max_uses": 2}])
    sale = make_sale(2, coupon_codes=("BDAY-1",))
    store.record_sale(sale)
    coupon = store.coupons.get("BDAY-1")
    assert coupon is not None and (coupon.used, coupon.offline_uses) == (1, 1)
    # The cloud counted it (ACK), and its push says so: still one use, never two.
    store.outbox_ack(1)
    store.coupons.upsert([{"code": "BDAY-1", "kind": "amount", "value": 1000, "max_uses": 2,
                           "uses": 1}])  # fmt: skip
    coupon = store.coupons.get("BDAY-1")
    assert coupon is not None and (coupon.used, coupon.offline_uses) == (1, 0)
    # A late, older push cannot give the use back.
    store.coupons.upsert([{"code": "BDAY-1", "kind": "amount", "value": 1000, "max_uses": 2,
                           "uses": 0}])  # fmt: skip
    assert store.coupons.get("BDAY-1").used == 1  # type: ignore[union-attr]
    assert store.journal.sale_by_receipt("S001-T01-20261123-0001") == (
        sale,
        "S001-T01-20261123-0001",
    )


def test_card_tender_keeps_its_approval_code(store: Store) -> None:
    sale = make_sale(2)
    card = TenderLine(TenderKind.CARD, sale.total_fen, approval_code="A12345", reference="T-889")
    sale = dataclasses.replace(sale, tenders=(card,), change_fen=0)
    recorded = store.record_sale(sale)
    assert store.journal.sale(sale.sale_id) == (sale, recorded.receipt_no)
    rows = store.db.query("SELECT kind, amount_fen, approval_code, reference FROM sale_tender")
    assert rows == [("card", sale.total_fen, "A12345", "T-889")]
