"""Birthday list and gifts: once a year per member however often the job runs; 29 February."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import msgspec
import pytest

from cloud.domain.engagement import birthday_in, month_days, next_birthday
from cloud.store import engagement, rules
from cloud.store.db import CloudDB, open_cloud_db
from protocol.rules import BirthdayGift, default_rules
from tests.cloud.jobs.helpers import Till, ledger, run

SHANGHAI_NOON = dt.time(4, 0, tzinfo=dt.UTC)


def noon(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, SHANGHAI_NOON)


@pytest.fixture
def cdb(cloud_url: str) -> Iterator[CloudDB]:
    db = open_cloud_db(cloud_url)
    try:
        yield db
    finally:
        db.close()


def members(cdb: CloudDB) -> None:
    """P regular and Q silver born 5 March; R born 29 Feb; S no birthday; T born 6 March."""
    till = Till(cdb, "S001-T01")
    born = {"P": "1990-03-05", "Q": "1988-03-05", "R": "2000-02-29", "S": None,
            "T": "1995-03-06"}  # fmt: skip
    for i, (member, birthday) in enumerate(born.items()):
        till.register(member, f"1390000{i:04d}", noon(dt.date(2024, 1, 1)))
        m = cdb.models.Member
        m.update(birthday=birthday, tier="silver" if member == "Q" else "regular").where(
            m.member_id == member
        ).execute()


def publish_gifts(cdb: CloudDB) -> None:
    """Regular members get 200 points; silver a ¥20 coupon valid 30 days; gold nothing."""
    body = default_rules()
    regular, silver, gold = body.tiers.levels
    levels = [
        msgspec.structs.replace(regular, birthday_gift=BirthdayGift(kind="points", value=200)),
        msgspec.structs.replace(
            silver, birthday_gift=BirthdayGift(kind="amount_coupon", value=2000, valid_days=30)
        ),
        gold,
    ]
    body = msgspec.structs.replace(body, tiers=msgspec.structs.replace(body.tiers, levels=levels))
    with cdb.write():
        rules.publish_rules(cdb, body, "all", "tests", dt.datetime(2024, 1, 1))


def gifts(cdb: CloudDB) -> list[tuple[str, int, str, str, int, str]]:
    g = cdb.segments.BirthdayGift
    return [(r.member_id, r.year, str(r.birthday_on), r.kind, r.value, r.coupon_code)
            for r in g.select().order_by(g.member_id, g.year)]  # fmt: skip


def test_birthday_gifts_are_issued_once_even_when_the_job_runs_twice(cdb: CloudDB) -> None:
    members(cdb)
    publish_gifts(cdb)
    on = dt.date(2025, 3, 5)
    first, sent = run(cdb, "birthday_gifts", noon(on))
    code = engagement.coupon_code("Q", 2025)
    assert first.summary["counts"] == {"gifts_issued": 2, "already_given": 0,
                                       "tier_without_gift": 0}  # fmt: skip
    assert gifts(cdb) == [("P", 2025, "2025-03-05", "points", 200, ""),
                          ("Q", 2025, "2025-03-05", "amount_coupon", 2000, code)]  # fmt: skip
    assert [row[0] for row in ledger(cdb, "P")][-1] == 200
    # Q's coupon: hers only, valid at every store for 30 days, pushed chain-wide.
    coupon = cdb.remote.Coupon.get(cdb.remote.Coupon.code == code)
    assert (coupon.member_id, coupon.kind, coupon.value, coupon.stores, coupon.max_uses) == (
        "Q",
        "amount",
        2000,
        [],
        1,
    )
    assert (str(coupon.valid_from)[:10], str(coupon.valid_until)[:10]) == (
        "2025-03-05",
        "2025-04-03",
    )
    streams = {(d.stream, d.scope) for d in sent}
    assert streams == {("coupons", "all"), ("members", "all")}
    points_push = [i for d in sent if d.stream == "members" for i in d.items]
    assert [(i["member_id"], i["points_balance"]) for i in points_push] == [("P", 200)]

    again, sent_again = run(cdb, "birthday_gifts", noon(on) + dt.timedelta(hours=5))
    assert again.summary["counts"] == {"gifts_issued": 0, "already_given": 2,
                                       "tier_without_gift": 0}  # fmt: skip
    assert sent_again == [] and len(gifts(cdb)) == 2
    assert [row[0] for row in ledger(cdb, "P")] == [200]  # one gift, not two
    # Next year: the gift is due again.
    next_year, _ = run(cdb, "birthday_gifts", noon(dt.date(2026, 3, 5)))
    assert next_year.summary["counts"]["gifts_issued"] == 2


def test_a_29_february_birthday_falls_on_28_february_in_a_common_year(cdb: CloudDB) -> None:
    members(cdb)
    publish_gifts(cdb)
    run(cdb, "birthday_gifts", noon(dt.date(2025, 2, 28)))
    assert gifts(cdb) == [("R", 2025, "2025-02-28", "points", 200, "")]
    # In a leap year it is the 29th: nothing on the 28th, the gift on the 29th.
    none, _ = run(cdb, "birthday_gifts", noon(dt.date(2024, 2, 28)))
    assert none.summary["counts"]["gifts_issued"] == 0
    run(cdb, "birthday_gifts", noon(dt.date(2024, 2, 29)))
    assert ("R", 2024, "2024-02-29", "points", 200, "") in gifts(cdb)


def test_no_gift_without_rules_carrying_one_and_none_without_a_birthday(cdb: CloudDB) -> None:
    members(cdb)
    result, sent = run(cdb, "birthday_gifts", noon(dt.date(2025, 3, 5)))
    # The built-in rules give no birthday gift: P and Q are counted, nothing is issued.
    assert result.summary["counts"] == {"gifts_issued": 0, "already_given": 0,
                                        "tier_without_gift": 2}  # fmt: skip
    assert sent == [] and gifts(cdb) == []


def test_the_birthday_list_for_the_coming_days(cdb: CloudDB) -> None:
    members(cdb)
    listed = engagement.birthdays(cdb, dt.date(2025, 3, 4), 3)  # 4, 5, 6 March
    assert [(x["member_id"], x["on"], x["in_days"]) for x in listed] == [
        ("P", "2025-03-05", 1),
        ("Q", "2025-03-05", 1),
        ("T", "2025-03-06", 2),
    ]
    around = engagement.birthdays(cdb, dt.date(2025, 2, 27), 2)  # 27, 28 Feb (common year)
    assert [(x["member_id"], x["on"]) for x in around] == [("R", "2025-02-28")]
    assert all(x["member_id"] != "S" for x in engagement.birthdays(cdb, dt.date(2025, 1, 1), 60))


def test_birthday_dates_by_hand() -> None:
    leap_born = dt.date(2000, 2, 29)
    assert birthday_in(2025, leap_born) == dt.date(2025, 2, 28)
    assert birthday_in(2028, leap_born) == dt.date(2028, 2, 29)
    assert next_birthday(leap_born, dt.date(2025, 3, 1)) == dt.date(2026, 2, 28)
    assert list(month_days(dt.date(2025, 2, 28), 2)) == [(2, 28), (2, 29), (3, 1)]
    assert list(month_days(dt.date(2024, 2, 28), 2)) == [(2, 28), (2, 29)]
