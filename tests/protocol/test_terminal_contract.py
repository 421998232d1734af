"""Every event the terminal's store writes to its outbox decodes against the wire schema."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.checkout import shifts
from device.checkout.records import AuditEntry, CashMovement, Member
from device.store.store import Store
from protocol import bodies, codec
from protocol.envelope import Envelope
from tests.device.store.builders import FakeClock, make_return, make_sale, store_config

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "terminal.db", store_config(), create=True, clock=FakeClock())
    yield s
    s.close()


def _record_one_of_each(store: Store) -> None:
    sale = make_sale()
    store.facts.record_shift_open(sale.shift_id, "C01", 10_000, T0)
    recorded = store.record_sale(sale)
    store.record_return(make_return(sale, recorded.receipt_no))
    store.facts.record_feedback("FB-1", sale.sale_id, 5, T0, comment="quick")
    store.facts.record_complaint("CP-1", "C01", "queue too long", T0, sale_id=sale.sale_id)
    member = Member("M9", "13800135678", "Li", birthday=dt.date(1990, 1, 2))
    store.facts.record_member_registration(member, "C01", T0, gender="f", cards=("04A1",))
    store.facts.record_cash_movement(CashMovement("CM-1", sale.shift_id, 500, "coins", "C01", T0))
    store.facts.record_audit(AuditEntry("A-1", "no_sale", "C01", "M01", "no sale", T0))
    z = shifts.report(shifts.open_shift(sale.shift_id, "C01", T0, 10_000), "Z", 10_000)
    store.facts.record_shift_close(z, "M01", T0)


def test_outbox_bodies_fit_their_schemas(store: Store) -> None:
    """A body the cloud cannot read is dead-lettered there, so the two sides must agree."""
    _record_one_of_each(store)
    rows = store.outbox_pending()
    expected = {
        "shift_opened", "sale", "return", "feedback", "complaint", "member_registered",
        "cash_movement", "audit", "shift_closed",
    }  # fmt: skip
    assert {row.type for row in rows} == expected
    for row in rows:
        env = Envelope(
            id=row.event_id,
            terminal_id="S001-T01",
            store_id="S001",
            seq=row.seq,
            type=row.type,
            device_time=row.device_time,
            clock_synced=row.clock_synced,
            body=json.loads(row.body),
        )
        body = codec.decode_event_body(env)
        assert isinstance(body, bodies.EVENT_TYPES[row.type]), row.type
