"""A return id carried by two return events: the first keeps its units, the second is held.

Each test runs on SQLite and PostgreSQL (``cloud_db``), through ingest's decoder and its one
transaction.
"""

from __future__ import annotations

from typing import Any

from cloud.store import receipts
from cloud.store.db import CloudDB
from protocol.envelope import Envelope
from tests.cloud.factories import applied, envelope, sale_body
from tests.cloud.remote_factories import return_body

T1, T2 = "S001-T01", "S002-T01"


def _return(terminal: str, seq: int, sale: dict[str, Any], units: int, rid: str) -> Envelope:
    body = return_body(sale, [(1, units)], receipt_no=f"{terminal}-R{seq}", return_id=rid)
    return envelope(terminal, seq, body, event_type="return")


def _refunded(cdb: CloudDB) -> int:
    return sum(r.refund_fen for r in cdb.models.DailyTotals.select())


def test_a_second_return_with_a_recorded_return_id_is_held_and_erases_nothing(
    cloud_db: CloudDB,
) -> None:
    # Two RICE for ¥100. T1 returns one (return id X); another till sends a return of both
    # under the same id: together three of two. It is held, and the first keeps its units.
    sale = sale_body([("RICE", 2, 10_000)], receipt_no="S001-T01-1")
    rid = "11111111-2222-4333-8444-555555555555"
    assert applied(cloud_db, [envelope(T1, 1, sale)]).held == []
    first = _return(T1, 2, sale, 1, rid)
    assert applied(cloud_db, [first]).held == []
    second = applied(cloud_db, [_return(T2, 1, sale, 2, rid)])
    assert (second.high_water, second.held) == (1, [1])  # acknowledged, but held
    [flag] = cloud_db.models.EventFlag.select()
    assert flag.reasons == [f"return id {rid} is already the return at {T1} seq 2"]
    assert _refunded(cloud_db) == 5_000  # the first only
    # Both returns' units count: the ledger says three of two, and reports the over-return.
    r = cloud_db.remote.ReturnedUnits
    assert {(x.terminal_id, int(x.seq), int(x.units)) for x in r.select()} == {
        (T1, 2, 1), (T2, 1, 2)}  # fmt: skip
    now = cloud_db.models.Event.select().first().received_at
    assert receipts.returned(cloud_db, sale["sale_id"], now) == {1: 3}
    assert [p.reason for p in cloud_db.remote.ReturnProblem.select()] == ["over_return"]
    # T1's own next return of both is held by its returns bounded together: its first counts.
    third = applied(cloud_db, [_return(T1, 3, sale, 2, "11111111-2222-4333-8444-666666666666")])
    assert third.held == [3]
    # The first sent again is the same event: stored once, nothing held, nothing moved.
    again = applied(cloud_db, [first])
    assert (again.high_water, again.inserted, again.duplicates, again.held) == (3, 0, 1, [])
    assert _refunded(cloud_db) == 5_000
    assert {(x.terminal_id, int(x.seq)) for x in r.select()} == {(T1, 2), (T2, 1), (T1, 3)}


def test_one_return_id_twice_in_one_batch_holds_the_later(cloud_db: CloudDB) -> None:
    sale = sale_body([("RICE", 2, 10_000)], receipt_no="S001-T01-1")
    rid = "11111111-2222-4333-8444-777777777777"
    out = applied(cloud_db, [envelope(T1, 1, sale), _return(T1, 2, sale, 1, rid),
                            _return(T1, 3, sale, 1, rid)])  # fmt: skip
    assert (out.high_water, out.held) == (3, [3])
    assert _refunded(cloud_db) == 5_000
    r = cloud_db.remote.ReturnedUnits
    assert sorted((int(x.seq), int(x.units)) for x in r.select()) == [(2, 1), (3, 1)]
