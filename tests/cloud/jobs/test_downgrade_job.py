"""The tier-downgrade job on SQLite and PostgreSQL, over histories stored by the real ingest.

Hand-worked, with HQ's rules in force counting spend over a 30-day window at the default
thresholds (silver ¥2,000, gold ¥5,000); ingest upgrades by the same window. The job runs on
day 40, so the window is days 11..40 (store days in Shanghai):

    M-GOLD    day 0 ¥6,000 (gold); day 38 ¥5,500; day 39 returns ¥1,000 of it
              -> ¥4,500 in the window: silver (without the refund it would stay gold)
    M-SILVER  day 0 ¥2,100 (silver); nothing since -> regular
    M-RECENT  day 35 ¥6,000 (gold, reached inside the window) -> holds
    M-KEEP    day 0 ¥6,000 (gold); day 20 ¥5,000 -> exactly gold: holds
    M-REG     day 0 ¥100 -> regular, not reviewed
"""

from __future__ import annotations

from cloud.jobs.config import JobsConfig
from cloud.store.db import CloudDB
from tests.cloud.jobs.helpers import Till, day, member_changes, naive, publish_rules, run

MONTH = JobsConfig()  # the tier figures are the rules'; the file holds schedules


def _tier(cdb: CloudDB, member: str) -> str:
    m = cdb.models.Member
    return str(m.get(m.member_id == member).tier)


def _history(cdb: CloudDB) -> None:
    till = Till(cdb, "S001-T01", publish_rules(cdb, day(-1), window_days=30))
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
    # The tills are told, in the run's transaction: the tier, and the spend that counts for it
    # now (the window's: ¥5,500 - ¥1,000 and nothing), which their own upgrades add to.
    [(kind, items)] = member_changes(cloud_db)[before:]
    assert kind == "upsert"
    assert [(i["member_id"], i["tier"], i["cumulative_spend_fen"]) for i in items] == [
        ("M-GOLD", "silver", 450_000),
        ("M-SILVER", "regular", 0),
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
    """Silver from 3 visits, gold from 6, in 30 days. Both members make 6 visits on day 0 (gold
    at ingest on the 6th); then M-FOUR 4 visits, M-SIX 6, on days 15.. . On day 40 (window
    11..40) M-FOUR's 4 keep silver only; M-SIX's 6 keep gold."""
    rules = publish_rules(cloud_db, day(-1), basis="visits", window_days=30, silver=3, gold=6)
    till = Till(cloud_db, "S001-T01", rules)
    for member, count in (("M-FOUR", 4), ("M-SIX", 6)):
        for n in range(6):
            till.sale(member, 10, day(0))
            assert _tier(cloud_db, member) == ("regular", "silver", "gold")[(n + 1) // 3]
        for n in range(count):
            till.sale(member, 10, day(15 + n))
    result, _ = run(cloud_db, "tier_downgrade", day(40), MONTH)
    assert result.summary["counts"] == {"members_reviewed": 2, "gold_to_silver": 1}
    assert (_tier(cloud_db, "M-FOUR"), _tier(cloud_db, "M-SIX")) == ("silver", "gold")
    assert (result.summary["changes"][0]["measure"], result.summary["changes"][0]["basis"]) == (
        4,
        "visits",
    )


def test_a_lowered_member_is_lifted_again_only_by_buying_inside_the_window(
    cloud_db: CloudDB,
) -> None:
    """Window 30 days. M-BOUNCE buys ¥6,000 on day 0: gold. On day 40 (window 11..40) nothing:
    regular. Day 41 ¥100: the window (12..41) holds ¥100, so still regular, although ¥6,100
    were spent since joining. Day 42 ¥1,950: ¥2,050 in the window, silver. Day 43 ¥3,000:
    ¥5,050, gold."""
    till = Till(cloud_db, "S001-T01", publish_rules(cloud_db, day(-1), window_days=30))
    till.sale("M-BOUNCE", 6000, day(0))
    assert _tier(cloud_db, "M-BOUNCE") == "gold"
    result, _ = run(cloud_db, "tier_downgrade", day(40), MONTH)
    assert result.summary["counts"] == {"members_reviewed": 1, "gold_to_regular": 1}
    recorded = cloud_db.jobs.JobRun.get_by_id(result.run_id).params
    assert (recorded["window_days"], recorded["rules_version"]) == (30, "r1")
    # The tills were told: regular, with nothing in the window to build an upgrade on.
    [(_, [told])] = member_changes(cloud_db)[-1:]
    assert (told["tier"], told["cumulative_spend_fen"]) == ("regular", 0)
    till.sale("M-BOUNCE", 100, day(41))
    assert _tier(cloud_db, "M-BOUNCE") == "regular"
    [(_, [told])] = member_changes(cloud_db)[-1:]
    assert (told["tier"], told["cumulative_spend_fen"]) == ("regular", 10_000)
    till.sale("M-BOUNCE", 1950, day(42))
    assert _tier(cloud_db, "M-BOUNCE") == "silver"
    till.sale("M-BOUNCE", 3000, day(43))
    assert _tier(cloud_db, "M-BOUNCE") == "gold"
    tc = cloud_db.models.TierChange
    assert [(r.old_tier, r.new_tier) for r in tc.select().order_by(tc.id)] == [
        ("regular", "gold"),
        ("gold", "regular"),
        ("regular", "silver"),
        ("silver", "gold"),
    ]
    # The review the next day agrees: gold was reached inside the window and holds.
    again, _ = run(cloud_db, "tier_downgrade", day(44), MONTH)
    assert again.members_changed == 0


def test_rules_counting_spend_since_joining_never_lower_a_tier(cloud_db: CloudDB) -> None:
    """The built-in defaults (window 0): ¥6,000 on day 0 is gold for good."""
    till = Till(cloud_db, "S001-T01")
    till.sale("M-LIFE", 6000, day(0))
    result, _ = run(cloud_db, "tier_downgrade", day(800), MONTH)
    assert result.summary["counts"] == {} and _tier(cloud_db, "M-LIFE") == "gold"


def test_a_dry_run_names_the_downgrades_and_changes_nothing(cloud_db: CloudDB) -> None:
    _history(cloud_db)
    before = len(member_changes(cloud_db))
    preview, sent = run(cloud_db, "tier_downgrade", day(40), MONTH, dry_run=True)
    assert sorted(c["member_id"] for c in preview.summary["changes"]) == ["M-GOLD", "M-SILVER"]
    assert sent == [] and len(member_changes(cloud_db)) == before
    assert _tier(cloud_db, "M-GOLD") == "gold"
