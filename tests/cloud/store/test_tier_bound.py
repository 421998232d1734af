"""A sale's claimed member tier checked against the member at ingest: a forged one is held.

Each test runs on SQLite and PostgreSQL (``cloud_db``) through the real decode and apply. The
built-in rules count spend since joining: silver from ¥2,000, gold from ¥5,000.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store.apply import BatchOutcome, IngestRules, apply_batch
from cloud.store.db import CloudDB
from protocol.envelope import Envelope
from protocol.topics import events_topic
from tests.cloud.factories import DEFAULT_TIME, batch_payload, envelope, sale_body
from tests.cloud.jobs.helpers import day, naive, publish_rules, run
from tests.cloud.remote_factories import return_body

T1 = "S001-T01"


def _apply(
    cdb: CloudDB, envs: Sequence[Envelope], rules: IngestRules | None = None,
    at: dt.datetime = DEFAULT_TIME,
) -> BatchOutcome:  # fmt: skip
    terminal = envs[0].terminal_id
    store = terminal.split("-")[0]
    topic = events_topic(store, terminal)
    decoded = decode_events_message(topic, batch_payload(list(envs)))
    assert isinstance(decoded, DecodedBatch), decoded
    return apply_batch(cdb, store_id=store, terminal_id=terminal, events=decoded.events,
                       topic=topic, rules=rules or IngestRules(), clock=lambda: at)  # fmt: skip


def _sale(
    seq: int, member: str, yuan: int, tier: str, *, time: dt.datetime = DEFAULT_TIME,
    version: str = "",
) -> Envelope:  # fmt: skip
    """Seq ``seq`` of T1: a ¥``yuan`` cash sale to ``member`` priced at ``tier``."""
    body = sale_body([("RICE", 1, yuan * 100)], member_id=member, time=time,
                     receipt_no=f"{T1}-{seq:04d}")  # fmt: skip
    body["member_tier"] = tier
    if version:
        body["rules_version"] = version
    return envelope(T1, seq, body, time=time)


def _points(cdb: CloudDB, member: str) -> int:
    p = cdb.models.PointsLedger
    return sum(r.delta for r in p.select().where(p.member_id == member))


def _reasons(cdb: CloudDB, seq: int) -> list[str]:
    f = cdb.models.EventFlag
    return list(f.get((f.terminal_id == T1) & (f.seq == seq)).reasons)


def test_a_forged_gold_claim_is_held_and_moves_no_points(cloud_db: CloudDB) -> None:
    assert _apply(cloud_db, [_sale(1, "M1", 100, "regular")]).held == []
    forged = _apply(cloud_db, [_sale(2, "M1", 100, "gold"), _sale(3, "M-NEW", 100, "silver")])
    # Stored and acknowledged, but held: neither the regular member nor one the cloud has
    # never seen (who starts at regular) was ever anything else.
    assert (forged.high_water, forged.held) == (3, [2, 3])
    [reason] = _reasons(cloud_db, 2)
    assert reason.startswith("priced at gold for member 'M1', who held at most regular")
    assert "earn regular" in reason
    m = cloud_db.models
    assert (_points(cloud_db, "M1"), m.Member.get_by_id("M1").cumulative_spend_fen) == (10, 10_000)
    assert m.Terminal.get_by_id(T1).flagged
    honest = _apply(cloud_db, [_sale(4, "M1", 100, "regular")])
    assert (honest.high_water, honest.held) == (4, [])
    assert _points(cloud_db, "M1") == 20


def test_a_tills_own_upgrade_from_this_and_earlier_batches_passes(cloud_db: CloudDB) -> None:
    # ¥3,000 in an earlier batch: the cloud made M1 silver when it applied it.
    assert _apply(cloud_db, [_sale(1, "M1", 3000, "regular")]).held == []
    out = _apply(cloud_db, [
        _sale(2, "M1", 2500, "silver"),  # the tier the cloud holds
        _sale(3, "M1", 10, "gold"),  # ¥5,500 with the sale before it in this batch: gold
        _sale(4, "M2", 6000, "regular"),  # a new member's ¥6,000 here...
        _sale(5, "M2", 10, "gold"),  # ...is gold at once on the till that sold it
        _sale(6, "M3", 4000, "regular"),
        _sale(7, "M3", 10, "gold"),  # ¥4,000 earns silver only
        _sale(8, "M3", 10, "silver"),
    ])  # fmt: skip
    assert (out.high_water, out.held) == (8, [7])
    assert "earn silver" in _reasons(cloud_db, 7)[0]
    tiers = {r.member_id: r.tier for r in cloud_db.models.Member.select()}
    assert tiers == {"M1": "gold", "M2": "gold", "M3": "silver"}


def test_a_claim_above_a_gap_waits_for_the_tills_missing_sales(cloud_db: CloudDB) -> None:
    upgrade, claim = _sale(1, "M1", 6000, "regular"), _sale(2, "M1", 10, "gold")
    early = _apply(cloud_db, [claim])  # the sale that earned gold is still on its way
    assert (early.high_water, early.held, early.deferred) == (0, [], [2])
    assert cloud_db.models.Event.select().count() == 0
    assert _apply(cloud_db, [upgrade]).high_water == 1
    again = _apply(cloud_db, [claim])  # resent from the ACK
    assert (again.high_water, again.held) == (2, [])


def test_a_tier_lowered_within_the_lag_is_still_plausible(cloud_db: CloudDB) -> None:
    version, rules = publish_rules(cloud_db, day(-1), window_days=30)
    _apply(cloud_db, [_sale(1, "M1", 6000, "regular", time=day(0), version=version)], rules,
           day(0))  # fmt: skip
    result, _ = run(cloud_db, "tier_downgrade", day(40))  # nothing in days 11..40: regular
    assert result.members_changed == 1
    assert cloud_db.models.Member.get_by_id("M1").tier == "regular"
    # A till that had not heard of the downgrade sells at gold five days later: plausible.
    cached = _apply(cloud_db, [_sale(2, "M1", 10, "gold", time=day(45), version=version)],
                    rules, day(45))  # fmt: skip
    assert cached.held == []
    # A till offline since, whose synchronised clock says it sold the day after: plausible.
    offline = _apply(cloud_db, [_sale(3, "M1", 10, "gold", time=day(41), version=version)],
                     rules, day(75))  # fmt: skip
    assert offline.held == []
    # Gold 35 days after the downgrade, sold that day: more than the 30-day lag.
    late = _apply(cloud_db, [_sale(4, "M1", 10, "gold", time=day(75), version=version)],
                  rules, day(75))  # fmt: skip
    assert late.held == [4]
    assert "held at most regular in the last 30 days" in _reasons(cloud_db, 4)[0]
    tc = cloud_db.models.TierChange
    assert [(r.new_tier, r.changed_at) for r in tc.select().order_by(tc.id)] == [
        ("gold", naive(day(0))), ("regular", naive(day(40)))
    ]  # fmt: skip


def _tier_discounted(seq: int, member: str, tier: str, off_bp: int) -> Envelope:
    """A ¥100 line less ``off_bp`` as a "tier" discount, priced at ``tier``."""
    off = 10_000 * off_bp // 10_000
    body = sale_body([("RICE", 1, 10_000 - off)], member_id=member, receipt_no=f"{T1}-{seq:04d}")
    line = body["lines"][0]
    discount = {"kind": "tier", "label": f"{tier} -x%", "amount_fen": off}
    line.update(unit_price_fen=10_000, gross_fen=10_000, discounts=[discount])
    body.update(member_tier=tier, gross_fen=10_000, discount_fen=off)
    return envelope(T1, seq, body)


def test_a_tier_discount_is_the_claimed_tiers_rate(cloud_db: CloudDB) -> None:
    assert _apply(cloud_db, [_sale(1, "M1", 6000, "regular")]).held == []  # M1 is gold now
    out = _apply(cloud_db, [
        _tier_discounted(2, "M1", "gold", 2000),  # 8折 at gold: as the till prices it
        _tier_discounted(3, "M2", "regular", 2000),  # 8折 while claiming regular
        _tier_discounted(4, "M1", "silver", 2000),  # silver is 9折
    ])  # fmt: skip
    assert (out.high_water, out.held) == (4, [3, 4])
    assert _reasons(cloud_db, 3) == [
        "line 1: tier discount 2000 is not the regular rate of the line, 0"
    ]
    assert _reasons(cloud_db, 4) == [
        "line 1: tier discount 2000 is not the silver rate of the line, 1000"
    ]
    assert _points(cloud_db, "M2") == 0


def test_a_return_of_a_sale_held_for_its_tier_is_held_with_it(cloud_db: CloudDB) -> None:
    # A forged gold sale and its return in one batch: the return would take back spend and
    # points the held sale never gave, so it waits for HQ's word on the sale too.
    sale = _sale(1, "M1", 100, "gold")
    ret = return_body(sale.body, [(1, 1)], receipt_no=f"{T1}-0002")
    earned = sum(p["delta"] for p in sale.body["points"] if p["reason"] == "earn")
    ret["points"] = [{"member_id": "M1", "delta": -earned, "reason": "return_reversal",
                      "origin_sale_id": sale.body["sale_id"]}]  # fmt: skip
    out = _apply(cloud_db, [sale, envelope(T1, 2, ret, event_type="return")])
    assert out.held == [1, 2]
    assert "held for HQ" in _reasons(cloud_db, 2)[0]
    assert _points(cloud_db, "M1") == 0
