"""Shifts, cash movements, audit, feedback, complaints, registrations and suspended sales."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from device.checkout.records import AuditEntry, CashMovement, Member, ShiftReport
from device.store.errors import InvalidRecord, StoreError
from device.store.store import Store
from tests.device.store.builders import T0, make_sale


def _z(counted: int) -> ShiftReport:
    return ShiftReport(
        shift_id="SH1", kind="Z", float_fen=50_000, sales_count=1, returns_count=0,
        by_tender={"cash": 12_000}, cash_in_fen=0, cash_out_fen=-2_000,
        expected_cash_fen=60_000, counted_cash_fen=counted, difference_fen=counted - 60_000,
    )  # fmt: skip


def test_a_shift_opens_moves_cash_and_closes_each_as_one_event(store: Store) -> None:
    assert store.facts.record_shift_open("SH1", "M01", 50_000, T0) == 1
    out = CashMovement("CM1", "SH1", -2_000, "bank run", "M01", T0 + dt.timedelta(hours=1))
    assert store.facts.record_cash_movement(out) == 2
    assert store.facts.record_shift_close(_z(59_900), "M01", T0 + dt.timedelta(hours=8)) == 3
    events = store.outbox_pending()
    assert [e.type for e in events] == ["shift_opened", "cash_movement", "shift_closed"]
    closed = json.loads(events[2].body)
    assert closed["difference_fen"] == -100 and closed["by_tender"] == {"cash": 12_000}
    assert store.db.query("SELECT counted_cash_fen FROM shift") == [(59_900,)]
    late = CashMovement("CM2", "SH1", 100, "float top-up", "M01", T0 + dt.timedelta(hours=9))
    with pytest.raises(InvalidRecord, match="already closed"):
        store.facts.record_cash_movement(late)
    assert store.outbox_depth() == 3


def test_cash_movement_needs_an_open_shift_and_a_reason(store: Store) -> None:
    with pytest.raises(InvalidRecord, match="no shift SH9"):
        store.facts.record_cash_movement(CashMovement("CM1", "SH9", 100, "x", "M01", T0))
    store.facts.record_shift_open("SH1", "M01", 0, T0)
    with pytest.raises(InvalidRecord, match="needs a reason"):
        store.facts.record_cash_movement(CashMovement("CM1", "SH1", 100, " ", "M01", T0))
    assert store.outbox_depth() == 1


def test_audit_and_feedback_are_recorded_with_their_events(store: Store) -> None:
    sale = make_sale(1)
    store.record_sale(sale)
    entry = AuditEntry("A1", "no_sale", "C01", "M01", "drawer opened for change", T0)
    store.facts.record_audit(entry)
    store.facts.record_feedback("F1", sale.sale_id, 5, T0, comment="很好")
    with pytest.raises(InvalidRecord, match="a rating is 1 to 5"):
        store.facts.record_feedback("F2", sale.sale_id, 6, T0)
    with pytest.raises(InvalidRecord, match="no sale nope"):
        store.facts.record_feedback("F3", "nope", 4, T0)
    assert [e.type for e in store.outbox_pending()] == ["sale", "audit", "feedback"]
    audit_body = json.loads(store.outbox_pending()[1].body)
    assert audit_body["manager_id"] == "M01" and audit_body["action"] == "no_sale"
    assert store.db.query("SELECT rating, comment FROM feedback") == [(5, "很好")]


def test_complaint_needs_a_member_or_a_sale(store: Store) -> None:
    with pytest.raises(InvalidRecord, match="against a member or a sale"):
        store.facts.record_complaint("K1", "C01", "rude", T0)
    store.facts.record_complaint("K1", "C01", "long queue", T0, member_id="M0001")
    assert store.db.query("SELECT status FROM complaint") == [("open",)]


def test_a_complaint_and_its_outbox_event_commit_together_or_not_at_all(store: Store) -> None:
    store.facts.record_complaint("K1", "C01", "long queue", T0, member_id="M0001")
    # The same complaint id again: its row is refused, so its event must not stay behind.
    with pytest.raises(StoreError, match=r"UNIQUE constraint failed: complaint\.complaint_id"):
        store.facts.record_complaint("K1", "C01", "again", T0, member_id="M0001")
    assert [(e.seq, e.type) for e in store.outbox_pending()] == [(1, "complaint")]
    assert store.db.query("SELECT complaint_id, text FROM complaint") == [("K1", "long queue")]
    with pytest.raises(InvalidRecord, match="at most 2000 characters"):
        store.facts.record_complaint("K2", "C01", "x" * 2001, T0, member_id="M0001")
    assert store.outbox_depth() == 1


def test_a_member_note_is_one_outbox_event_carrying_who_wrote_it(store: Store) -> None:
    seq = store.facts.record_member_note("N1", "M0001", "G02", "guide", "wants size L", T0)
    (event,) = store.outbox_pending()
    assert (event.seq, event.type) == (seq, "member_note") == (1, "member_note")
    assert json.loads(event.body) == {
        "note_id": "N1", "member_id": "M0001", "staff_id": "G02", "role": "guide",
        "text": "wants size L", "device_time": "2026-11-23T02:00:00.000000+00:00",
    }  # fmt: skip
    for member, text, why in (("M0001", "  ", "needs its text"),
                              ("", "hello", "about a member"),
                              ("M0001", "x" * 2001, "at most 2000 characters")):  # fmt: skip
        with pytest.raises(InvalidRecord, match=why):
            store.facts.record_member_note("N2", member, "G02", "guide", text, T0)
    assert store.outbox_depth() == 1


def test_registering_a_known_phone_is_refused_with_the_masked_phone(store: Store) -> None:
    store.facts.record_member_registration(Member("L1", "13812345678"), "C01", T0)
    with pytest.raises(InvalidRecord, match=r"138\*\*\*\*5678 is already a member"):
        store.facts.record_member_registration(Member("L2", "138 1234 5678"), "C01", T0)
    with pytest.raises(InvalidRecord, match="phone number is required"):
        store.facts.record_member_registration(Member("L3", ""), "C01", T0)
    assert store.outbox_depth() == 1


def test_the_clouds_delete_of_a_member_takes_the_tills_registration_record_with_it(
    store: Store,
) -> None:
    # HQ erased (or merged away) a member registered here: no phone or name stays on the till.
    store.facts.record_member_registration(Member("L1", "13812345678", name="赵敏"), "C01", T0)
    store.facts.record_member_registration(Member("L2", "13900000000", name="周芷若"), "C01", T0)
    store.members.delete(["L1"])
    rows = store.db.query("SELECT member_id, phone, name FROM member_registration")
    assert [tuple(r) for r in rows] == [("L2", "13900000000", "周芷若")]
    assert store.members.by_phone("13812345678") is None


def test_suspend_and_recall_round_trip_a_cart_once(store: Store) -> None:
    cart = {"lines": [{"sku": "SKU1", "qty": 2}], "member_id": None}
    store.facts.suspend("P1", "C01", "SH1", "blue jacket", cart)
    assert [s.label for s in store.facts.suspended()] == ["blue jacket"]
    assert store.facts.recall("P1") == cart
    assert store.facts.recall("P1") is None
    assert store.outbox_depth() == 0  # a parked cart is not a recorded fact for HQ
