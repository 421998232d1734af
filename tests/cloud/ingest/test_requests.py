"""Terminals' requests answered by a real ingest worker over a real broker, SQLite and PostgreSQL.

Terminals here are plain paho clients with the terminals' own credentials, so what is tested
is the wire contract: a request on the terminal's own topic, the answer on its own reply
topic, and the coupon and receipt figures the cloud keeps from the events tills send.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.ingest.requests import RequestSettings
from cloud.ingest.worker import IngestWorker
from cloud.store import coupons as coupon_store
from cloud.store import receipts
from protocol import remote
from protocol.codec import decode_ack, decode_down
from protocol.topics import ack_topic, events_topic, reply_topic, request_topic, store_down_filter
from tests.broker import Broker, MqttClient
from tests.cloud.api.browser import wait_for
from tests.cloud.factories import batch_payload, envelope, sale_body
from tests.cloud.ingest.conftest import ingest_settings
from tests.cloud.remote_factories import NOW, coupon_sale, request, return_body


class Clock:
    """The workers' clock: fixed, moved on by the test."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _start(broker: Broker, db_url: str, clock: Clock, name: str, **kw: Any) -> IngestWorker:
    worker = IngestWorker(
        db_url, ingest_settings(broker, name), client_id=f"{name}-req", clock=clock, **kw
    )
    worker.start()
    return worker


@pytest.fixture
def desk(broker: Broker, db_url: str, clock: Clock) -> Iterator[IngestWorker]:
    worker = _start(broker, db_url, clock, "ingest", requests=RequestSettings(claim_s=60))
    try:
        yield worker
    finally:
        worker.stop()


def _till(broker: Broker, terminal_id: str) -> MqttClient:
    client = broker.client(terminal_id, client_id=terminal_id)
    store = terminal_id.split("-")[0]
    for flt in (reply_topic(store, terminal_id), ack_topic(store, terminal_id)):
        assert not client.subscribe(flt).is_failure
    return client


def _ask(client: MqttClient, terminal_id: str, kind: str, **fields: Any) -> remote.Reply:
    rid, payload = request(kind, terminal_id, **fields)
    store = terminal_id.split("-")[0]
    client.publish(request_topic(store, terminal_id), payload)
    [got] = client.wait_for(
        lambda m: m.topic.endswith("/reply") and json.loads(m.payload).get("id") == rid
    )
    return remote.decode_reply(got.payload)


def _sell(
    client: MqttClient, terminal_id: str, seq: int, body: dict[str, Any], kind: str = "sale"
) -> None:
    store = terminal_id.split("-")[0]
    before = sum(1 for m in client.messages if m.topic.endswith("/ack"))
    env = envelope(terminal_id, seq, body, event_type=kind)
    client.publish(events_topic(store, terminal_id), batch_payload([env]))
    acks = client.wait_for(lambda m: m.topic.endswith("/ack"), count=before + 1)
    assert decode_ack(acks[-1].payload).acked_seq >= seq


def _issue(worker: IngestWorker, **coupon: Any) -> None:
    cdb = worker.db
    with cdb.write():
        coupon_store.issue(cdb, [coupon], "hq:test", NOW.replace(tzinfo=None))


def _check(client: MqttClient, terminal_id: str, code: str, total: int, **kw: Any) -> remote.Reply:
    return _ask(client, terminal_id, "coupon_check", code=code, total_fen=total, **kw)


def test_a_single_use_coupon_is_confirmed_to_one_till_only_and_counted_once(
    broker: Broker, desk: IngestWorker
) -> None:
    _issue(desk, code="BDAY20", kind="amount", value=2000, min_spend_fen=10_000)
    t1, t2 = _till(broker, "S001-T01"), _till(broker, "S002-T01")
    watcher = broker.client("S001-T02")
    watcher.subscribe(store_down_filter("all"))

    granted = _check(t1, "S001-T01", "BDAY20", 10_000)  # the minimum spend exactly
    assert isinstance(granted, remote.CouponGranted)
    assert (granted.amount_fen, granted.uses_left) == (2000, 0)
    # Held for S001-T01: another store's till asking at the same moment is told it is used.
    other = _check(t2, "S002-T01", "BDAY20", 50_000)
    assert isinstance(other, remote.Refused) and other.reason == "coupon_used_up"

    _sell(t1, "S001-T01", 1, coupon_sale([("RICE", 1, 10_000)], [("BDAY20", 2000)], confirmed=True))
    use = desk.db.remote.CouponUse.get()
    assert (use.code, use.terminal_id, use.amount_fen, use.confirmed, use.problem) == (
        "BDAY20",
        "S001-T01",
        2000,
        True,
        "",
    )
    assert desk.db.remote.CouponHold.select().count() == 0  # the sale took the hold
    # Every till hears that the coupon is used (the count travels with the coupon).
    pushed = watcher.wait_for(
        lambda m: m.topic.endswith("/coupons") and decode_down(m.payload).items[0].get("uses") == 1
    )
    assert decode_down(pushed[-1].payload).items[0]["code"] == "BDAY20"
    again = _check(t2, "S002-T01", "BDAY20", 50_000)
    assert isinstance(again, remote.Refused) and again.reason == "coupon_used_up"


def test_a_released_hold_lets_another_till_use_the_coupon(
    broker: Broker, desk: IngestWorker
) -> None:
    _issue(desk, code="ONE", kind="percent", value=1500, stores=["S001"])
    t1, t2 = _till(broker, "S001-T01"), _till(broker, "S001-T02")
    assert isinstance(_check(t1, "S001-T01", "ONE", 8050), remote.CouponGranted)
    refused = _check(t2, "S001-T02", "ONE", 8050)
    assert isinstance(refused, remote.Refused) and refused.reason == "coupon_used_up"
    assert isinstance(_ask(t1, "S001-T01", "coupon_release", code="ONE"), remote.Released)
    granted = _check(t2, "S001-T02", "ONE", 8050)
    assert isinstance(granted, remote.CouponGranted)
    assert granted.amount_fen == 1208  # 15 % of 80.50 = 12.075, half away from zero


@pytest.mark.parametrize(
    ("coupon", "terminal_id", "ask", "reason", "params"),
    [
        ({"valid_until": "2026-11-22"}, "S001-T01", {}, "coupon_expired", {"date": "2026-11-22"}),
        ({"valid_from": "2026-11-24"}, "S001-T01", {}, "coupon_not_yet", {"date": "2026-11-24"}),
        ({"stores": ["S001"]}, "S002-T01", {}, "coupon_other_store", {}),
        ({"min_spend_fen": 10_001}, "S001-T01", {}, "coupon_min_spend", {"amount_fen": "10001"}),
        ({"member_id": "M1"}, "S001-T01", {}, "coupon_needs_member", {}),
        ({"member_id": "M1"}, "S001-T01", {"member_id": "M2"}, "coupon_other_member", {}),
        ({"revoked": True}, "S001-T01", {}, "coupon_revoked", {}),
        ({"kind": "gift", "value": 0}, "S001-T01", {}, "coupon_not_tender", {}),
    ],
)
def test_refusals_name_the_reason(
    broker: Broker,
    desk: IngestWorker,
    coupon: dict[str, Any],
    terminal_id: str,
    ask: dict[str, Any],
    reason: str,
    params: dict[str, str],
) -> None:
    _issue(desk, **{"code": "C1", "kind": "amount", "value": 500, **coupon})
    client = _till(broker, terminal_id)
    got = _check(client, terminal_id, "C1", 10_000, **ask)
    assert isinstance(got, remote.Refused) and got.reason == reason
    assert got.params == {"code": "C1", **params}
    assert desk.db.remote.CouponHold.select().count() == 0  # nothing held for a refusal
    unknown = _check(client, terminal_id, "NOPE", 10_000)
    assert isinstance(unknown, remote.Refused) and unknown.reason == "coupon_unknown"


def test_a_double_use_taken_offline_is_kept_and_reported(
    broker: Broker, desk: IngestWorker
) -> None:
    _issue(desk, code="TWICE", kind="amount", value=1000, max_uses=1)
    t1, t2 = _till(broker, "S001-T01"), _till(broker, "S002-T01")
    # Neither till could ask HQ: both took it offline.
    _sell(t1, "S001-T01", 1, coupon_sale([("A", 1, 5000)], [("TWICE", 1000)]))
    _sell(
        t2,
        "S002-T01",
        1,
        coupon_sale([("B", 1, 3000)], [("TWICE", 1000)], receipt_no="S002-T01-20261123-0001"),
    )
    found = coupon_store.problems(desk.db, None)
    assert [(p["terminal_id"], p["problems"], p["confirmed"]) for p in found] == [
        ("S002-T01", ["over_limit"], False)
    ]
    assert desk.db.remote.Coupon.get().uses == 2  # both uses are counted: nothing is hidden


def test_a_coupon_paying_beyond_its_worth_or_twice_on_one_sale_is_counted_and_reported(
    broker: Broker, desk: IngestWorker
) -> None:
    # A rogue or broken till: each sale adds up, but its coupon tender does not.
    _issue(desk, code="FIVE", kind="amount", value=500, max_uses=3, min_spend_fen=2000)
    _issue(desk, code="PCT", kind="percent", value=1000, max_uses=2)  # 10 % of the sale
    t1 = _till(broker, "S001-T01")
    _sell(t1, "S001-T01", 1, coupon_sale([("TV", 1, 50_000)], [("FIVE", 50_000)]))
    _sell(t1, "S001-T01", 2, coupon_sale([("A", 1, 1000)], [("FIVE", 500)],
                                         receipt_no="S001-T01-20261123-0002"))  # fmt: skip
    _sell(t1, "S001-T01", 3, coupon_sale([("B", 1, 9000)], [("FIVE", 500), ("FIVE", 500)],
                                         receipt_no="S001-T01-20261123-0003"))  # fmt: skip
    _sell(t1, "S001-T01", 4, coupon_sale([("C", 1, 10_000)], [("PCT", 1001)],
                                         receipt_no="S001-T01-20261123-0004"))  # fmt: skip
    _sell(t1, "S001-T01", 5, coupon_sale([("D", 1, 10_000)], [("PCT", 1000)],
                                         receipt_no="S001-T01-20261123-0005"))  # fmt: skip
    found = {p["seq"]: (p["code"], p["problems"], p["amount_fen"])
             for p in coupon_store.problems(desk.db, None)}  # fmt: skip
    assert found == {
        1: ("FIVE", ["over_value"], 50_000),
        2: ("FIVE", ["min_spend"], 500),
        3: ("FIVE", ["over_limit", "repeated"], 1000),  # its 3rd and 4th uses, on one sale
        4: ("PCT", ["over_value"], 1001),
    }
    uses = {c.code: c.uses for c in desk.db.remote.Coupon.select()}
    assert uses == {"FIVE": 4, "PCT": 2}  # every tender is a use: nothing is hidden


def test_any_till_looks_up_any_receipt_with_what_was_returned(
    broker: Broker, desk: IngestWorker
) -> None:
    seller, other = _till(broker, "S001-T01"), _till(broker, "S002-T01")
    sale = sale_body([("RICE", 2, 11_980), ("MILK", 1, 1250)])
    _sell(seller, "S001-T01", 1, sale)
    _sell(seller, "S001-T01", 2, return_body(sale, [(1, 1)], receipt_no="S001-T01-R1"), "return")
    found = _ask(other, "S002-T01", "receipt_lookup", receipt_no="S001-T01-20261123-0001")
    assert isinstance(found, remote.ReceiptFound)
    assert (found.sale_store_id, found.sale_terminal_id) == ("S001", "S001-T01")
    assert found.sale.sale_id == sale["sale_id"] and found.sale.total_fen == 13_230
    assert [(r.line_no, r.units) for r in found.returned] == [(1, 1)]
    unknown = _ask(other, "S002-T01", "receipt_lookup", receipt_no="S001-T01-20261123-9999")
    assert isinstance(unknown, remote.Refused) and unknown.reason == "receipt_unknown"
    assert unknown.params == {"receipt": "S001-T01-20261123-9999"}


def _claim(
    client: MqttClient, terminal_id: str, sale: dict[str, Any], lines: list[Any], return_id: str
) -> remote.Reply:
    return _ask(
        client,
        terminal_id,
        "return_claim",
        return_id=return_id,
        original_sale_id=sale["sale_id"],
        receipt_no=sale["receipt_no"],
        lines=[{"line_no": n, "units": u} for n, u in lines],
    )


def test_a_claim_reserves_units_until_its_return_arrives_and_counts_once(
    broker: Broker, desk: IngestWorker, clock: Clock
) -> None:
    seller, t2, t3 = _till(broker, "S001-T01"), _till(broker, "S002-T01"), _till(broker, "S001-T02")
    sale = sale_body([("RICE", 2, 11_980)])
    _sell(seller, "S001-T01", 1, sale)
    ret = return_body(sale, [(1, 1)], receipt_no="S002-T01-R1")
    assert isinstance(_claim(t2, "S002-T01", sale, [(1, 1)], ret["return_id"]), remote.ClaimGranted)
    over = _claim(t3, "S001-T02", sale, [(1, 2)], "6f1c2a44-3b1e-4f7a-9a51-0c2d4e6f8a10")
    assert isinstance(over, remote.Refused) and over.reason == "return_over"
    assert over.params == {"line": "1", "left": "1"}
    _sell(t2, "S002-T01", 1, ret, "return")
    # Recorded: the claim became the return; one unit gone, not two.
    assert receipts.returned(desk.db, sale["sale_id"], NOW.replace(tzinfo=None)) == {1: 1}
    clock.now = NOW + dt.timedelta(hours=2)  # long after any claim would have lapsed
    found = _ask(t3, "S001-T02", "receipt_lookup", receipt_no=sale["receipt_no"])
    assert isinstance(found, remote.ReceiptFound)
    assert [(r.line_no, r.units) for r in found.returned] == [(1, 1)]


def test_a_claim_lapses_or_is_released_when_its_return_never_comes(
    broker: Broker, desk: IngestWorker, clock: Clock
) -> None:
    seller, t2, t3 = _till(broker, "S001-T01"), _till(broker, "S002-T01"), _till(broker, "S001-T02")
    sale = sale_body([("RICE", 1, 5990)])
    _sell(seller, "S001-T01", 1, sale)
    first = "11111111-1111-4111-8111-111111111111"
    second = "22222222-2222-4222-8222-222222222222"
    assert isinstance(_claim(t2, "S002-T01", sale, [(1, 1)], first), remote.ClaimGranted)
    assert isinstance(_claim(t3, "S001-T02", sale, [(1, 1)], second), remote.Refused)
    clock.now = NOW + dt.timedelta(seconds=61)  # the claim lapsed (claim_s=60)
    assert isinstance(_claim(t3, "S001-T02", sale, [(1, 1)], second), remote.ClaimGranted)
    # S002-T01 cannot free S001-T02's claim by naming its return; S001-T02 can.
    _ask(t2, "S002-T01", "return_release", return_id=second)
    assert isinstance(_claim(t2, "S002-T01", sale, [(1, 1)], first), remote.Refused)
    assert isinstance(_ask(t3, "S001-T02", "return_release", return_id=second), remote.Released)
    assert isinstance(_claim(t2, "S002-T01", sale, [(1, 1)], first), remote.ClaimGranted)


def test_two_tills_claiming_the_last_unit_at_once_get_one_yes(
    broker: Broker, db_url: str, clock: Clock
) -> None:
    workers = [_start(broker, db_url, clock, name) for name in ("ingest", "ingest-2")]
    try:
        seller = _till(broker, "S001-T01")
        sale = sale_body([("TV", 1, 300_000)])
        _sell(seller, "S001-T01", 1, sale)
        tills = {"S002-T01": _till(broker, "S002-T01"), "S001-T02": _till(broker, "S001-T02")}
        answers: dict[str, remote.Reply] = {}
        go = threading.Barrier(len(tills))

        def claim(terminal_id: str, return_id: str) -> None:
            go.wait()
            answers[terminal_id] = _claim(
                tills[terminal_id], terminal_id, sale, [(1, 1)], return_id
            )

        returns = {
            "S002-T01": "33333333-3333-4333-8333-333333333333",
            "S001-T02": "44444444-4444-4444-8444-444444444444",
        }
        threads = [threading.Thread(target=claim, args=item) for item in returns.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        kinds = sorted(type(a).__name__ for a in answers.values())
        assert kinds == ["ClaimGranted", "Refused"], answers
    finally:
        for worker in workers:
            worker.stop()


def test_returns_taken_offline_beyond_the_sale_are_reported(
    broker: Broker, desk: IngestWorker
) -> None:
    seller, other = _till(broker, "S001-T01"), _till(broker, "S002-T01")
    sale = sale_body([("RICE", 1, 5990)])
    _sell(seller, "S001-T01", 1, sale)
    _sell(seller, "S001-T01", 2, return_body(sale, [(1, 1)], receipt_no="R-A"), "return")
    _sell(other, "S002-T01", 1, return_body(sale, [(1, 1)], receipt_no="R-B"), "return")
    [problem] = receipts.over_returns(desk.db)
    seen = (
        problem["terminal_id"],
        problem["line_no"],
        problem["sold_units"],
        problem["returned_units"],
        problem["reason"],
    )
    assert seen == ("S002-T01", 1, 1, 2, "over_return")


def test_a_request_in_another_terminals_name_is_kept_aside_and_answered_to_the_sender(
    broker: Broker, desk: IngestWorker
) -> None:
    victim, forger = _till(broker, "S001-T01"), _till(broker, "S001-T02")
    rid, payload = request("receipt_lookup", "S001-T01", receipt_no="S001-T01-20261123-0001")
    forger.publish(request_topic("S001", "S001-T02"), payload)  # its own topic, victim's ids
    [got] = forger.wait_for(lambda m: m.topic.endswith("/reply"))
    reply = remote.decode_reply(got.payload)
    assert isinstance(reply, remote.Refused) and reply.reason == "bad_request"
    assert "claims S001/S001-T01" in reply.detail and reply.id == rid
    forger.publish(request_topic("S001", "S001-T02"), b"\xff not json")
    dead = desk.db.models.DeadLetter
    _wait(lambda: dead.select().count() == 2)
    assert [d.terminal_id for d in dead.select().order_by(dead.id)] == ["S001-T02", "S001-T02"]
    assert [m for m in victim.messages if m.topic.endswith("/reply")] == []


def _wait(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_held_sale_cannot_be_returned_until_hq_decides(
    broker: Broker, desk: IngestWorker
) -> None:
    seller, other = _till(broker, "S001-T01"), _till(broker, "S002-T01")
    forged = {**sale_body([("RICE", 1, 5990)]), "total_fen": 1}  # does not add up: held
    _sell(seller, "S001-T01", 1, forged)
    found = _ask(other, "S002-T01", "receipt_lookup", receipt_no=forged["receipt_no"])
    assert isinstance(found, remote.Refused) and found.reason == "receipt_held"


def _publish(client: MqttClient, terminal_id: str, envs: list[Any]) -> Any:
    """Publish one events message; the ACK that answers it."""
    store = terminal_id.split("-")[0]
    before = sum(1 for m in client.messages if m.topic.endswith("/ack"))
    client.publish(events_topic(store, terminal_id), batch_payload(envs))
    acks = client.wait_for(lambda m: m.topic.endswith("/ack"), count=before + 1)
    return decode_ack(acks[-1].payload)


def test_a_forged_return_is_held_and_one_ahead_of_its_sale_waits_for_it(
    broker: Broker, db_url: str, clock: Clock
) -> None:
    # Prepared in the worker's child process (lean batches, rebuilt when a return is held).
    worker = _start(broker, db_url, clock, "ingest", prepare_process=True, prepare_here_bytes=0)
    try:
        t1, t2 = _till(broker, "S001-T01"), _till(broker, "S002-T01")
        sale = sale_body([("RICE", 2, 10_000)], member_id="M1")  # ¥100, 10 points
        _sell(t1, "S001-T01", 1, sale)
        forged = return_body(sale, [(1, 1)], receipt_no="S002-T01-R1")
        forged["lines"][0]["refund_fen"] = forged["refund_fen"] = 1_000_000
        forged["refunds"][0]["amount_fen"] = 1_000_000
        forged["points"] = [{"member_id": "M1", "delta": 1_000_000, "reason": "return_refund",
                             "origin_sale_id": sale["sale_id"]}]  # fmt: skip
        ack = _publish(t2, "S002-T01", [envelope("S002-T01", 1, forged, event_type="return")])
        assert ack.acked_seq == 1  # stored and acknowledged: the till's later sales flow
        m = worker.db.models
        assert [(f.terminal_id, f.seq) for f in m.EventFlag.select()] == [("S002-T01", 1)]
        ledger = m.PointsLedger
        assert sum(r.delta for r in ledger.select()) == 10  # the sale's points, nothing more

        # T1's next two messages taken in the other order (two workers, say).
        later = sale_body([("MILK", 1, 2000)], member_id="M1",
                          receipt_no="S001-T01-20261123-0002")  # fmt: skip
        own = return_body(later, [(1, 1)], receipt_no="S001-T01-R1")
        own["points"] = [{"member_id": "M1", "delta": -2, "reason": "return_reversal",
                          "origin_sale_id": later["sale_id"]}]  # fmt: skip
        ret = envelope("S001-T01", 3, own, event_type="return")
        assert _publish(t1, "S001-T01", [ret]).acked_seq == 1  # not stored: its sale is not here
        assert _publish(t1, "S001-T01", [envelope("S001-T01", 2, later)]).acked_seq == 2
        assert _publish(t1, "S001-T01", [ret]).acked_seq == 3  # the till's resend
        statuses = {(e.terminal_id, e.seq): e.status for e in m.Event.select()}
        assert statuses == {("S001-T01", 1): "ok", ("S001-T01", 2): "ok",
                            ("S001-T01", 3): "ok", ("S002-T01", 1): "held"}  # fmt: skip
        assert sum(r.delta for r in ledger.select()) == 10
    finally:
        worker.stop()


def test_a_receipt_number_a_restored_till_printed_again_is_never_taken_for_the_other_sale(
    broker: Broker, desk: IngestWorker
) -> None:
    # A till restored from last night's backup counts today's receipts from 0001 again: its
    # new sale (carried by the technician's repair) has a number the cloud already holds.
    seller, other = _till(broker, "S001-T01"), _till(broker, "S002-T01")
    first = sale_body([("TV", 1, 300_000)])
    again = sale_body([("MILK", 1, 500)])  # the same receipt number, another sale
    _sell(seller, "S001-T01", 1, first)
    _sell(seller, "S001-T01", 2, again)
    [reused] = receipts.over_returns(desk.db)  # for HQ to follow up
    assert (reused["reason"], reused["seq"], reused["sale_id"]) == (
        "receipt_reused", 2, again["sale_id"],
    )  # fmt: skip
    # Another till cannot tell the two apart from the number: it is told so, not given one.
    found = _ask(other, "S002-T01", "receipt_lookup", receipt_no=first["receipt_no"])
    assert isinstance(found, remote.Refused) and found.reason == "receipt_ambiguous"
    assert found.params == {"receipt": first["receipt_no"]}
    # The till that sold it (its journal knows the sale) claims it by its sale id.
    ret = return_body(again, [(1, 1)], receipt_no="S001-T01-R1")
    assert isinstance(_claim(seller, "S001-T01", again, [(1, 1)], ret["return_id"]),
                      remote.ClaimGranted)  # fmt: skip
    over = _claim(seller, "S001-T01", again, [(1, 2)], "6f1c2a44-3b1e-4f7a-9a51-0c2d4e6f8a10")
    assert isinstance(over, remote.Refused) and over.reason == "return_over"
    _sell(seller, "S001-T01", 3, ret, "return")
    _sell(seller, "S001-T01", 4, {**ret, "return_id": str(uuid.uuid4()), "receipt_no": "R2"},
          "return")  # fmt: skip
    problem, _ = receipts.over_returns(desk.db)  # newest first
    assert (problem["reason"], problem["sale_id"], problem["returned_units"]) == (
        "over_return", again["sale_id"], 2,
    )  # fmt: skip


def test_a_retained_request_is_answered_once_not_again_after_an_ingest_restart(
    broker: Broker, db_url: str, clock: Clock
) -> None:
    """A till's identity can set the retain flag (the ACL cannot forbid it); the broker then
    replays the request to every new subscription, a restarted worker's shared one too."""
    worker = _start(broker, db_url, clock, "ingest")
    try:
        _issue(worker, code="ONCE", kind="amount", value=1000, min_spend_fen=0)
        rid, payload = request("coupon_check", "S001-T01", code="ONCE", total_fen=5000)
        # Mosquitto's own client, as the till (one connection per identity: before the till's).
        broker.mosquitto_pub("S001-T01", request_topic("S001", "S001-T01"), payload, retain=True)
        holds = worker.db.remote.CouponHold
        wait_for(lambda: holds.select().where(holds.request_id == rid).exists(),
                 "the live request's hold")  # fmt: skip
        till = _till(broker, "S001-T01")
        released = _ask(till, "S001-T01", "coupon_release", code="ONCE")
        assert isinstance(released, remote.Released)
        assert holds.select().count() == 0
        worker.stop()
        worker = _start(broker, db_url, clock, "ingest")  # same client id: its session
        # What the worker was sent at subscribing comes before a question asked after it.
        marker = _ask(till, "S001-T01", "receipt_lookup", receipt_no="S001-T01-20261123-0009")
        assert isinstance(marker, remote.Refused) and marker.reason == "receipt_unknown"
        assert worker.db.remote.CouponHold.select().count() == 0  # not held again
        assert [m for m in till.messages if json.loads(m.payload).get("id") == rid] == []
    finally:
        worker.stop()


def test_a_retained_events_message_is_acknowledged_once_not_again_after_an_ingest_restart(
    broker: Broker, db_url: str, clock: Clock
) -> None:
    worker = _start(broker, db_url, clock, "ingest")
    try:
        first = batch_payload([envelope("S001-T01", 1, sale_body([("RICE", 1, 990)]))])
        broker.mosquitto_pub("S001-T01", events_topic("S001", "S001-T01"), first, retain=True)
        events = worker.db.models.Event
        wait_for(lambda: events.select().count() == 1, "the live batch stored")
        till = _till(broker, "S001-T01")
        worker.stop()
        worker = _start(broker, db_url, clock, "ingest")
        later = sale_body([("MILK", 1, 500)], receipt_no="S001-T01-20261123-0002")
        assert _publish(till, "S001-T01", [envelope("S001-T01", 2, later)]).acked_seq == 2
        acks = [decode_ack(m.payload).acked_seq for m in till.messages
                if m.topic.endswith("/ack")]  # fmt: skip
        assert acks == [2]  # the retained batch was not acknowledged again
        assert worker.db.models.Event.select().count() == 2
    finally:
        worker.stop()
