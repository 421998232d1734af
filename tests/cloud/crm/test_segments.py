"""RFM scores, labels, purchase cycles, movements and the dormant list on the hand-worked set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloud.domain import rfm
from cloud.jobs.config import JobsConfig
from cloud.store import segments
from cloud.store.db import CloudDB, open_cloud_db
from tests.cloud.crm import dataset
from tests.cloud.jobs.helpers import day, run


@pytest.fixture
def cdb(cloud_url: str) -> Iterator[CloudDB]:
    db = open_cloud_db(cloud_url)
    try:
        yield db
    finally:
        db.close()


def scored(cdb: CloudDB) -> dict[str, tuple]:
    return {
        r["member_id"]: (r["r"], r["f"], r["m"], r["label"], r["visits"], r["spend_fen"],
                         r["recency_days"], r["cycle_days"])
        for r in segments.members_in(cdb, None, 100)
    }  # fmt: skip


def test_rfm_scores_labels_and_cycles_match_the_hand_worked_set(cdb: CloudDB) -> None:
    dataset.load(cdb)
    result, sent = run(cdb, "rfm_segments", day(dataset.SCORED_ON))
    assert result.state == "ok" and result.summary["counts"] == {"members_scored": 6}
    assert sent == []  # scoring changes no member fact the tills hold
    assert scored(cdb) == {
        "A": (5, 5, 5, "high-value", 5, 100000, 2, 30.0),
        "B": (3, 4, 3, "regular", 3, 28000, 12, 55.0),
        "C": (1, 1, 1, "at-risk", 2, 8000, 72, 10.0),
        "D": (1, 1, 4, "at-risk", 2, 50000, 107, 10.0),
        "E": (4, 1, 1, "new", 2, 2000, 7, 5.0),
        "F": (2, 1, 2, "one-off", 1, 9000, 42, None),
    }  # G registered but never bought: not scored
    view = segments.overview(cdb)
    assert view["run"]["as_of"] == "2025-07-01" and view["run"]["policy"]["method"] == "quintiles"
    sizes = {s["label"]: (s["members"], s["spend_fen"], s["visits"], s["avg_basket_fen"])
             for s in view["segments"]}  # fmt: skip
    assert sizes == {
        "new": (1, 2000, 2, 1000),
        "regular": (1, 28000, 3, 9333),
        "high-value": (1, 100000, 5, 20000),
        "at-risk": (2, 58000, 4, 14500),
        "one-off": (1, 9000, 1, 9000),
    }
    # The first run: every member comes from "unscored".
    assert {(m["from"], m["to"]): m["members"] for m in view["moves"]} == {
        ("unscored", "new"): 1, ("unscored", "regular"): 1, ("unscored", "high-value"): 1,
        ("unscored", "at-risk"): 2, ("unscored", "one-off"): 1,
    }  # fmt: skip


def test_a_second_run_shows_who_moved_between_segments(cdb: CloudDB) -> None:
    till = dataset.load(cdb)
    first, _ = run(cdb, "rfm_segments", day(dataset.SCORED_ON))
    till.sale("D", 100, day(123))  # the dormant big spender comes back
    second, _ = run(cdb, "rfm_segments", day(124))
    # As of day 124: recency C74 F44 B14 E9 A4 D1 -> R C1 F1 B2 E3 A4 D5; visits F1, C/E 2,
    # B/D 3 (tied at rank 4), A5 -> B's and D's F = 1 + 15 // 6 = 3; spend E C F B D(60000) A
    # -> D's M = 4. D: R5, F3 -> regular. B: R2 -> at-risk. A stays high-value (R4, F5, M5).
    got = scored(cdb)
    assert got["D"][:4] == (5, 3, 4, "regular") and got["B"][:4] == (2, 3, 3, "at-risk")
    moves = {(m["from"], m["to"]): m["members"] for m in segments.overview(cdb)["moves"]}
    assert moves == {
        ("at-risk", "regular"): 1, ("regular", "at-risk"): 1, ("at-risk", "at-risk"): 1,
        ("high-value", "high-value"): 1, ("new", "new"): 1, ("one-off", "one-off"): 1,
    }  # fmt: skip
    view = segments.overview(cdb)
    assert view["run"]["previous_run"] == first.run_id
    assert [h["run_id"] for h in view["history"]] == [first.run_id, second.run_id]
    # Only the two newest runs keep member rows; a third run drops the first's.
    third, _ = run(cdb, "rfm_segments", day(125))
    kept = {r.run_id for r in cdb.segments.MemberRfm.select(cdb.segments.MemberRfm.run_id)}
    assert kept == {second.run_id, third.run_id}
    assert len(segments.overview(cdb)["history"]) == 3  # the counts stay for good


def test_the_dormant_list_uses_each_members_own_cycle_and_the_multiple(cdb: CloudDB) -> None:
    dataset.load(cdb)
    run(cdb, "rfm_segments", day(dataset.SCORED_ON))
    policy = JobsConfig().rfm
    listed = segments.dormant(cdb, policy, 2.0, 100)
    assert [x["member_id"] for x in listed] == ["D"]  # 107 days > 2 x 10; A: 2 days < 2 x 30
    assert listed[0]["overdue_days"] == 87.0  # 107 - 20
    last = listed[0]["last_sale"]
    assert (last["store_id"], last["day"], last["amount_fen"]) == ("S001", "2025-03-16", 25000)
    assert segments.dormant(cdb, policy, 11.0, 100) == []  # 107 < 11 x 10: not yet
    assert [x["member_id"] for x in segments.dormant(cdb, policy, 10.6, 100)] == ["D"]


def test_thresholds_method_scores_by_fixed_edges(cdb: CloudDB) -> None:
    dataset.load(cdb)
    # Recency edges 5/15/50/100 days, visits 2/3/4/5, spend ¥50/¥100/¥300/¥800.
    policy = rfm.RfmPolicy(
        method="thresholds",
        thresholds=rfm.Thresholds((5, 15, 50, 100), (2, 3, 4, 5), (5000, 10000, 30000, 80000)),
    )
    run(cdb, "rfm_segments", day(dataset.SCORED_ON), JobsConfig(rfm=policy))
    got = {m: v[:4] for m, v in scored(cdb).items()}
    # A: 2 days (all 4 edges) R5; 5 visits F5; 100000 M5 -> high-value.
    # B: 12 days (15, 50, 100) R4; 3 visits F3; 28000 (5000, 10000) M3 -> regular.
    # C: 72 days (100) R2; F2; 8000 M2 -> at-risk.  D: 107 days R1; F2; 50000 M4 -> at-risk.
    # E: 7 days R4; F2; 2000 M1 -> new.  F: 42 days R3; F1; 9000 M2 -> one-off.
    assert got == {
        "A": (5, 5, 5, "high-value"), "B": (4, 3, 3, "regular"), "C": (2, 2, 2, "at-risk"),
        "D": (1, 2, 4, "at-risk"), "E": (4, 2, 1, "new"), "F": (3, 1, 2, "one-off"),
    }  # fmt: skip


def test_behaviour_gives_cycle_favourites_and_hour(cdb: CloudDB) -> None:
    dataset.load(cdb)
    got = segments.behaviour(cdb, "A")
    # Five sales of SKU-1 (category grocery) at noon Shanghai, 30 days apart.
    assert got["visits"] == 5 and got["cycle_days"] == 30.0 and got["favourite_hour"] == 12
    assert got["favourite_products"] == [{"sku": "SKU-1", "name": "商品", "net_fen": 100000}]
    assert got["favourite_categories"] == [{"category": "grocery", "net_fen": 100000}]


def test_a_dry_run_counts_and_stores_nothing(cdb: CloudDB) -> None:
    dataset.load(cdb)
    result, _ = run(cdb, "rfm_segments", day(dataset.SCORED_ON), dry_run=True)
    assert result.summary["counts"] == {"members_scored": 6}
    assert segments.latest_run(cdb) is None


def test_domain_rules_by_hand() -> None:
    assert [rfm.quintile(k, 6) for k in range(1, 7)] == [1, 1, 2, 3, 4, 5]
    assert rfm.threshold_score(12, (5, 15, 50, 100), lower_is_better=True) == 4
    policy = rfm.RfmPolicy()
    # A cycle under a day counts as one: 3 days out is past 2 x 1, 2 days is not.
    assert rfm.is_dormant(policy, m=4, cycle_days=0.0, days_since_last=3)
    assert not rfm.is_dormant(policy, m=4, cycle_days=0.0, days_since_last=2)
    assert not rfm.is_dormant(policy, m=3, cycle_days=5.0, days_since_last=100)
    with pytest.raises(rfm.RfmError):
        rfm.Thresholds(visits=(3, 2, 4, 5))
