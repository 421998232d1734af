"""Report rollups written by ingest: exact under replays and duplicates, in business days."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store import stores
from cloud.store.apply import IngestRules, apply_batch, commit_batch, prepare_batch
from cloud.store.db import CloudDB
from cloud.store.reports import REPORTS, Filters
from protocol.envelope import Envelope, utc_iso
from protocol.topics import events_topic
from tests.cloud.factories import DEFAULT_TIME, batch_payload, envelope, sale_body

DAY = dt.date(2026, 11, 23)  # DEFAULT_TIME is 14:30 on this day in Shanghai


def _apply(cdb: CloudDB, envs: Sequence[Envelope]) -> None:
    first = envs[0]
    topic = events_topic(first.store_id, first.terminal_id)
    decoded = decode_events_message(topic, batch_payload(envs))
    assert isinstance(decoded, DecodedBatch)
    apply_batch(
        cdb,
        store_id=first.store_id,
        terminal_id=first.terminal_id,
        events=decoded.events,
        topic=topic,
        rules=IngestRules(),
    )


def _return_body(sale: dict, sku: str, qty: int, refund: int) -> dict:
    return {
        "return_id": str(uuid.uuid4()),
        "original_sale_id": sale["sale_id"],
        "original_receipt_no": sale["receipt_no"],
        "cashier_id": "C02",
        "shift_id": "SH1",
        "member_id": None,
        "lines": [
            {
                "original_line_no": 1,
                "sku": sku,
                "quantity": qty,
                "weight_g": None,
                "refund_fen": refund,
            }
        ],
        "refund_fen": refund,
        "refunds": [
            {
                "kind": "cash",
                "amount_fen": refund,
                "tendered_fen": 0,
                "approval_code": "",
                "reference": "",
            }
        ],
        "points": [],
        "authorised_by": None,
        "device_time": utc_iso(DEFAULT_TIME),
        "clock_synced": True,
        "reason": "",
        "receipt_no": "RET1",
    }


def _audit_body(action: str, manager: str) -> dict:
    return {
        "audit_id": str(uuid.uuid4()),
        "action": action,
        "staff_id": "C01",
        "manager_id": manager,
        "detail": "drawer",
        "device_time": utc_iso(DEFAULT_TIME),
    }


def _report(cdb: CloudDB, name: str, store: str | None = "S001", day: dt.date = DAY) -> list:
    f = Filters(stores=None if store is None else frozenset({store}), date_from=day, date_to=day)
    table = REPORTS[name](cdb, f)
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def test_sales_products_tenders_and_audit_are_counted_once_under_replays(cloud_db: CloudDB) -> None:
    with cloud_db.write():
        stores.put_store(cloud_db, "S001", "Store 1", "Asia/Shanghai", 0)
    sale1 = envelope("S001-T01", 1, sale_body([("A", 2, 1500), ("B", 1, 990)]))
    sold = sale_body([("A", 1, 750)], member_id="M1", receipt_no="S001-T01-20261123-0002")
    sale2 = envelope("S001-T01", 2, sold)
    ret = envelope("S001-T01", 3, _return_body(sold, "A", 1, 750), event_type="return")
    nosale = envelope("S001-T01", 4, _audit_body("no_sale", "1001"), event_type="audit")
    _apply(cloud_db, [sale1, sale2])
    _apply(cloud_db, [sale1, sale2])  # a replay of the whole message
    _apply(cloud_db, [sale2, ret, nosale])  # overlapping: seq 2 again, 3 and 4 new
    _apply(cloud_db, [ret, nosale])

    [total] = _report(cloud_db, "sales")
    assert (total["sales_count"], total["returns_count"]) == (2, 1)
    assert total["sales_fen"] == 1500 + 990 + 750 and total["refund_fen"] == 750
    assert total["net_fen"] == 1500 + 990
    assert total["items"] == 4 and total["member_sales"] == 1
    assert total["avg_ticket_fen"] == (1500 + 990 + 750) // 2
    by_cashier = {r["cashier_id"]: r for r in _report(cloud_db, "sales-by-cashier")}
    assert by_cashier["C01"]["sales_count"] == 2 and by_cashier["C02"]["returns_count"] == 1
    [hour] = _report(cloud_db, "sales-by-hour")
    assert hour["hour"] == 14
    products = {p["sku"]: p for p in _report(cloud_db, "top-products")}
    assert products["A"]["quantity"] == 3 and products["A"]["net_fen"] == 2250
    assert products["A"]["returned_quantity"] == 1 and products["A"]["refund_fen"] == 750
    assert [p["sku"] for p in _report(cloud_db, "top-products")] == ["A", "B"]
    assert [p["sku"] for p in _report(cloud_db, "bottom-products")] == ["B", "A"]
    chain = {p["sku"]: p for p in _report(cloud_db, "top-products", store=None)}
    assert chain == products  # one store: the chain-wide table agrees
    [category] = _report(cloud_db, "sales-by-category")
    assert (category["category"], category["net_fen"], category["refund_fen"]) == (
        "grocery",
        1500 + 990 + 750,
        750,
    )  # the return took the product's category
    [cash] = _report(cloud_db, "sales-by-tender")
    assert (cash["tenders"], cash["amount_fen"], cash["refunds"], cash["refund_fen"]) == (
        2,
        3240,
        1,
        750,
    )
    [opening] = _report(cloud_db, "no-sales")
    assert (opening["action"], opening["manager_id"], opening["terminal_id"]) == (
        "no_sale",
        "1001",
        "S001-T01",
    )
    [rate] = _report(cloud_db, "returns")
    assert rate["return_rate"] == 0.5


def test_business_day_follows_the_store_day_start_and_time_zone(cloud_db: CloudDB) -> None:
    with cloud_db.write():
        stores.put_store(cloud_db, "S001", "Late shop", "Asia/Shanghai", 4)
        stores.put_store(cloud_db, "S002", "London", "Europe/London", 0)
    late = dt.datetime(2026, 11, 23, 18, 30, tzinfo=dt.UTC)  # 02:30 on the 24th in Shanghai
    _apply(cloud_db, [envelope("S001-T01", 1, sale_body([("A", 1, 100)], time=late), time=late)])
    _apply(cloud_db, [envelope("S002-T01", 1, sale_body([("A", 1, 200)], time=late), time=late)])
    [s1] = _report(cloud_db, "sales-by-hour", "S001", DAY)  # before 04:00: still the 23rd
    assert (s1["hour"], s1["sales_fen"]) == (2, 100)
    assert _report(cloud_db, "sales-by-hour", "S001", DAY + dt.timedelta(days=1)) == []
    [s2] = _report(cloud_db, "sales-by-hour", "S002", DAY)  # 18:30 in London on the 23rd
    assert (s2["hour"], s2["sales_fen"]) == (18, 200)


def test_figures_summed_ahead_by_an_outdated_clock_are_summed_again(cloud_db: CloudDB) -> None:
    # The worker sums a batch's rollups before its transaction, by the clocks it read last.
    # The store changed its day start since: the transaction's own read wins.
    late = dt.datetime(2026, 11, 23, 18, 30, tzinfo=dt.UTC)  # 02:30 on the 24th in Shanghai
    sale = envelope("S001-T01", 1, sale_body([("A", 1, 100)], time=late), time=late)
    topic = events_topic("S001", "S001-T01")
    decoded = decode_events_message(topic, batch_payload([sale]))
    assert isinstance(decoded, DecodedBatch)
    outdated = {"S001": stores.StoreClock(stores.zone("Asia/Shanghai"), 0)}
    prepared = prepare_batch(store_id="S001", terminal_id="S001-T01", events=decoded.events,
                             topic=topic, rules=IngestRules(),
                             now_aware=dt.datetime.now(dt.UTC), clocks=outdated)  # fmt: skip
    assert prepared.rollup_sums is not None  # summed by the 00:00 day start: the 24th
    with cloud_db.write():
        stores.put_store(cloud_db, "S001", "Late shop", "Asia/Shanghai", 4)
    outcome = commit_batch(cloud_db, prepared, IngestRules())
    assert outcome.clocks["S001"].day_start_hour == 4
    [row] = _report(cloud_db, "sales-by-hour", "S001", DAY)  # before 04:00: still the 23rd
    assert (row["hour"], row["sales_fen"]) == (2, 100)
    assert _report(cloud_db, "sales-by-hour", "S001", DAY + dt.timedelta(days=1)) == []


def test_z_report_of_a_shift_with_expected_and_counted(cloud_db: CloudDB) -> None:
    opened = {
        "shift_id": "SH9",
        "opened_by": "1001",
        "float_fen": 20000,
        "device_time": utc_iso(DEFAULT_TIME),
    }
    closed = {
        "shift_id": "SH9",
        "kind": "Z",
        "float_fen": 20000,
        "sales_count": 3,
        "returns_count": 0,
        "by_tender": {"cash": 5000, "card": 1200},
        "cash_in_fen": 0,
        "cash_out_fen": 1000,
        "expected_cash_fen": 24000,
        "counted_cash_fen": 23900,
        "difference_fen": -100,
        "closed_by": "1001",
        "device_time": utc_iso(DEFAULT_TIME),
    }
    # The close arrives first (another worker took the opening): the row still comes out whole.
    _apply(cloud_db, [envelope("S001-T01", 2, closed, event_type="shift_closed")])
    _apply(cloud_db, [envelope("S001-T01", 1, opened, event_type="shift_opened")])
    _apply(cloud_db, [envelope("S001-T01", 2, closed, event_type="shift_closed")])
    [z] = _report(cloud_db, "shifts")
    assert (z["shift_id"], z["opened_by"], z["closed_by"]) == ("SH9", "1001", "1001")
    assert (z["expected_cash_fen"], z["counted_cash_fen"], z["difference_fen"]) == (
        24000,
        23900,
        -100,
    )
    assert z["by_tender_fen"] == "card=1200; cash=5000" and z["float_fen"] == 20000
