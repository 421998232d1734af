"""A batch's typed sales are prepared in one step: the same as event by event, to the byte.

prepare_batch prepares a sale whose body the codec typed in one step (plausibility with the
batch's bounds, the projection with keys shared by the batch, the row and its COPY line made
in one format). These tests rebuild every sale the general way, with the per-event functions
(_prepare_event, _row, bulk.copy_line, project_sale without shared keys, the rollups from the
bodies as sent) and compare, over receipt numbers, member ids and names holding backslashes,
tabs, newlines and other scripts, held sales, unknown rules versions, clocks, and returns
(prepared the general way) between the sales.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.domain.projections import business_time, combine
from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store import rollups
from cloud.store.apply import IngestRules, _prepare_event, _row, prepare_batch
from cloud.store.bulk import copy_line
from cloud.store.stores import StoreClock, zone
from protocol.topics import events_topic
from tests.cloud.factories import DEFAULT_TIME, batch_payload, envelope, sale_body
from tests.cloud.remote_factories import return_body

NOW = DEFAULT_TIME + dt.timedelta(minutes=5)
TEXT = st.text(alphabet=st.sampled_from("ab\\\t\n\r\"'é茶 \u2028\x7f/"), max_size=64)
#: Device times: the same second, other hours and days, and held ones (the future, 1915).
TIMES = [DEFAULT_TIME + dt.timedelta(seconds=s) for s in (0, 1, -3 * 3600, -20 * 3600,
         -2 * 86400, 17 * 3600, -4000 * 86400)]  # fmt: skip

SALE = st.fixed_dictionaries(
    {
        "receipt": TEXT,
        "member": st.none() | TEXT.filter(bool),
        "sku": TEXT.filter(bool),
        "name": TEXT,
        "quantity": st.integers(1, 4),
        "net": st.integers(1, 99_999),
        "redeem": st.sampled_from([0, 0, 100]),
        "time": st.sampled_from(TIMES),
        "synced": st.booleans(),
        "forged": st.booleans(),
        "version": st.sampled_from(["", "", "v9"]),
        "returned": st.integers(0, 3),  # 0: the sale itself, else a return of one of its items
    }
)


def _body(sale: dict[str, Any]) -> dict[str, Any]:
    member = sale["member"]
    body = sale_body([(sale["sku"], sale["quantity"], sale["net"] + 1000)], member_id=member,
                     receipt_no=sale["receipt"], time=sale["time"],
                     redeem=sale["redeem"] if member else 0)  # fmt: skip
    body["lines"][0]["name_en"] = sale["name"]
    body["rules_version"] = sale["version"]
    if sale["forged"]:
        body["total_fen"] += 1
    return body


def _event(seq: int, sale: dict[str, Any]) -> Any:
    body, kind = _body(sale), "sale"
    if sale["returned"] == 1:  # returns are rolled up the general way, between the sales
        body = return_body(body, [(1, 1)], receipt_no=sale["receipt"], time=sale["time"])
        kind = "return"
    return envelope("S001-T01", seq, body, event_type=kind, time=sale["time"],
                    clock_synced=sale["synced"])  # fmt: skip


def _general(events: list[Any], rules: IngestRules, clocks: dict[str, StoreClock]) -> Any:
    """What prepare_batch makes, rebuilt event by event with the general functions."""
    received = str(NOW.astimezone(dt.UTC).replace(tzinfo=None))
    out, rows, lines, projections, local_times = [], {}, {}, {}, {}
    for event in events:
        local = business_time(event.device_time, event.clock_synced, NOW,
                              rules.tz_for(event.store_id))  # fmt: skip
        event, projection = _prepare_event(event, rules, NOW, local)
        row = _row(event, local, received, event.status)
        rows[event.seq], lines[event.seq] = row, (row, copy_line(row))
        local_times[event.seq] = local
        if projection is not None:
            projections[event.seq] = projection
        out.append(event)
    sums = rollups.Sums()  # from the bodies as sent, each event's business time on its own
    for event in (e for e in out if e.seq in projections):
        clock = clocks.get(event.store_id) or StoreClock(rules.tz_for(event.store_id))
        local = business_time(event.device_time, event.clock_synced, NOW, clock.timezone)
        day, hour = clock.business(local)
        at = rollups.At(event.store_id, event.terminal_id, event.seq, day, hour, local)
        rollups._ROLLERS[event.type](sums, at, event.body)
    return out, rows, lines, local_times, projections, combine(list(projections.values())), sums


@settings(max_examples=60, deadline=None)
@given(st.lists(SALE, min_size=1, max_size=12), st.booleans())
def test_typed_sales_prepare_as_the_general_path_does(sales: list[Any], tokyo: bool) -> None:
    envs = [_event(seq, sale) for seq, sale in enumerate(sales, start=1)]
    decoded = decode_events_message(events_topic("S001", "S001-T01"), batch_payload(envs))
    assert isinstance(decoded, DecodedBatch)
    rules = IngestRules()
    clocks = {"S001": StoreClock(zone("Asia/Tokyo"), 4)} if tokyo else {}
    batch = prepare_batch(store_id="S001", terminal_id="S001-T01", events=decoded.events,
                          topic="t", rules=rules, now_aware=NOW, clocks=clocks,
                          copy_text=True)  # fmt: skip
    events, rows, lines, local_times, projections, merged, sums = _general(
        decoded.events, rules, clocks
    )
    assert batch.events == events
    assert list(batch.rows.items()) == list(rows.items())
    assert list(batch.copy_lines.items()) == list(lines.items())
    assert batch.local_times == local_times
    assert list(batch.projections.items()) == list(projections.items())
    assert batch.merged == merged
    assert batch.rollup_sums is not None
    ours = batch.rollup_sums.sums
    for table in ("sales", "products", "chain", "names", "categories", "tenders", "discounts"):
        # Each key in the place it first came, as adding event by event puts it.
        assert list(getattr(ours, table).items()) == list(getattr(sums, table).items()), table
    assert ours == sums


def test_a_sale_built_without_the_codec_gets_its_ids_escaped() -> None:
    """Ids the codec's patterns would refuse (a store file or a test built the event) still
    make a valid COPY line: the one-format line is only for what the codec lets through."""
    env = envelope("S001-T01", 1, sale_body([("A", 1, 100)], receipt_no="R\\1\t"))
    decoded = decode_events_message(events_topic("S001", "S001-T01"), batch_payload([env]))
    assert isinstance(decoded, DecodedBatch)
    odd = [dataclasses.replace(e, event_id="id\\with\ttab", epoch="e\n") for e in decoded.events]
    batch = prepare_batch(store_id="S001", terminal_id="S001-T01", events=odd, topic="t",
                          rules=IngestRules(), now_aware=NOW, copy_text=True)  # fmt: skip
    row, line = batch.copy_lines[1]
    assert line == copy_line(row)
    assert "id\\\\with\\ttab" in line and "R\\\\1\\t" in line
