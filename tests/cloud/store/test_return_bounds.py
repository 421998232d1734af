"""Returns checked against the sale the cloud holds: a forged one is held, never projected.

Each test runs on SQLite and PostgreSQL (``cloud_db``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store import flags
from cloud.store.apply import BatchOutcome, IngestRules, apply_batch
from cloud.store.db import CloudDB
from protocol.envelope import Envelope
from protocol.topics import events_topic
from tests.cloud.factories import batch_payload, envelope, sale_body
from tests.cloud.remote_factories import return_body

RULES = IngestRules()
T1, T2 = "S001-T01", "S002-T01"


def _apply(cdb: CloudDB, envs: list[Envelope]) -> BatchOutcome:
    terminal = envs[0].terminal_id
    store = terminal.split("-")[0]
    topic = events_topic(store, terminal)
    decoded = decode_events_message(topic, batch_payload(envs))
    assert isinstance(decoded, DecodedBatch), decoded
    return apply_batch(cdb, store_id=store, terminal_id=terminal, events=decoded.events,
                       topic=topic, rules=RULES)  # fmt: skip


def _one(cdb: CloudDB, terminal: str, seq: int, body: dict[str, Any], kind: str) -> BatchOutcome:
    return _apply(cdb, [envelope(terminal, seq, body, event_type=kind)])


def _points(cdb: CloudDB, member: str) -> int:
    p = cdb.models.PointsLedger
    return sum(r.delta for r in p.select().where(p.member_id == member))


def _refunded(cdb: CloudDB) -> int:
    return sum(r.refund_fen for r in cdb.models.DailyTotals.select())


def _member_return(sale: dict[str, Any], receipt_no: str) -> dict[str, Any]:
    """The honest return of all of a one-line ¥100 member sale: its 10 points reversed."""
    ret = return_body(sale, [(1, 1)], receipt_no=receipt_no)
    ret["points"] = [{"member_id": "M1", "delta": -10, "reason": "return_reversal",
                      "origin_sale_id": sale["sale_id"]}]  # fmt: skip
    return ret


def test_a_return_taking_more_than_its_sale_paid_is_held_out_of_every_total(
    cloud_db: CloudDB,
) -> None:
    sale = sale_body([("RICE", 1, 10_000)], member_id="M1")  # ¥100, 10 points
    assert _one(cloud_db, T1, 1, sale, "sale").held == []
    forged = _member_return(sale, "S002-T01-R1")  # at another store's till
    forged["lines"][0]["refund_fen"] = forged["refund_fen"] = 1_000_000
    forged["refunds"][0]["amount_fen"] = 1_000_000
    forged["points"] = [{"member_id": "M1", "delta": 1_000_000, "reason": "return_refund",
                         "origin_sale_id": sale["sale_id"]}]  # fmt: skip
    out = _one(cloud_db, T2, 1, forged, "return")
    assert (out.high_water, out.held) == (1, [1])  # stored and acknowledged, but held
    m = cloud_db.models
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (10, 0)
    assert m.Member.get_by_id("M1").cumulative_spend_fen == 10_000
    [flag] = m.EventFlag.select()
    assert (flag.terminal_id, flag.seq) == (T2, 1)
    assert any("refund 1000000 is more than the 1 of 1 returned paid" in r for r in flag.reasons)
    assert any("return_refund of 1000000 points" in r for r in flag.reasons)
    assert m.Terminal.get_by_id(T2).flagged
    honest = _one(cloud_db, T2, 2, _member_return(sale, "S002-T01-R2"), "return")
    assert (honest.high_water, honest.held) == (2, [])
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (0, 10_000)
    assert m.Member.get_by_id("M1").cumulative_spend_fen == 0


def test_a_return_naming_no_sale_the_cloud_holds_moves_no_points(cloud_db: CloudDB) -> None:
    sale = sale_body([("RICE", 1, 10_000)], member_id="M1")
    ghost = _member_return(sale, "S002-T01-R1")  # the sale itself was never sent
    ghost["points"] = [{"member_id": "M2", "delta": 5_000_000, "reason": "return_refund",
                        "origin_sale_id": ""}]  # fmt: skip
    ghost["member_id"] = "M2"
    no_receipt = {**ghost, "original_sale_id": None, "original_receipt_no": None,
                  "return_id": str(uuid.uuid4()), "authorised_by": "M01"}  # fmt: skip
    no_receipt["lines"] = [{**ghost["lines"][0], "original_line_no": 0, "refund_fen": 500}]
    no_receipt["refund_fen"], no_receipt["refunds"] = 500, [{**ghost["refunds"][0],
                                                            "amount_fen": 500}]  # fmt: skip
    out = _apply(cloud_db, [envelope(T2, 1, ghost, event_type="return"),
                            envelope(T2, 2, no_receipt, event_type="return")])  # fmt: skip
    assert (out.high_water, out.held) == (2, [1, 2])
    assert (_points(cloud_db, "M2"), _refunded(cloud_db)) == (0, 0)
    reasons = {f.seq: f.reasons for f in cloud_db.models.EventFlag.select()}
    assert reasons[1] == [f"the return names sale {sale['sale_id']} (receipt "
                          f"{sale['receipt_no']}), which the cloud does not hold"]  # fmt: skip
    assert reasons[2] == ["a return without its sale cannot move points"]


def test_a_return_ahead_of_its_own_sale_waits_for_it_and_is_then_checked(
    cloud_db: CloudDB,
) -> None:
    # Two workers: the till's next message (the return) committed before the one holding its
    # sale. The return is not stored yet; the ACK stays at the gap and the till sends it again.
    sale = sale_body([("RICE", 2, 10_000)], member_id="M1")
    first_sale, sale_env = envelope(T1, 1, sale_body([("MILK", 1, 500)])), envelope(T1, 2, sale)
    ret_env = envelope(T1, 3, _member_return_half(sale), event_type="return")
    assert _apply(cloud_db, [first_sale]).high_water == 1
    early = _apply(cloud_db, [ret_env])
    assert (early.high_water, early.inserted, early.deferred, early.held) == (1, 0, [3], [])
    assert _apply(cloud_db, [sale_env]).high_water == 2
    again = _apply(cloud_db, [ret_env])  # the till's resend from the ACK
    assert (again.high_water, again.inserted, again.held) == (3, 1, [])
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (5, 5_000)
    statuses = {e.seq: e.status for e in cloud_db.models.Event.select()}
    assert statuses == {1: "ok", 2: "ok", 3: "ok"}


def _member_return_half(sale: dict[str, Any]) -> dict[str, Any]:
    ret = return_body(sale, [(1, 1)], receipt_no="S001-T01-R1")
    ret["points"] = [{"member_id": "M1", "delta": -5, "reason": "return_reversal",
                      "origin_sale_id": sale["sale_id"]}]  # fmt: skip
    return ret


def test_a_return_of_a_held_sale_is_held_with_it_until_hq_decides(cloud_db: CloudDB) -> None:
    # The sale claims 50 points for ¥100 (the rules give 10): held. Its return, within what
    # the sale says it paid, would take back 50 points and ¥100 of spend the member never got.
    sale = sale_body([("RICE", 1, 10_000)], member_id="M1", earn=50)
    ret = _member_return(sale, "S001-T01-R1")
    ret["points"][0]["delta"] = -50
    out = _apply(cloud_db, [envelope(T1, 1, sale), envelope(T1, 2, ret, event_type="return")])
    assert (out.high_water, out.held) == (2, [1, 2])
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (0, 0)
    reasons = {f.seq: f.reasons for f in cloud_db.models.EventFlag.select()}
    assert reasons[2] == [f"the return names sale {sale['sale_id']} (receipt "
                          f"{sale['receipt_no']}), which is held for HQ"]  # fmt: skip
    # Held in a batch of its own, after its sale was stored held, too.
    later = _member_return(sale, "S001-T01-R2")
    later["points"][0]["delta"] = -50
    assert _one(cloud_db, T1, 3, later, "return").held == [3]
    # HQ accepts the sale, then one return: the member is back where the till left them.
    flags.accept(cloud_db, T1, 1, "hq", "checked", RULES)
    flags.accept(cloud_db, T1, 2, "hq", "checked", RULES)
    assert (_points(cloud_db, "M1"), _refunded(cloud_db)) == (0, 10_000)
    assert cloud_db.models.Member.get_by_id("M1").cumulative_spend_fen == 0


def _cash_return(sale: dict[str, Any], units: int, receipt_no: str) -> dict[str, Any]:
    return return_body(sale, [(1, units)], receipt_no=receipt_no)


def _sold_and_returned(
    cdb: CloudDB, seq: int, sale: dict[str, Any], parts: list[int]
) -> BatchOutcome:
    """T1's sale at ``seq`` and its returns of ``parts`` units of line 1 after it, one batch."""
    sale["receipt_no"] = f"S001-T01-{seq}"
    returns = [envelope(T1, seq + i, _cash_return(sale, units, f"S001-T01-R{seq + i}"),
                        event_type="return") for i, units in enumerate(parts, 1)]  # fmt: skip
    return _apply(cdb, [envelope(T1, seq, sale), *returns])


def test_one_tills_returns_of_a_sale_are_bounded_together(cloud_db: CloudDB) -> None:
    # Two RICE for ¥100 cash. The till knows its own returns, so in parts they add up to the
    # sale at most; a part beyond is held, whether it comes in the same batch or a later one.
    sale = sale_body([("RICE", 2, 10_000)], receipt_no="S001-T01-1")
    first = _sold_and_returned(cloud_db, 1, sale, [1, 1])
    assert (first.high_water, first.held) == (3, [])  # returned in two parts: in order
    again = _one(cloud_db, T1, 4, _cash_return(sale, 1, "S001-T01-R4"), "return")
    assert (again.high_water, again.held) == (4, [4])
    both = _sold_and_returned(cloud_db, 5, sale_body([("MILK", 2, 1_000)]), [2, 2])
    assert (both.high_water, both.held) == (7, [7])
    assert _refunded(cloud_db) == 10_000 + 1_000
    reasons = {f.seq: f.reasons for f in cloud_db.models.EventFlag.select()}
    assert reasons[4] == [
        "line 1: 3 returned of 2 sold, with this till's 2 earlier returns",
        "cash refunds of 15000 with this till's 2 earlier returns are more than the sale paid "
        "by cash (10000)",
    ]
    assert reasons[7][0] == "line 1: 4 returned of 2 sold, with this till's 1 earlier returns"
    # Another till, which may not know of them (its lookup's count lapsed, or it was offline),
    # is not held: its over-return is reported by units.
    elsewhere = _one(cloud_db, T2, 1, _cash_return(sale, 1, "S002-T01-R1"), "return")
    assert elsewhere.held == []
    assert _refunded(cloud_db) == 16_000
    assert [p.reason for p in cloud_db.remote.ReturnProblem.select()
            if p.terminal_id == T2] == ["over_return"]  # fmt: skip


def test_a_return_ahead_of_its_sale_in_one_batch_names_no_sale(cloud_db: CloudDB) -> None:
    # A till's sale always comes before its return: one after it in the batch is no sale to
    # it, as it would not be had it come in a later batch.
    sale = sale_body([("RICE", 1, 10_000)], receipt_no="S001-T01-2")
    out = _apply(cloud_db, [
        envelope(T1, 1, _cash_return(sale, 1, "S001-T01-R1"), event_type="return"),
        envelope(T1, 2, sale),
    ])  # fmt: skip
    assert (out.high_water, out.held) == (2, [1])
    assert _refunded(cloud_db) == 0


def test_a_forged_receipt_number_on_a_real_sale_id_names_no_sale(cloud_db: CloudDB) -> None:
    sale = sale_body([("RICE", 1, 10_000)], receipt_no="S001-T01-1")
    assert _one(cloud_db, T1, 1, sale, "sale").held == []
    forged = {**_cash_return(sale, 1, "S002-T01-R1"), "original_receipt_no": "S002-T01-9"}
    assert _one(cloud_db, T2, 1, forged, "return").held == [1]
    assert _refunded(cloud_db) == 0


def test_points_of_a_merged_member_go_back_to_the_survivor(cloud_db: CloudDB) -> None:
    # The sale was M1's; M1 was merged into M2 since, and the till returning it names M2 (or
    # a till that has not heard of the merge names M1): the same member either way.
    sale = sale_body([("RICE", 1, 10_000)], member_id="M1", receipt_no="S001-T01-1")
    assert _one(cloud_db, T1, 1, sale, "sale").held == []
    cloud_db.jobs.MemberAlias.insert(old_id="M1", new_id="M2", merged_at=dt.datetime(2026, 11, 1),
                                     merged_by="hq").execute()  # fmt: skip
    survivor = _member_return(sale, "S002-T01-R1")
    survivor["member_id"] = "M2"
    survivor["points"][0]["member_id"] = "M2"
    assert _one(cloud_db, T2, 1, survivor, "return").held == []
    stranger = _member_return(sale, "S002-T01-R2")
    stranger["member_id"] = "M3"
    stranger["points"][0]["member_id"] = "M3"
    assert _one(cloud_db, T2, 2, stranger, "return").held == [2]


def test_a_return_waiting_on_seqs_that_never_come_is_judged_once_they_are_named_lost(
    cloud_db: CloudDB,
) -> None:
    # The till's store file lost seqs 2-3 (a restore, past its resend window) and says so at
    # seq 5; its return at 4 names a sale that was in them. The return waits while 2-3 are
    # missing; once they are recorded lost, the till's resend of it is held: nothing waits
    # for ever and the ACK passes it.
    lost_sale = sale_body([("RICE", 1, 10_000)], receipt_no="S001-T01-2")
    named_lost = {"from_seq": 2, "to_seq": 3, "cloud_high_water": 1, "acked_seq": 3,
                  "resend_window_days": 7, "device_time": "2026-11-23T06:30:00Z"}  # fmt: skip
    resent = [envelope(T1, 4, _cash_return(lost_sale, 1, "S001-T01-R4"), event_type="return"),
              envelope(T1, 5, named_lost, event_type="seqs_lost")]  # fmt: skip
    assert _one(cloud_db, T1, 1, sale_body([("MILK", 1, 500)]), "sale").high_water == 1
    first = _apply(cloud_db, resent)
    assert (first.high_water, first.deferred, first.held) == (3, [4], [])
    again = _apply(cloud_db, resent)
    assert (again.high_water, again.held) == (5, [4])
    assert _refunded(cloud_db) == 0
