"""Duplicate-member merge on SQLite and PostgreSQL: one phone registered at two tills offline.

Hand-worked (1 point per ¥10 paid, silver from ¥2,000, gold from ¥5,000):

    day 0  S001-T01 registers M-FIRST  (13800001111), sells it ¥1,000: +100, spend ¥1,000
    day 1  S002-T01, offline, registers M-SECOND with the same phone ("赵敏", card C-2) and
           sells it ¥3,000: +300, spend ¥3,000, silver. The cloud marks it a duplicate.
    merge  M-FIRST: 400 points, spend ¥4,000, silver (the higher tier), name 赵敏, card C-2;
           M-SECOND: an alias of M-FIRST; tills delete M-SECOND and get M-FIRST's facts.
    day 3  S002-T01 still sells to M-SECOND ¥1,500: +150 and ¥1,500 land on M-FIRST: 550
           points, spend ¥5,500, gold at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cloud.store.db import CloudDB
from device.store.db import open_database
from device.sync.storage import SyncStorage
from tests.cloud.factories import registration_body
from tests.cloud.jobs.helpers import Till, day, ledger, member_changes, run

PHONE = "13800001111"


def _member(cdb: CloudDB, member_id: str) -> Any:
    m = cdb.models.Member
    return m.get(m.member_id == member_id)


def _history(cdb: CloudDB) -> tuple[Till, Till]:
    first, second = Till(cdb, "S001-T01"), Till(cdb, "S002-T01")
    first.register("M-FIRST", PHONE, day(0))
    first.sale("M-FIRST", 1000, day(0))
    body = registration_body("M-SECOND", PHONE, "赵敏")
    second.send({**body, "cards": ["C-2"]}, day(1), "member_registered")
    second.sale("M-SECOND", 3000, day(1))
    return first, second


def test_a_duplicate_is_joined_into_the_first_registration_and_its_id_lives_on(
    cloud_db: CloudDB, tmp_path: Path
) -> None:
    _, second = _history(cloud_db)
    assert _member(cloud_db, "M-SECOND").duplicate_of == "M-FIRST"
    before = len(member_changes(cloud_db))

    result, sent = run(cloud_db, "merge_duplicates", day(2))
    assert result.state == "ok" and result.summary["counts"] == {"duplicates_found": 1, "merged": 1}
    keep, gone = _member(cloud_db, "M-FIRST"), _member(cloud_db, "M-SECOND")
    assert (keep.cumulative_spend_fen, keep.tier, keep.name, keep.cards) == (
        400_000,
        "silver",
        "赵敏",
        ["C-2"],
    )
    assert (gone.cumulative_spend_fen, gone.cards, gone.duplicate_of) == (0, [], "M-FIRST")
    assert sorted(d for d, *_ in ledger(cloud_db, "M-FIRST")) == [100, 300]
    assert ledger(cloud_db, "M-SECOND") == []
    e = cloud_db.models.Event
    assert {(r.terminal_id, r.seq) for r in e.select().where(e.member_id == "M-FIRST")} == {
        ("S001-T01", 1),
        ("S001-T01", 2),
        ("S002-T01", 1),
        ("S002-T01", 2),
    }
    alias = cloud_db.jobs.MemberAlias.get_by_id("M-SECOND")
    assert (alias.new_id, alias.merged_by) == ("M-FIRST", "tests")
    assert alias.moved == {
        "points_ledger": 1,
        "events": 2,
        "over_redemptions": 0,
        "spend_fen": 300_000,
    }
    tc = cloud_db.models.TierChange
    assert [
        (r.old_tier, r.new_tier)
        for r in tc.select().where((tc.member_id == "M-FIRST") & (tc.origin_terminal == "hq:merge"))
    ] == [("regular", "silver")]

    # The tills are told: the old id goes, then the survivor's facts, in that order.
    changes = member_changes(cloud_db)[before:]
    assert [(k, [i["member_id"] for i in items]) for k, items in changes] == [
        ("delete", ["M-SECOND"]),
        ("upsert", ["M-FIRST"]),
    ]
    facts = changes[1][1][0]
    assert (facts["points_balance"], facts["tier"], facts["cumulative_spend_fen"]) == (
        400,
        "silver",
        400_000,
    )
    assert facts["phone"] == PHONE and facts["name"] == "赵敏" and facts["cards"] == ["C-2"]
    assert set(facts["asof"]) == {"S001-T01", "S002-T01"}
    assert [c.kind for c in sent] == ["delete", "upsert"]

    # A till that held both ids (each pushed when registered) ends with one member.
    till = tmp_path / "till.db"
    open_database(till, create=True).close()
    storage = SyncStorage.open(till)
    try:
        d = cloud_db.models.DownChange
        for row in d.select().where(d.stream == "members").order_by(d.version):
            storage.apply("members", row.version, row.kind, row.items)
        assert storage.members.by_id("M-SECOND") is None
        found = storage.members.by_phone(PHONE)
        assert found is not None and (found.member_id, found.points_balance) == ("M-FIRST", 400)
        assert storage.members.by_card("C-2").member_id == "M-FIRST"  # type: ignore[union-attr]
    finally:
        storage.close()

    # The till that was offline still sells to the old id: it lands on the survivor.
    second.sale("M-SECOND", 1500, day(3))
    keep = _member(cloud_db, "M-FIRST")
    assert (
        sum(d for d, *_ in ledger(cloud_db, "M-FIRST")) == 550
        and ledger(cloud_db, "M-SECOND") == []
    )
    assert (keep.cumulative_spend_fen, keep.tier) == (550_000, "gold")
    assert _member(cloud_db, "M-SECOND").cumulative_spend_fen == 0
    assert e.get((e.terminal_id == "S002-T01") & (e.seq == 3)).member_id == "M-FIRST"
    [(_, [pushed])] = member_changes(cloud_db)[-1:]
    assert (pushed["member_id"], pushed["points_balance"], pushed["asof"]["S002-T01"]) == (
        "M-FIRST",
        550,
        [3, []],
    )

    # Merging again changes nothing.
    count = len(member_changes(cloud_db))
    again, sent = run(cloud_db, "merge_duplicates", day(4))
    assert again.summary["counts"] == {} and sent == [] and again.members_changed == 0
    assert len(member_changes(cloud_db)) == count


def test_a_dry_run_names_the_merge_and_moves_nothing(cloud_db: CloudDB) -> None:
    _history(cloud_db)
    preview, sent = run(cloud_db, "merge_duplicates", day(2), dry_run=True)
    assert [c["merged_into"] for c in preview.summary["changes"]] == ["M-FIRST"]
    assert sent == [] and sorted(d for d, *_ in ledger(cloud_db, "M-SECOND")) == [300]
    assert cloud_db.jobs.MemberAlias.select().count() == 0
