"""Applying batches: idempotent insert, projections once, the contiguous mark, dead events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cloud.domain.tiers import TierThresholds
from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store.apply import BatchOutcome, IngestRules, apply_batch, reject_payload
from cloud.store.db import CloudDB
from cloud.store.downstream import changes_since
from protocol.envelope import Envelope
from protocol.topics import events_topic
from tests.cloud.factories import (
    batch_payload,
    envelope,
    registration_body,
    sale_body,
    simple_sale,
)

RULES = IngestRules()


def _apply(cdb: CloudDB, envs: Sequence[Envelope], rules: IngestRules = RULES) -> BatchOutcome:
    first = envs[0]
    topic = events_topic(first.store_id, first.terminal_id)
    decoded = decode_events_message(topic, batch_payload(envs))
    assert isinstance(decoded, DecodedBatch)
    return apply_batch(
        cdb, store_id=decoded.store_id, terminal_id=decoded.terminal_id,
        events=decoded.events, topic=topic, rules=rules,
    )  # fmt: skip


def _totals(cdb: CloudDB) -> tuple[int, int]:
    t = cdb.models.DailyTotals
    row = t.select().where(t.terminal_id == "S001-T01").get()
    return row.sales_count, row.sales_fen


def test_reordered_and_duplicated_delivery_counts_each_sale_once(cloud_db: CloudDB) -> None:
    sales = {seq: simple_sale("S001-T01", seq, net_fen=100 * seq) for seq in (1, 2, 3)}
    marks = [_apply(cloud_db, [sales[seq]]).high_water for seq in (3, 1, 2, 2)]
    assert marks == [0, 1, 3, 3]
    assert cloud_db.models.Event.select().count() == 3
    assert _totals(cloud_db) == (3, 600)  # 100 + 200 + 300, once each
    sku = cloud_db.models.SkuSales.get()
    assert (sku.sku, sku.lines, sku.quantity, sku.net_fen) == ("A", 3, 3, 600)


def test_repeated_seq_inside_one_message_is_one_event(cloud_db: CloudDB) -> None:
    sale = simple_sale("S001-T01", 1, net_fen=500)
    out = _apply(cloud_db, [sale, sale, simple_sale("S001-T01", 2, net_fen=700)])
    assert (out.high_water, out.inserted) == (2, 2)
    assert _totals(cloud_db) == (2, 1200)


def test_sale_lands_on_the_store_local_day(cloud_db: CloudDB) -> None:
    # 17:30 UTC is 01:30 the next day in Shanghai.
    late = dt.datetime(2026, 11, 23, 17, 30, tzinfo=dt.UTC)
    env = envelope("S001-T01", 1, sale_body([("A", 1, 100)], time=late), time=late)
    _apply(cloud_db, [env])
    sku = cloud_db.models.SkuSales.get()
    assert (sku.day, sku.hour) == (dt.date(2026, 11, 24), 1)


def test_points_ledger_and_balance_and_over_redemption(cloud_db: CloudDB) -> None:
    m = cloud_db.models
    _apply(cloud_db, [envelope("S001-T01", 1, sale_body([("G", 1, 300_000)], member_id="M1"))])
    # Store 1 and store 2 each redeem 200 of the same 300 points.
    _apply(cloud_db, [envelope("S001-T01", 2, sale_body([("A", 1, 5000)], member_id="M1",
                                                        redeem=200))])  # fmt: skip
    out = _apply(cloud_db, [envelope("S002-T01", 1, sale_body([("B", 1, 5000)], member_id="M1",
                                                              redeem=200))])  # fmt: skip
    assert out.over_redemptions == 1
    deltas = [r.delta for r in m.PointsLedger.select().order_by(m.PointsLedger.id)]
    assert deltas == [300, -200, 3, -200, 3]
    over = m.OverRedemption.get()
    assert (over.member_id, over.amount, over.balance_after, over.terminal_id) == (
        "M1", 94, -94, "S002-T01",
    )  # fmt: skip
    # Re-delivering the same batch changes nothing.
    _apply(cloud_db, [envelope("S001-T01", 2, sale_body([("A", 1, 5000)], member_id="M1",
                                                        redeem=200))])  # fmt: skip
    assert m.PointsLedger.select().count() == 5
    assert m.OverRedemption.select().count() == 1


def test_pushed_facts_name_the_seqs_each_till_has_above_its_mark(cloud_db: CloudDB) -> None:
    # Till 1's seq 3 arrives before its seq 2; till 2 sends in order. The push after seq 3
    # says till 1's mark is 1 and that seq 3 above it is already counted.
    sale = {seq: envelope("S001-T01", seq, sale_body([("A", 1, 1000 * seq)], member_id="M1"))
            for seq in (1, 2, 3)}  # fmt: skip
    _apply(cloud_db, [sale[1]])
    _apply(cloud_db, [envelope("S002-T01", 1, sale_body([("B", 1, 500)], member_id="M1"))])
    [early] = _apply(cloud_db, [sale[3]]).down
    assert early.items[0]["asof"] == {"S001-T01": [1, [3]], "S002-T01": [1, []]}
    [filled] = _apply(cloud_db, [sale[2]]).down
    assert filled.items[0]["asof"] == {"S001-T01": [3, []], "S002-T01": [1, []]}
    assert filled.items[0]["points_balance"] == 1 + 2 + 3


def test_every_member_change_is_pushed_chain_wide_with_what_it_includes(
    cloud_db: CloudDB,
) -> None:
    m = cloud_db.models
    rules = IngestRules(thresholds=TierThresholds(silver_fen=10_000, gold_fen=50_000))
    reg = envelope("S002-T01", 1, registration_body("M9", "13800135678", "Wang"),
                   event_type="member_registered")  # fmt: skip
    registered = _apply(cloud_db, [reg], rules)
    [first] = registered.down
    assert (first.scope, first.items[0]["rev"]) == ("all", 1)
    assert first.items[0]["phone"] == "13800135678"
    out = _apply(
        cloud_db, [envelope("S002-T01", 2, sale_body([("A", 2, 12000)], member_id="M9"))], rules
    )
    member = m.Member.get(m.Member.member_id == "M9")
    assert (member.tier, member.cumulative_spend_fen, member.home_store) == ("silver", 12000,
                                                                             "S002")  # fmt: skip
    [change] = out.down
    assert (change.stream, change.version, change.scope) == ("members", 2, "all")
    item = change.items[0]
    # The sale's 12 points, its spend, the upgrade, and which of the till's seqs they hold.
    assert (item["rev"], item["tier"], item["points_balance"], item["cumulative_spend_fen"]) == (
        2, "silver", 12, 12_000,
    )  # fmt: skip
    assert item["asof"] == {"S002-T01": [2, []]}
    assert item["name"] == "Wang"
    # Chain-wide: a till of another store gets the member too.
    assert [c["version"] for c in changes_since(cloud_db, "members", "S001", 0)] == [1, 2]
    history = [(t.old_tier, t.new_tier) for t in m.TierChange.select()]
    assert history == [("regular", "silver")]


def test_duplicate_phone_registration_points_at_the_first(cloud_db: CloudDB) -> None:
    m = cloud_db.models
    for terminal, member in (("S001-T01", "MA"), ("S002-T01", "MB")):
        _apply(cloud_db, [envelope(terminal, 1, registration_body(member, "13900001111"),
                                   event_type="member_registered")])  # fmt: skip
    assert m.Member.get(m.Member.member_id == "MB").duplicate_of == "MA"
    assert m.Member.get(m.Member.member_id == "MA").duplicate_of is None


def test_unusable_body_is_stored_aside_and_counts_for_contiguity(cloud_db: CloudDB) -> None:
    m = cloud_db.models
    bad = envelope("S001-T01", 2, {"sale_id": "not-a-sale"})
    out = _apply(cloud_db, [simple_sale("S001-T01", 1), bad, simple_sale("S001-T01", 3)])
    assert out.high_water == 3
    assert out.dead_lettered == [2]
    dead = m.DeadLetter.get()
    assert dead.seqs == [2] and "SchemaError" in dead.reason and b"not-a-sale" in dead.payload
    terminal = m.Terminal.get()
    assert terminal.flagged and "SchemaError" in terminal.flag_reason
    assert _totals(cloud_db) == (2, 2000)  # the dead event added nothing


def test_rejected_payload_is_kept_and_does_not_move_the_mark(cloud_db: CloudDB) -> None:
    _apply(cloud_db, [simple_sale("S001-T01", 1)])
    mark = reject_payload(
        cloud_db, topic="pos/v1/S001/S001-T01/events", store_id="S001", terminal_id="S001-T01",
        claimed_terminal_id="S001-T02", reason="SchemaError: impersonation", seqs=[5],
        payload=b"x" * 1_300_000,
    )  # fmt: skip
    assert mark is not None and mark[0] == 1
    dead = cloud_db.models.DeadLetter.get()
    assert dead.payload_size == 1_300_000 and len(dead.payload) == 1024 * 1024
    assert cloud_db.models.Terminal.get().flagged
