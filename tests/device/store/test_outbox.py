"""The outbox as the sync layer sees it: seq order, batching, ACK deletion, depth and age."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from device.store.errors import InvalidRecord
from device.store.store import Store
from tests.device.store.builders import T0, FakeClock, make_sale


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


def test_ack_deletes_up_to_seq_and_repeating_it_changes_nothing(store: Store) -> None:
    for i in range(5):
        store.record_sale(make_sale(1, seed=i))
    assert store.outbox_ack(3) == 3
    assert [e.seq for e in store.outbox_pending()] == [4, 5]
    assert store.outbox_ack(3) == 0
    assert store.outbox_ack(2) == 0  # a late, older ACK does not move the mark back
    assert store.outbox.acked_seq() == 3
    assert store.outbox_depth() == 2


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
