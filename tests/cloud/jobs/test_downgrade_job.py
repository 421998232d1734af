"""The tier-downgrade job on SQLite and PostgreSQL, over histories stored by the real ingest.

Hand-worked, with a 30-day window and the default thresholds (silver ¥2,000, gold ¥5,000).
The job runs on day 40, so the window is days 11..40 (store days in Shanghai):

    M-GOLD    day 0 ¥6,000 (gold); day 38 ¥5,500; day 39 returns ¥1,000 of it
              -> ¥4,500 in the window: silver (without the refund it would stay gold)
    M-SILVER  day 0 ¥2,100 (silver); nothing since -> regular
    M-RECENT  day 35 ¥6,000 (gold, reached inside the window) -> holds
    M-KEEP    day 0 ¥6,000 (gold); day 20 ¥5,000 -> exactly gold: holds
    M-REG     day 0 ¥100 -> regular, not reviewed
"""

from __future__ import annotations

from cloud.domain.tier_review import TierPolicy
from cloud.jobs.config import JobsConfig
from cloud.store.db import CloudDB
from tests.cloud.jobs.helpers import Till, day, member_changes, naive, run

MONTH = JobsConfig(tier=TierPolicy(window_days=30))


def _tier(cdb: CloudDB, member: str) -> str:
    m = cdb.models.Member
    return str(m.get(m.member_id == member).tier)


def _history(cdb: CloudDB) -> None:
    till = Till(cdb, "S001-T01")
    till.sale("M-GOLD", 6000, day(0))
    big = till.sale("M-GOLD", 5500, day(38))
    till.refund(big, 1000, 100, day(39))
    till.sale("M-SILVER", 2100, day(0))
    till.sale("M-RECENT", 6000, day(35))
    till.sale("M-KEEP", 6000, day(0))
    till.sale("M-KEEP", 5000, day(20))
    till.sale("M-REG", 100, day(0))


def test_members_fall_to_what_their_window_earns_once(cloud_db: CloudDB) -> None:
    _history(cloud_db)
    assert [_tier(cloud_db, m) for m in ("M-GOLD", "M-SILVER", "M-RECENT", "M-KEEP")] == [
        "gold",
        "silver",
        "gold",
        "gold",
    ]
    before = len(member_changes(cloud_db))
    result, sent = run(cloud_db, "tier_downgrade", day(40), MONTH)
    assert result.state == "ok" and result.members_changed == 2
    assert result.summary["counts"] == {
        "members_reviewed": 4,
        "gold_to_silver": 1,
        "silver_to_regular": 1,
    }
    tiers = {m: _tier(cloud_db, m) for m in ("M-GOLD", "M-SILVER", "M-RECENT", "M-KEEP", "M-REG")}
    assert tiers == {
        "M-GOLD": "silver",
        "M-SILVER": "regular",
        "M-RECENT": "gold",
        "M-KEEP": "gold",
        "M-REG": "regular",
    }
    tc = cloud_db.models.TierChange
    downs = [
        (r.member_id, r.old_tier, r.new_tier, r.origin_seq)
        for r in tc.select().where(tc.origin_terminal == "hq:downgrade").order_by(tc.id)
    ]
    assert downs == [
        ("M-GOLD", "gold", "silver", result.run_id),
        ("M-SILVER", "silver", "regular", result.run_id),
    ]
    gold = tc.get((tc.member_id == "M-GOLD") & (tc.origin_terminal == "hq:downgrade"))
    assert gold.spend_fen == 600_000 + 550_000 - 100_000 and gold.changed_at == naive(day(40))
    # The tills are told, in the run's transaction: tier changed, spend and points as before.
    [(kind, items)] = member_changes(cloud_db)[before:]
    assert kind == "upsert"
    assert [(i["member_id"], i["tier"], i["cumulative_spend_fen"]) for i in items] == [
        ("M-GOLD", "silver", 1_050_000),
        ("M-SILVER", "regular", 210_000),
    ]
    assert len(sent) == 1

    again, sent = run(cloud_db, "tier_downgrade", day(40), MONTH)
    assert again.members_changed == 0 and sent == []
    assert len(member_changes(cloud_db)) == before + 1

    # On day 69 (window 40..69) nobody bought: the two golds fall to regular, while M-GOLD's
    # silver, reached on day 40, holds for its whole window and falls on day 75.
    month, _ = run(cloud_db, "tier_downgrade", day(69), MONTH)
    assert month.summary["counts"] == {"members_reviewed": 3, "gold_to_regular": 2}
    assert (_tier(cloud_db, "M-RECENT"), _tier(cloud_db, "M-GOLD")) == ("regular", "silver")
    later, _ = run(cloud_db, "tier_downgrade", day(75), MONTH)
    assert later.summary["counts"] == {"members_reviewed": 1, "silver_to_regular": 1}
    assert _tier(cloud_db, "M-GOLD") == "regular"


def test_visits_in_the_window_when_the_rules_count_visits(cloud_db: CloudDB) -> None:
    visits = JobsConfig(tier=TierPolicy(basis="visits", window_days=30, silver=3, gold=6))
    till = Till(cloud_db, "S001-T01")
    for member, count in (("M-FOUR", 4), ("M-SIX", 6)):
        till.sale(member, 6000, day(0))  # gold at ingest
        for n in range(count):
            till.sale(member, 10, day(15 + n))
    result, _ = run(cloud_db, "tier_downgrade", day(40), visits)
    assert result.summary["counts"] == {"members_reviewed": 2, "gold_to_silver": 1}
    assert (_tier(cloud_db, "M-FOUR"), _tier(cloud_db, "M-SIX")) == ("silver", "gold")


def test_a_dry_run_names_the_downgrades_and_changes_nothing(cloud_db: CloudDB) -> None:
    _history(cloud_db)
    before = len(member_changes(cloud_db))
    preview, sent = run(cloud_db, "tier_downgrade", day(40), MONTH, dry_run=True)
    assert sorted(c["member_id"] for c in preview.summary["changes"]) == ["M-GOLD", "M-SILVER"]
    assert sent == [] and len(member_changes(cloud_db)) == before
    assert _tier(cloud_db, "M-GOLD") == "gold"
