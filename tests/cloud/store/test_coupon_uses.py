"""Coupon uses counted from the sales ingest stores: who made the double use, the thresholds,
a code the cloud never issued. Each test runs on SQLite and PostgreSQL (``cloud_db``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cloud.domain.coupons import UseRequest
from cloud.store import coupons
from cloud.store.apply import IngestRules, PreparedBatch, commit_group, prepare_batch
from cloud.store.db import CloudDB, open_cloud_db
from protocol.envelope import Envelope
from protocol.topics import events_topic
from tests.cloud.factories import decoded_events, envelope
from tests.cloud.remote_factories import NOW, coupon_sale

RULES = IngestRules()
T1, T2, T3 = "S001-T01", "S002-T01", "S002-T02"


def _prepared(envs: list[Envelope], now: dt.datetime = NOW) -> PreparedBatch:
    first = envs[0]
    return prepare_batch(store_id=first.store_id, terminal_id=first.terminal_id,
                         events=decoded_events(envs), rules=RULES, now_aware=now, clocks={},
                         topic=events_topic(first.store_id, first.terminal_id))  # fmt: skip


def _sell(cdb: CloudDB, *sales: tuple[str, int, dict[str, Any]]) -> None:
    """Store each (terminal, seq, body) sale, all in one group commit."""
    commit_group(cdb, [_prepared([envelope(t, seq, body)]) for t, seq, body in sales], RULES)


def _issue(cdb: CloudDB, **fields: Any) -> None:
    with cdb.write():
        coupons.issue(cdb, [fields], "hq:tests", NOW.replace(tzinfo=None))


def _problems(cdb: CloudDB) -> dict[tuple[str, int], tuple[list[str], bool]]:
    return {(u["terminal_id"], u["seq"]): (u["problems"], u["confirmed"])
            for u in coupons.uses_of(cdb, "ONCE")}  # fmt: skip


def test_the_double_use_is_the_offline_one_not_the_one_hq_confirmed(cloud_db: CloudDB) -> None:
    _issue(cloud_db, code="ONCE", kind="amount", value=500, max_uses=1)
    # T1 asks HQ and is granted the one use; T2, offline, takes it too, and its sale reaches
    # the cloud first.
    use = UseRequest("S001", None, 5000, 0, NOW.date())
    with cloud_db.write():
        verdict, _ = coupons.check_and_hold(cloud_db, code="ONCE", terminal_id=T1,
                                            store_id="S001", request_id="r1", use=use,
                                            now=NOW.replace(tzinfo=None))  # fmt: skip
    assert verdict.granted
    offline = coupon_sale([("B", 1, 3000)], [("ONCE", 500)], receipt_no="S002-T01-1")
    _sell(cloud_db, (T2, 1, offline))
    confirmed = coupon_sale([("A", 1, 5000)], [("ONCE", 500)], receipt_no="S001-T01-1",
                            confirmed=True)  # fmt: skip
    _sell(cloud_db, (T1, 1, confirmed))
    assert _problems(cloud_db) == {(T2, 1): (["over_limit"], False), (T1, 1): ([], True)}
    assert cloud_db.remote.Coupon.get().uses == 2  # both counted: nothing is hidden


def test_two_tills_offline_in_one_group_one_use_is_the_double_one(cloud_db: CloudDB) -> None:
    _issue(cloud_db, code="ONCE", kind="amount", value=500, max_uses=1)
    _sell(cloud_db, (T2, 1, coupon_sale([("B", 1, 3000)], [("ONCE", 500)], receipt_no="S002-1")),
          (T1, 1, coupon_sale([("A", 1, 3000)], [("ONCE", 500)], receipt_no="S001-1")))  # fmt: skip
    # The group applies its terminals in id order: T1's use first.
    assert _problems(cloud_db) == {(T1, 1): ([], False), (T2, 1): (["over_limit"], False)}
    assert cloud_db.remote.Coupon.get().uses == 2


def test_exactly_the_value_and_exactly_the_minimum_spend_are_in_order(cloud_db: CloudDB) -> None:
    _issue(cloud_db, code="ONCE", kind="amount", value=500, max_uses=4, min_spend_fen=2000)
    _sell(
        cloud_db,
        (T1, 1, coupon_sale([("A", 1, 2000)], [("ONCE", 500)], receipt_no="S001-1")),
        (T1, 2, coupon_sale([("A", 1, 2000)], [("ONCE", 501)], receipt_no="S001-2")),
        (T1, 3, coupon_sale([("A", 1, 1999)], [("ONCE", 500)], receipt_no="S001-3")),
    )
    assert _problems(cloud_db) == {(T1, 1): ([], False), (T1, 2): (["over_value"], False),
                                   (T1, 3): (["min_spend"], False)}  # fmt: skip


def test_a_code_the_cloud_never_issued_is_kept_and_reported(cloud_db: CloudDB) -> None:
    _sell(cloud_db, (T1, 1, coupon_sale([("A", 1, 3000)], [("NOPE", 500)], receipt_no="S001-1")))
    [use] = coupons.problems(cloud_db, None)
    assert (use["code"], use["problems"], use["amount_fen"]) == ("NOPE", ["unknown_coupon"], 500)
    assert cloud_db.remote.Coupon.select().count() == 0  # no coupon is made up for it
    assert cloud_db.models.Event.get().status == "ok"  # the sale itself counts


def test_a_use_confirmed_after_the_limit_was_lowered_is_still_over_it(cloud_db: CloudDB) -> None:
    # HQ confirmed two uses, then lowered the limit to one: the second confirmed use is over.
    _issue(cloud_db, code="ONCE", kind="amount", value=500, max_uses=2)
    use = UseRequest("S001", None, 5000, 0, NOW.date())
    for terminal in (T1, T2):
        with cloud_db.write():
            verdict, _ = coupons.check_and_hold(cloud_db, code="ONCE", terminal_id=terminal,
                                                store_id="S001", request_id="r1", use=use,
                                                now=NOW.replace(tzinfo=None))  # fmt: skip
        assert verdict.granted
    _issue_again = {"code": "ONCE", "kind": "amount", "value": 500, "max_uses": 1}
    with cloud_db.write():
        coupons.issue(cloud_db, [_issue_again], "hq:tests", NOW.replace(tzinfo=None),
                      replace=True)  # fmt: skip
    for terminal in (T1, T2):
        body = coupon_sale([("A", 1, 5000)], [("ONCE", 500)], receipt_no=f"{terminal}-1",
                           confirmed=True)  # fmt: skip
        _sell(cloud_db, (terminal, 1, body))
    assert _problems(cloud_db) == {(T1, 1): ([], True), (T2, 1): (["over_limit"], True)}


def test_a_confirmed_use_whose_hold_lapsed_is_over_the_limit_when_it_comes_after(
    cloud_db: CloudDB,
) -> None:
    # T1's sale comes hours later (offline after asking): its hold lapsed, so the cloud gave
    # the use to the next till, T2's offline use. T1's, coming after it, is the double use:
    # one of the two is always named.
    _issue(cloud_db, code="ONCE", kind="amount", value=500, max_uses=1)
    use = UseRequest("S001", None, 5000, 0, NOW.date())
    long_ago = NOW.replace(tzinfo=None) - dt.timedelta(hours=5)
    with cloud_db.write():
        coupons.check_and_hold(cloud_db, code="ONCE", terminal_id=T1, store_id="S001",
                               request_id="r1", use=use, now=long_ago)  # fmt: skip
    _sell(cloud_db, (T2, 1, coupon_sale([("B", 1, 3000)], [("ONCE", 500)], receipt_no="S002-1")))
    _sell(cloud_db, (T1, 1, coupon_sale([("A", 1, 5000)], [("ONCE", 500)], receipt_no="S001-1",
                                        confirmed=True)))  # fmt: skip
    assert _problems(cloud_db) == {(T2, 1): ([], False), (T1, 1): (["over_limit"], True)}


def test_a_till_granted_the_use_a_lapsed_hold_gave_back_is_in_order(cloud_db: CloudDB) -> None:
    # T1 was granted the one use but did not sell within the hold; T2 asked after that and
    # was granted it. T1's late sale is the double use, T2's is not.
    _issue(cloud_db, code="ONCE", kind="amount", value=500, max_uses=1)
    use = UseRequest("S001", None, 5000, 0, NOW.date())
    for terminal, at in ((T1, NOW - dt.timedelta(hours=5)), (T2, NOW)):
        with cloud_db.write():
            verdict, _ = coupons.check_and_hold(cloud_db, code="ONCE", terminal_id=terminal,
                                                store_id="S001", request_id="r1", use=use,
                                                now=at.replace(tzinfo=None))  # fmt: skip
        assert verdict.granted, terminal
    for terminal in (T1, T2):
        body = coupon_sale([("A", 1, 5000)], [("ONCE", 500)], receipt_no=f"{terminal}-1",
                           confirmed=True)  # fmt: skip
        _sell(cloud_db, (terminal, 1, body))
    assert _problems(cloud_db) == {(T1, 1): (["over_limit"], True), (T2, 1): ([], True)}


ACTIONS = st.lists(
    st.tuples(st.sampled_from(["ask", "sell", "wait"]), st.sampled_from([T1, T2, T3])),
    min_size=1,
    max_size=12,
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(limit=1, actions=[("ask", T1), ("sell", T2), ("sell", T1)], waits=[])
@example(limit=1, actions=[("ask", T1), ("wait", T1), ("ask", T2), ("sell", T1), ("sell", T2)],
         waits=[20])  # fmt: skip
@given(limit=st.integers(1, 2), actions=ACTIONS, waits=st.lists(st.sampled_from([1, 20])))
def test_every_use_beyond_the_limit_is_named_and_never_one_hq_confirmed_in_time(
    limit: int, actions: list[tuple[str, str]], waits: list[int]
) -> None:
    # Three tills ask HQ (a use held for 15 minutes), sell with the use HQ granted, or sell
    # offline; time passes between. However they interleave, the uses over the limit are
    # all named, and a use HQ confirmed whose sale came within its hold is never one of them.
    cdb = open_cloud_db("sqlite:///:memory:")
    try:
        _issue(cdb, code="ONCE", kind="amount", value=500, max_uses=limit)
        now, seqs, left = NOW, dict.fromkeys((T1, T2, T3), 0), iter(waits)
        granted: dict[str, dt.datetime | None] = {}  # till -> when HQ granted it (None: refused)
        in_time: set[tuple[str, int]] = set()
        for action, till in actions:
            if action == "wait":
                now += dt.timedelta(minutes=next(left, 1))
            elif action == "ask":
                use = UseRequest(till[:4], None, 5000, 0, now.date())
                at = now.replace(tzinfo=None)
                with cdb.write():
                    verdict, _ = coupons.check_and_hold(cdb, code="ONCE", terminal_id=till,
                                                        store_id=till[:4], request_id="r",
                                                        use=use, now=at)  # fmt: skip
                granted[till] = now if verdict.granted else None
            elif till not in granted or granted[till] is not None:  # refused: no sale
                asked = granted.pop(till, None)
                seqs[till] += 1
                body = coupon_sale([("A", 1, 5000)], [("ONCE", 500)], confirmed=asked is not None,
                                   receipt_no=f"{till}-{seqs[till]}")  # fmt: skip
                commit_group(cdb, [_prepared([envelope(till, seqs[till], body)], now)], RULES)
                if asked is not None and now < asked + dt.timedelta(seconds=coupons.HOLD_S):
                    in_time.add((till, seqs[till]))
        uses = coupons.uses_of(cdb, "ONCE")
        over = {(u["terminal_id"], u["seq"]) for u in uses if "over_limit" in u["problems"]}
        assert len(over) >= len(uses) - limit, uses
        assert not over & in_time, uses
    finally:
        cdb.close()
