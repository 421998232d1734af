"""A return held because its sale was missing is judged again once the sale is stored.

Each test runs on SQLite and PostgreSQL (``cloud_db``), through ingest's decoder and its one
transaction: the return first (from another till, as after a cloud restore), then its sale;
then the late_returns job, through the jobs' run entry point, as the scheduler runs it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cloud.jobs.runs import RunResult
from cloud.store import flags, late_sales
from cloud.store.db import CloudDB
from cloud.store.effects import IngestRules, PendingDown
from cloud.store.late_sales import RELEASED_BY
from protocol.envelope import Envelope
from tests.cloud.factories import applied, envelope, sale_body
from tests.cloud.jobs.helpers import run
from tests.cloud.remote_factories import return_body

T1, T2 = "S001-T01", "S002-T01"


def _member_return(sale: dict[str, Any], units: int, seq: int) -> Envelope:
    """T2's return of ``units`` of line 1 of M1's sale, its points reversed in proportion."""
    ret = return_body(sale, [(1, units)], receipt_no=f"S002-T01-R{seq}")
    ret["points"] = [{"member_id": "M1", "delta": -sale["points_earned"] * units // 2,
                      "reason": "return_reversal", "origin_sale_id": sale["sale_id"]}]  # fmt: skip
    return envelope(T2, seq, ret, event_type="return")


def _points(cdb: CloudDB, member: str) -> int:
    p = cdb.models.PointsLedger
    return sum(r.delta for r in p.select().where(p.member_id == member))


def _refunded(cdb: CloudDB) -> int:
    return sum(r.refund_fen for r in cdb.models.DailyTotals.select())


def _flags(cdb: CloudDB) -> dict[int, tuple[str, list[str]]]:
    """T2's held returns: seq -> (state, reasons)."""
    f = cdb.models.EventFlag
    return {int(x.seq): (x.state, list(x.reasons)) for x in f.select().where(f.terminal_id == T2)}


def _late_returns(cdb: CloudDB) -> tuple[RunResult, list[PendingDown]]:
    """One run of the job, now; the run and what it handed over to publish."""
    result, sent = run(cdb, "late_returns", dt.datetime.now(dt.UTC))
    assert result.state == "ok", result.error
    return result, sent


def _missing(sale: dict[str, Any]) -> str:
    return (f"the return names sale {sale['sale_id']} (receipt {sale['receipt_no']}), which "
            "the cloud does not hold")  # fmt: skip


def test_a_return_held_for_its_missing_sale_is_applied_when_the_sale_arrives(
    cloud_db: CloudDB,
) -> None:
    sale = sale_body([("RICE", 2, 20_000)], member_id="M1", receipt_no="S001-T01-1")  # 20 pts
    early = applied(cloud_db, [_member_return(sale, 1, 1)])
    assert (early.high_water, early.held) == (1, [1])
    assert _flags(cloud_db) == {1: ("open", [_missing(sale)])}
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (0, 0)
    arrived = applied(cloud_db, [envelope(T1, 1, sale)])
    assert arrived.held == []
    # Ingest stores the sale alone: the return waits for the job, still held.
    assert _flags(cloud_db) == {1: ("open", [_missing(sale)])}
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (20, 0)
    preview, sent = run(cloud_db, "late_returns", dt.datetime.now(dt.UTC), dry_run=True)
    assert (preview.summary["counts"], sent) == ({"found": 1, "applied": 1}, [])
    assert _flags(cloud_db) == {1: ("open", [_missing(sale)])}  # a dry run changes nothing
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (20, 0)
    result, sent = _late_returns(cloud_db)
    assert result.summary["counts"] == {"found": 1, "applied": 1}
    assert result.members_changed == 1
    [(state, _)] = _flags(cloud_db).values()
    assert state == "accepted"
    assert cloud_db.models.EventFlag.get().decided_by == RELEASED_BY
    m = cloud_db.models
    assert {(e.terminal_id, e.seq): e.status for e in m.Event.select()} == {
        (T1, 1): "ok", (T2, 1): "ok"}  # fmt: skip
    # The sale's 20 points less the return's 10; ¥200 of spend less ¥100 returned.
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (10, 10_000)
    assert m.Member.get_by_id("M1").cumulative_spend_fen == 10_000
    # The member's new facts go to the tills, with the balance after the return.
    pushed = [i for d in sent if d.stream == "members" for i in d.items]
    assert [(i["member_id"], i["points_balance"]) for i in pushed] == [("M1", 10)]
    # Applied once: the next run finds nothing.
    again, sent = _late_returns(cloud_db)
    assert (again.summary["counts"], sent) == ({"found": 0}, [])
    assert _points(cloud_db, "M1") == 10


def test_the_job_leaves_a_return_whose_sale_has_not_arrived(cloud_db: CloudDB) -> None:
    sale = sale_body([("RICE", 2, 20_000)], member_id="M1", receipt_no="S001-T01-1")
    assert applied(cloud_db, [_member_return(sale, 1, 1)]).held == [1]
    before = cloud_db.models.EventFlag.get()
    result, sent = _late_returns(cloud_db)
    assert (result.summary["counts"], result.members_changed, sent) == ({"found": 0}, 0, [])
    after = cloud_db.models.EventFlag.get()
    assert (after.state, after.reasons, after.decided_by, after.decided_at) == (
        "open", [_missing(sale)], "", None)  # fmt: skip
    assert after.flagged_at == before.flagged_at
    assert cloud_db.models.Event.get().status == "held"
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (0, 0)


def test_a_return_hq_accepted_before_the_job_is_applied_once(cloud_db: CloudDB) -> None:
    sale = sale_body([("RICE", 2, 20_000)], member_id="M1", receipt_no="S001-T01-1")  # 20 pts
    assert applied(cloud_db, [_member_return(sale, 1, 1)]).held == [1]
    applied(cloud_db, [envelope(T1, 1, sale)])
    # The job has found the return when HQ accepts it: the job then leaves it as decided.
    assert late_sales.waiting(cloud_db, 10) == [(T2, 1)]
    flags.accept(cloud_db, T2, 1, "hq-admin", "sale found", IngestRules())
    assert _points(cloud_db, "M1") == 10
    with cloud_db.write():
        left = late_sales.release(cloud_db, T2, 1, IngestRules(), dt.datetime(2026, 1, 1))
    assert (left.outcome, left.touched, left.down) == ("left", (), ())
    result, sent = _late_returns(cloud_db)
    assert (result.summary["counts"], result.members_changed, sent) == ({"found": 0}, 0, [])
    flag = cloud_db.models.EventFlag.get()
    assert (flag.state, flag.decided_by) == ("accepted", "hq-admin")
    # The sale's 20 points less the return's 10, once; ¥100 refunded once.
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (10, 10_000)
    assert cloud_db.models.Member.get_by_id("M1").cumulative_spend_fen == 10_000


def test_a_held_return_beyond_its_late_sale_is_held_for_the_real_reason(
    cloud_db: CloudDB,
) -> None:
    # T2 returned both RICE, then one more: each alone within the sale, together three of
    # two. The first applies when the sale comes; the second stays held, with the reason.
    sale = sale_body([("RICE", 2, 20_000)], member_id="M1", receipt_no="S001-T01-1")
    early = applied(cloud_db, [_member_return(sale, 2, 1), _member_return(sale, 1, 2)])
    assert early.held == [1, 2]
    applied(cloud_db, [envelope(T1, 1, sale)])
    result, _ = _late_returns(cloud_db)
    assert result.summary["counts"] == {"found": 2, "applied": 1, "held": 1}
    assert _flags(cloud_db) == {
        1: ("accepted", [_missing(sale)]),
        2: ("open", ["line 1: 3 returned of 2 sold, with this till's 1 earlier returns",
                     "cash refunds of 30000 with this till's 1 earlier returns are more than "
                     "the sale paid by cash (20000)"]),
    }  # fmt: skip
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (0, 20_000)
    statuses = {(e.terminal_id, e.seq): e.status for e in cloud_db.models.Event.select()}
    assert statuses[(T2, 2)] == "held"


def test_a_held_return_whose_late_sale_is_held_waits_for_hq_with_it(cloud_db: CloudDB) -> None:
    sale = sale_body([("RICE", 2, 20_000)], member_id="M1", earn=90, receipt_no="S001-T01-1")
    assert applied(cloud_db, [_member_return(sale, 1, 1)]).held == [1]
    assert applied(cloud_db, [envelope(T1, 1, sale)]).held == [1]  # 90 points: the rules give 20
    result, _ = _late_returns(cloud_db)
    assert result.summary["counts"] == {"found": 1, "held": 1}
    assert _flags(cloud_db) == {1: ("open", [
        f"the return names sale {sale['sale_id']} (receipt {sale['receipt_no']}), which is "
        "held for HQ"])}  # fmt: skip
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (0, 0)
