"""The outbox as the sync layer sees it: seq order, ACK deletion, depth, age, wire contract."""

from __future__ import annotations

import datetime as dt
import json

import msgspec
import pytest

from device.checkout.records import AuditEntry, CashMovement, Member, Role, ShiftReport
from device.store import outbox
from device.store.errors import InvalidRecord
from device.store.outbox import OutboxRow, WireFrame
from device.store.store import Store
from protocol.codec import decode_batch, decode_event_body, encode_batch
from protocol.envelope import Batch, Envelope
from tests.device.store.builders import T0, FakeClock, make_return, make_sale


def test_pending_events_come_in_seq_order_and_page_by_after_seq(store: Store) -> None:
    sales = [make_sale(1, seed=i) for i in range(7)]
    for sale in sales:
        store.record_sale(sale)
    first = store.outbox_pending(limit=3)
    assert [e.seq for e in first] == [1, 2, 3]
    rest = store.outbox_pending(after_seq=first[-1].seq, limit=500)
    assert [e.seq for e in rest] == [4, 5, 6, 7]
    bodies = [json.loads(e.body)["sale_id"] for e in first + rest]
    assert bodies == [s.sale_id for s in sales]
    assert len({e.event_id for e in first + rest}) == 7


def test_ack_moves_the_mark_and_repeating_it_changes_nothing(store: Store) -> None:
    for i in range(5):
        store.record_sale(make_sale(1, seed=i))
    store.outbox_ack(3)
    assert [e.seq for e in store.outbox_pending()] == [4, 5]
    assert store.outbox_ack(3) == 0
    assert store.outbox_ack(2) == 0  # a late, older ACK does not move the mark back
    assert store.outbox.acked_seq() == 3
    assert store.outbox_depth() == 2


def test_acknowledged_rows_are_kept_for_the_resend_window_then_pruned(
    store: Store, clock: FakeClock
) -> None:
    sales = [make_sale(1, seed=i) for i in range(4)]
    for sale in sales[:2]:
        store.record_sale(sale)
    clock.advance(days=3)
    for sale in sales[2:]:
        store.record_sale(sale)
    assert store.outbox_ack(3) == 0  # within the 7-day window: kept, only acknowledged
    assert store.outbox_depth() == 1  # only seq 4 waits for an ACK
    assert [e.seq for e in store.outbox_pending()] == [4]
    assert store.outbox.event_id_at(2) is None  # acknowledged: not the verify check's
    assert store.oldest_unsynced_age_s(clock.now()) == pytest.approx(0)
    # The kept rows are still whole events, a sale's body from its sale row.
    kept = store.outbox_pending(after_seq=0)
    assert [e.seq for e in kept] == [1, 2, 3, 4]
    assert [json.loads(e.body)["sale_id"] for e in kept] == [s.sale_id for s in sales]
    assert store.outbox.oldest_kept() == 1
    clock.advance(days=5)  # seqs 1-2 are now 8 days old, 3-4 five
    assert store.outbox_ack(4) == 2
    assert store.outbox.oldest_kept() == 3
    assert store.outbox_depth() == 0
    clock.advance(days=3)
    assert store.outbox_ack(4) == 2  # a repeated ACK prunes what has aged out since
    assert store.outbox.oldest_kept() is None


def test_an_ack_never_prunes_above_its_own_seq(store: Store, clock: FakeClock) -> None:
    # A restored cloud is sent the kept rows again: its ACKs, below the mark the till had
    # seen, must not prune the rows it still waits for, however old.
    for i in range(6):
        store.record_sale(make_sale(1, seed=i))
    store.outbox_ack(6)
    clock.advance(days=30)
    assert store.outbox_ack(2) == 2
    assert [e.seq for e in store.outbox_pending(after_seq=2)] == [3, 4, 5, 6]
    assert store.outbox.acked_seq() == 6


def test_a_zero_window_deletes_on_ack(store: Store, clock: FakeClock) -> None:
    box = outbox.Outbox(store.db, dt.timedelta(0), now=clock.now)
    for i in range(3):
        store.record_sale(make_sale(1, seed=i))
    assert box.ack(2) == 2
    assert box.oldest_kept() == 3


def test_seq_keeps_counting_after_every_event_is_acked(store: Store) -> None:
    store.record_sale(make_sale(1))
    store.outbox_ack(1)
    assert store.outbox_depth() == 0
    assert store.record_sale(make_sale(1, seed=1)).seq == 2


def test_ack_beyond_what_was_written_is_refused(store: Store) -> None:
    store.record_sale(make_sale(1))
    with pytest.raises(InvalidRecord, match="restored from an old backup"):
        store.outbox_ack(5)
    assert store.outbox_depth() == 1


def test_oldest_unsynced_age_follows_the_oldest_unacked_event(
    store: Store, clock: FakeClock
) -> None:
    assert store.oldest_unsynced_age_s() is None
    store.record_sale(make_sale(1))
    clock.advance(seconds=90)
    store.record_sale(make_sale(1, seed=1))
    assert store.oldest_unsynced_age_s(T0 + dt.timedelta(seconds=100)) == pytest.approx(100)
    store.outbox_ack(1)
    assert store.oldest_unsynced_age_s(T0 + dt.timedelta(seconds=100)) == pytest.approx(10)


def as_envelope(event: OutboxRow, epoch: str = "") -> Envelope:
    """An outbox row as the protocol's envelope, built field by field."""
    return Envelope(
        id=event.event_id, terminal_id="S001-T01", store_id="S001", seq=event.seq,
        type=event.type, device_time=event.device_time, clock_synced=event.clock_synced,
        body=json.loads(event.body), epoch=epoch,
    )  # fmt: skip


def record_one_of_each(store: Store) -> None:
    """Every kind of event the till writes, a sale with Chinese product names among them."""
    sale = make_sale(3, redeem_blocks=1)
    receipt = store.record_sale(sale).receipt_no
    store.record_return(make_return(sale, receipt))
    store.record_shift_open("SH1", "M01", 50_000, T0)
    store.record_cash_movement(CashMovement("CM1", "SH1", 500, "change", "M01", T0))
    store.record_audit(AuditEntry("A1", "price_override", "C01", "M01", "SKU1 to 5.00", T0))
    store.record_feedback("F1", sale.sale_id, 4, T0)
    store.record_complaint("K1", "C01", "slow", T0, sale_id=sale.sale_id)
    store.facts.record_member_note("N1", "M0001", "G02", "guide", "wants size L", T0)
    store.record_member_registration(Member("L1", "13812345678"), "C01", T0, gender="f")
    report = ShiftReport("SH1", "Z", 50_000, 1, 1, {"cash": 100}, 500, 0, 50_600, 50_600, 0)
    store.record_shift_close(report, "M01", T0)
    store.staff.add_staff("C09", "张三", Role.CASHIER, "1357")
    for _ in range(5):
        store.staff.verify("C09", "0000")  # the lockout writes an audit event too


def test_every_event_the_store_writes_is_accepted_by_the_wire_contract(store: Store) -> None:
    record_one_of_each(store)
    events = store.outbox_pending()
    assert [e.seq for e in events] == list(range(1, 12))
    for event in events:
        decode_event_body(as_envelope(event))  # raises a SchemaError on any drift
    assert {e.type for e in events} == {
        "sale", "return", "shift_opened", "cash_movement", "audit", "feedback", "complaint",
        "member_note", "member_registered", "shift_closed",
    }  # fmt: skip


EPOCH = "0001a2b3c4d5e6f7"


def test_wire_envelopes_are_exactly_what_the_protocol_codec_encodes_for_each_event(
    store: Store,
) -> None:
    record_one_of_each(store)
    events = store.outbox_pending()
    frame = WireFrame.of("S001-T01", "S001", EPOCH)
    wire = store.outbox.wire(0, 500, frame)
    assert [seq for seq, _ in wire] == [e.seq for e in events]
    expected = [as_envelope(e, EPOCH) for e in events]
    # Byte for byte the codec's own encoding: a resend from older software is the same event.
    payload = b'{"v":1,"terminal_id":"S001-T01","store_id":"S001","events":[%s]}' % b",".join(
        envelope for _, envelope in wire
    )
    assert payload == encode_batch(Batch(terminal_id="S001-T01", store_id="S001", events=expected))
    assert decode_batch(payload).events == expected  # and the cloud reads back the same events
    # Paging: after a seq, at most a limit.
    assert [seq for seq, _ in store.outbox.wire(3, 2, frame)] == [4, 5]


def test_a_wire_envelope_stays_well_formed_whatever_its_text_columns_hold(store: Store) -> None:
    # Nothing the till writes needs escaping, but one odd row must not make a whole batch
    # unreadable: the cloud can then keep that one event aside and take the rest.
    odd_type, odd_time = 'au"dit\\', "2026-11-20T08:00:00\n\u0001张"
    with store.db.write() as conn:
        outbox.emit(conn, odd_type, odd_time, False, {"note": 'a "quoted" \\ text'}, "x")
    [(seq, envelope)] = store.outbox.wire(0, 10, WireFrame.of("S001-T01", "S001", ""))
    decoded = json.loads(envelope)
    assert decoded["seq"] == seq == 1
    assert (decoded["type"], decoded["device_time"]) == (odd_type, odd_time)
    assert decoded["body"] == {"note": 'a "quoted" \\ text'}
    assert decoded["clock_synced"] is False and decoded["epoch"] == ""
    assert msgspec.json.decode(envelope)["id"] == store.outbox.event_id_at(1)
