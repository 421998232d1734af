"""Event bodies: dataclass field names, enum values, UTC times; the models agree with migrations."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from device.checkout.records import SaleRecord
from device.store.errors import InvalidRecord
from device.store.models import UNBOUND
from device.store.serialize import iso_utc, to_body
from device.store.store import Store
from tests.device.store.builders import make_sale


def test_sale_body_uses_record_field_names_plus_receipt_no(store: Store) -> None:
    sale = make_sale(2, redeem_blocks=1)
    store.record_sale(sale)
    body = json.loads(store.outbox_pending()[0].body)
    assert set(body) == {f.name for f in dataclasses.fields(SaleRecord)} | {"receipt_no"}
    assert body["member_tier"] == "silver"
    assert body["tenders"][0]["kind"] == "points"
    assert body["points"][1]["reason"] == "redeem"
    assert dt.datetime.fromisoformat(body["device_time"]) == sale.device_time


def test_times_are_stored_in_utc_and_naive_times_refused() -> None:
    shanghai = dt.timezone(dt.timedelta(hours=8))
    local = dt.datetime(2026, 11, 23, 10, 0, tzinfo=shanghai)
    assert iso_utc(local) == "2026-11-23T02:00:00.000000+00:00"
    body = to_body(make_sale(1, when=local))
    assert body["device_time"] in ("2026-11-23T02:00:00Z", "2026-11-23T02:00:00+00:00")
    with pytest.raises(InvalidRecord, match="no time zone"):
        to_body(make_sale(1, when=dt.datetime(2026, 11, 23, 10, 0)))


def test_every_model_column_exists_in_the_migrated_schema(store: Store) -> None:
    for model in UNBOUND:
        table = model._meta.table_name
        columns = {row[1] for row in store.db.query(f"PRAGMA table_info({table})")}
        assert set(model._meta.columns) == columns, table
