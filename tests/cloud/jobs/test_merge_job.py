"""Duplicate members on SQLite and PostgreSQL: one phone registered at two tills offline.

Hand-worked (1 point per ¥10 paid, silver from ¥2,000, gold from ¥5,000):

    day 0  S001-T01 registers M-FIRST  (13800001111), sells it ¥1,000: +100, spend ¥1,000
    day 1  S002-T01, offline, registers M-SECOND with the same phone ("赵敏", card C-2). The
           cloud joins it into M-FIRST in the same transaction: tills are told to drop
           M-SECOND and get M-FIRST's facts (name 赵敏, card C-2); no till ever finds the phone
           under M-SECOND alone. S002-T01 sells M-SECOND ¥3,000: +300 and ¥3,000 land on
           M-FIRST: 400 points, spend ¥4,000, silver.
    day 3  S002-T01 still sells to M-SECOND ¥1,500: +150 and ¥1,500 land on M-FIRST: 550
           points, spend ¥5,500, gold at once.

The merge job joins what ingest marked and could not join (here: marks an earlier release left
for the job), with the same rows moved, coupons among them.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cloud.domain.coupons import UseRequest
from cloud.store import coupons
from cloud.store.db import CloudDB
from tests.cloud.factories import registration_body, sale_body
from tests.cloud.jobs.helpers import Till, TillCache, day, ledger, member_changes, naive, run

PHONE = "13800001111"


def _member(cdb: CloudDB, member_id: str) -> Any:
    m = cdb.models.Member
    return m.get(m.member_id == member_id)


def test_a_duplicate_is_joined_at_ingest_and_tills_never_lose_the_first(
    cloud_db: CloudDB, tmp_path: Path
) -> None:
    first, second = Till(cloud_db, "S001-T01"), Till(cloud_db, "S002-T01")
    till = TillCache(tmp_path / "till.db")
    try:
        first.register("M-FIRST", PHONE, day(0))
        first.sale("M-FIRST", 1000, day(0))
        till.catch_up(cloud_db)
        before = len(member_changes(cloud_db))
        body = registration_body("M-SECOND", PHONE, "赵敏")
        second.send({**body, "cards": ["C-2"]}, day(1), "member_registered")
        # Joined at once: an alias, the tills told to drop the duplicate and given the first.
        alias = cloud_db.jobs.MemberAlias.get_by_id("M-SECOND")
        assert (alias.new_id, alias.merged_by) == ("M-FIRST", "ingest")
        # The phone alone never hands the second card to the first member: whoever typed
        # in that phone at a till could then spend the first member's points with it.
        assert alias.moved["cards_held"] == ["C-2"]
        changes = member_changes(cloud_db)[before:]
        assert [(k, [i["member_id"] for i in items]) for k, items in changes] == [
            ("delete", ["M-SECOND"]),
            ("upsert", ["M-FIRST"]),
        ]
        facts = changes[1][1][0]
        assert (facts["phone"], facts["name"], facts.get("cards", []), facts["points_balance"]) == (
            PHONE,
            "赵敏",
            [],
            100,
        )
        till.catch_up(cloud_db)
        found = till.storage.members.by_phone(PHONE)
        assert found is not None and (found.member_id, found.points_balance) == ("M-FIRST", 100)
        assert till.storage.members.by_id("M-SECOND") is None
        assert till.storage.members.by_card("C-2") is None  # held for HQ, not the first's

        second.sale("M-SECOND", 3000, day(1))
        keep = _member(cloud_db, "M-FIRST")
        assert (keep.cumulative_spend_fen, keep.tier) == (400_000, "silver")
        assert sorted(d for d, *_ in ledger(cloud_db, "M-FIRST")) == [100, 300]
        assert ledger(cloud_db, "M-SECOND") == []
        till.catch_up(cloud_db)
        found = till.storage.members.by_phone(PHONE)
        assert found is not None and (found.member_id, found.points_balance, found.tier) == (
            "M-FIRST",
            400,
            "silver",
        )

        # The till that has not heard still sells to the old id: it lands on the survivor.
        second.sale("M-SECOND", 1500, day(3))
        keep = _member(cloud_db, "M-FIRST")
        assert (keep.cumulative_spend_fen, keep.tier) == (550_000, "gold")
        assert sum(d for d, *_ in ledger(cloud_db, "M-FIRST")) == 550
        e = cloud_db.models.Event
        assert {(r.terminal_id, r.seq) for r in e.select().where(e.member_id == "M-FIRST")} == {
            ("S001-T01", 1),
            ("S001-T01", 2),
            ("S002-T01", 1),
            ("S002-T01", 2),
            ("S002-T01", 3),
        }
        [(_, [pushed])] = member_changes(cloud_db)[-1:]
        assert (pushed["member_id"], pushed["points_balance"], pushed["asof"]["S002-T01"]) == (
            "M-FIRST",
            550,
            [3, []],
        )
    finally:
        till.close()
    # Nothing is left for the job.
    again, sent = run(cloud_db, "merge_duplicates", day(4))
    assert again.summary["counts"] == {} and sent == [] and again.members_changed == 0


OTHER = "13900002222"
COUPON = {"code": "CPN-2", "kind": "amount", "value": 2000, "max_uses": 2, "member_id": "M-SECOND"}


def _coupon_sale(till: Till, member: str, at: dt.datetime) -> None:
    """¥100 paid by CPN-2 (¥20) and ¥80 cash: 8 points."""
    body = sale_body([("SKU-1", 1, 10_000)], member_id=member, earn=8, time=at,
                     receipt_no=f"{till.terminal_id}-{till.seq + 1:04d}")  # fmt: skip
    body["tenders"] = [
        {"kind": "coupon", "amount_fen": 2000, "tendered_fen": 0, "approval_code": "",
         "reference": "CPN-2"},
        {"kind": "cash", "amount_fen": 8000, "tendered_fen": 8000, "approval_code": "",
         "reference": ""},
    ]  # fmt: skip
    body["coupon_codes"] = ["CPN-2"]
    till.send(body, at)


def _marked(cdb: CloudDB) -> tuple[Till, Till]:
    """M-FIRST, and M-SECOND with a coupon used once of two, which an earlier release marked
    as a duplicate of M-FIRST (ingest now joins such a registration at once)."""
    first, second = Till(cdb, "S001-T01"), Till(cdb, "S002-T01")
    first.register("M-FIRST", PHONE, day(0))
    first.sale("M-FIRST", 1000, day(0))
    body = registration_body("M-SECOND", OTHER, "赵敏")
    second.send({**body, "cards": ["C-2"]}, day(1), "member_registered")
    with cdb.write():
        coupons.issue(cdb, [COUPON], "hq:tests", naive(day(1)))
    _coupon_sale(second, "M-SECOND", day(1))
    m = cdb.models.Member
    m.update(phone=PHONE, duplicate_of="M-FIRST").where(m.member_id == "M-SECOND").execute()
    return first, second


def _use(cdb: CloudDB, member: str, at: dt.datetime) -> tuple[str, int]:
    use = UseRequest("S001", member, 10_000, 0, at.date())
    with cdb.write():
        verdict, left = coupons.check_and_hold(cdb, code="CPN-2", terminal_id="S001-T01",
                                               store_id="S001", request_id="r1", use=use,
                                               now=naive(at))  # fmt: skip
    return verdict.reason or f"granted {verdict.amount_fen}", left


def test_the_job_joins_a_marked_duplicate_with_its_coupons_and_their_uses(
    cloud_db: CloudDB,
) -> None:
    first, _ = _marked(cloud_db)
    assert _use(cloud_db, "M-FIRST", day(2)) == ("coupon_other_member", 1)

    result, sent = run(cloud_db, "merge_duplicates", day(2))
    assert result.state == "ok" and result.summary["counts"] == {"duplicates_found": 1, "merged": 1}
    keep, gone = _member(cloud_db, "M-FIRST"), _member(cloud_db, "M-SECOND")
    # ¥1,000 + the ¥80 paid in money (a coupon is not spend): ¥1,080; 100 + 8 points.
    # The job merges unattended: the duplicate's card is held for HQ, not given to M-FIRST.
    assert (keep.cumulative_spend_fen, keep.name, keep.cards) == (108_000, "赵敏", [])
    assert (gone.cumulative_spend_fen, gone.cards, gone.duplicate_of) == (0, [], "M-FIRST")
    assert sorted(d for d, *_ in ledger(cloud_db, "M-FIRST")) == [8, 100]
    alias = cloud_db.jobs.MemberAlias.get_by_id("M-SECOND")
    assert (alias.new_id, alias.merged_by) == ("M-FIRST", "tests")
    assert alias.moved == {
        "points_ledger": 1,
        "events": 2,
        "over_redemptions": 0,
        "coupons": 1,
        "coupon_uses": 1,
        "complaints": 0,
        "member_notes": 0,
        "spend_days": 1,
        "tags": 0,
        "preferences": 0,
        "spend_fen": 8_000,
        "cards_held": ["C-2"],
    }
    # The coupon is the survivor's now, with its one use kept; the tills get it rebound.
    detail = coupons.get(cloud_db, "CPN-2")
    assert detail is not None and (detail["member_id"], detail["uses"]) == ("M-FIRST", 1)
    assert [(u["member_id"], u["problems"]) for u in detail["use_list"]] == [("M-FIRST", [])]
    assert [(c.stream, c.kind) for c in sent] == [
        ("members", "delete"),
        ("members", "upsert"),
        ("coupons", "upsert"),
    ]
    assert sent[2].items[0]["member_id"] == "M-FIRST" and sent[2].items[0]["uses"] == 1
    # The survivor may use its second use; a third is refused.
    assert _use(cloud_db, "M-FIRST", day(2)) == ("granted 2000", 0)
    _coupon_sale(first, "M-FIRST", day(2))
    assert _use(cloud_db, "M-FIRST", day(2)) == ("coupon_used_up", 0)
    # A till that has not heard of the merge asks under the old id: the same member.
    assert _use(cloud_db, "M-SECOND", day(2)) == ("coupon_used_up", 0)
    uses = coupons.uses_of(cloud_db, "CPN-2")
    assert [(u["member_id"], u["problems"]) for u in uses] == [("M-FIRST", []), ("M-FIRST", [])]

    # Merging again changes nothing.
    count = len(member_changes(cloud_db))
    again, sent = run(cloud_db, "merge_duplicates", day(4))
    assert again.summary["counts"] == {} and sent == [] and again.members_changed == 0
    assert len(member_changes(cloud_db)) == count


def test_a_dry_run_names_the_merge_and_moves_nothing(cloud_db: CloudDB) -> None:
    _marked(cloud_db)
    preview, sent = run(cloud_db, "merge_duplicates", day(2), dry_run=True)
    assert [c["merged_into"] for c in preview.summary["changes"]] == ["M-FIRST"]
    assert sent == [] and sorted(d for d, *_ in ledger(cloud_db, "M-SECOND")) == [8]
    assert cloud_db.jobs.MemberAlias.select().count() == 0
    assert coupons.get(cloud_db, "CPN-2")["member_id"] == "M-SECOND"  # type: ignore[index]
