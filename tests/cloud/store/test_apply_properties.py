"""Property: any delivery order, with any duplicates, ends in the same exact figures and mark."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store.apply import IngestRules, apply_batch
from cloud.store.db import open_cloud_db
from protocol.topics import events_topic
from tests.cloud.factories import batch_payload, envelope, sale_body

TOPIC = events_topic("S001", "S001-T01")
N = 8
# One fixed sale per seq: seq s sells s units of SKU "K<s % 3>" for 100*s + 7 fen.
ENVELOPES = {
    s: envelope("S001-T01", s, sale_body([(f"K{s % 3}", s, 100 * s + 7)], receipt_no=f"R{s}"))
    for s in range(1, N + 1)
}
DECODED = {}
for _seq, _env in ENVELOPES.items():
    _d = decode_events_message(TOPIC, batch_payload([_env]))
    assert isinstance(_d, DecodedBatch)
    DECODED[_seq] = _d.events


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=N), min_size=1, max_size=3 * N))
def test_any_order_with_duplicates_is_exact(deliveries: list[int]) -> None:
    cdb = open_cloud_db("sqlite:///:memory:")
    try:
        mark = 0
        for seq in deliveries:
            outcome = apply_batch(
                cdb,
                store_id="S001",
                terminal_id="S001-T01",
                events=DECODED[seq],
                topic=TOPIC,
                rules=IngestRules(),
            )
            mark = outcome.high_water
        delivered = set(deliveries)
        expected_mark = 0
        while expected_mark + 1 in delivered:
            expected_mark += 1
        assert mark == expected_mark
        m = cdb.models
        totals = m.DailyTotals.select().first()
        assert totals.sales_count == len(delivered)
        assert totals.sales_fen == sum(100 * s + 7 for s in delivered)
        per_sku = {r.sku: r.quantity for r in m.SkuSales.select()}
        expected: dict[str, int] = {}
        for s in delivered:
            expected[f"K{s % 3}"] = expected.get(f"K{s % 3}", 0) + s
        assert per_sku == expected
    finally:
        cdb.close()
