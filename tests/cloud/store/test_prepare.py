"""Preparing a batch from typed bodies gives what the plain bodies give: rows, projections, sums.

The ingest decoder hands each event's body both as sent and as its protocol Struct; the
prepare side reads the Struct where it can (rows, projections, rollup sums). The mapping
path stays for events built without the codec, so the two must agree to the last counter.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import operator
from typing import Any

from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store.apply import IngestRules, prepare_batch
from cloud.store.bulk import copy_line
from protocol.topics import events_topic
from tests.cloud.factories import DEFAULT_TIME, batch_payload, envelope, sale_body

NOW = DEFAULT_TIME + dt.timedelta(minutes=5)


def _weighed(body: dict[str, Any]) -> dict[str, Any]:
    """The first line sold by weight (1.234 kg at 1200 fen/kg) and its price overridden."""
    line = body["lines"][0]
    delta = 1481 - line["net_fen"]
    line.update(quantity=1, weight_g=1234, unit_price_fen=1200, gross_fen=1481, discounts=[],
                net_fen=1481, price_overridden=True)  # fmt: skip
    body["gross_fen"] = sum(ln["gross_fen"] for ln in body["lines"])
    body["discount_fen"] = sum(d["amount_fen"] for ln in body["lines"] for d in ln["discounts"])
    body["total_fen"] += delta
    body["tenders"][-1]["amount_fen"] += delta
    body["tenders"][-1]["tendered_fen"] += delta
    return body


def _sales() -> list[dict[str, Any]]:
    return [
        sale_body([("MILK", 2, 700), ("BREAD", 1, 450), ("MILK", 1, 349)]),
        sale_body([("MILK", 3, 1000)], member_id="M1"),
        sale_body([("TEA", 1, 5000), ("CUP", 4, 1996)], member_id="M2", redeem=100),
        _weighed(sale_body([("APPLE", 1, 1000), ("PEAR", 2, 600)])),
        _weighed(sale_body([("APPLE", 1, 800)])),
        sale_body([("BREAD", 5, 2250)], member_id="M3", redeem=100),
    ]


def _prepare(events: list[Any]) -> Any:
    return prepare_batch(
        store_id="S001", terminal_id="S001-T01", events=events, topic="t", rules=IngestRules(),
        now_aware=NOW, clocks={}, copy_text=True,
    )  # fmt: skip


def test_typed_and_plain_bodies_prepare_the_same_batch() -> None:
    envs = [envelope("S001-T01", seq, body) for seq, body in enumerate(_sales(), start=1)]
    decoded = decode_events_message(events_topic("S001", "S001-T01"), batch_payload(envs))
    assert isinstance(decoded, DecodedBatch)
    assert all(e.typed is not None for e in decoded.events)
    plain = [dataclasses.replace(e, typed=None) for e in decoded.events]
    typed_batch, plain_batch = _prepare(decoded.events), _prepare(plain)
    assert not any(e.hold_reasons or e.dead_reason for e in typed_batch.events)
    assert typed_batch.rows == plain_batch.rows
    assert typed_batch.projections == plain_batch.projections
    assert typed_batch.merged == plain_batch.merged
    assert typed_batch.rollup_sums == plain_batch.rollup_sums
    assert typed_batch.copy_lines == plain_batch.copy_lines
    # The figures are real ones: the weighed, overridden line and the members' points count.
    assert typed_batch.rollup_sums is not None
    sums = typed_batch.rollup_sums.sums
    assert sum(v[5] for v in sums.sales.values()) == 2  # two overridden lines
    assert any(v[2] == 2 * 1234 for v in sums.products.values())  # the weighed grams
    assert {row.member_id for row in typed_batch.merged.ledger} == {"M1", "M2", "M3"}
    # The batch's sums are the events' own figures added one by one.
    totals = [t for p in typed_batch.projections.values() for t in p.totals.values()]
    assert list(typed_batch.merged.totals.values()) == [functools.reduce(operator.add, totals)]
    assert all(line.endswith("\n") for _, line in typed_batch.copy_lines.values())
    assert copy_line(typed_batch.rows[1]) == typed_batch.copy_lines[1][1]
