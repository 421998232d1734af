"""Member search as an HQ user at a service desk has the member: the last digits, part of the
number, or the masked phone a receipt prints; bounded, with a count of the rest, and an empty
result that says how it was looked up. Through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cloud.store.db import CloudDB
from tests.cloud.api import crm_world as w
from tests.cloud.api.test_crm_members import hq  # noqa: F401  (the fixture)

#: Members sharing the end of their phone with each other (more than a page lists).
CROWD = 60
CROWD_END = "4242"


def _crowd(cdb: CloudDB) -> None:
    m = cdb.models.Member
    now = dt.datetime(2026, 1, 1)
    with cdb.database.atomic():
        m.insert_many([
            {"member_id": f"C{i:03d}", "phone": f"136{i:04d}{CROWD_END}", "home_store": "S001",
             "updated_at": now, "registered_at": now}
            for i in range(CROWD)
        ]).execute()  # fmt: skip


def _search(world: dict[str, Any], q: str, role: str = "marketing") -> dict[str, Any]:
    got = world["client"].get("/api/crm/members", params={"q": q}, headers=world["heads"][role])
    assert got.status_code == 200, got.text
    return got.json()  # type: ignore[no-any-return]


def _ids(world: dict[str, Any], q: str, role: str = "marketing") -> list[str]:
    return [m["member_id"] for m in _search(world, q, role)["members"]]


def test_the_last_digits_part_of_the_number_or_the_receipts_mask_find_the_member(
    hq: dict[str, Any],  # noqa: F811
) -> None:
    assert w.PHONE == "13812345678" and w.MASKED == "138****5678"
    for q in ("5678", "345678", "1234 5678", "13812", "1381234", w.MASKED, "138 **** 5678",
              "138*5678"):  # fmt: skip
        assert _ids(hq, q) == ["M1"], q
    # The mask's start must match too: another phone ending 5678 is not this one.
    assert _ids(hq, "139****5678") == []
    assert _ids(hq, "1111") == ["M3"] and _ids(hq, "5679") == []
    # A store's sales guide finds its own stores' members only, however the phone is typed.
    assert _ids(hq, "1111", "sales_guide") == [] and _ids(hq, "139****1111", "sales_guide") == []
    assert _ids(hq, "1111", "guide2") == ["M3"] and _ids(hq, "5678", "guide2") == []
    # A masked role still finds them, and still sees only the masked phone.
    found = _search(hq, "5678", "analyst")
    assert [m["phone"] for m in found["members"]] == [w.MASKED]


def test_many_matches_are_listed_to_a_bound_with_how_many_more(hq: dict[str, Any]) -> None:  # noqa: F811
    _crowd(hq["cdb"])
    for q in (CROWD_END, "136****" + CROWD_END):
        found = _search(hq, q)
        assert len(found["members"]) == 50 and found["more"] == CROWD - 50, q
        assert found["more_capped"] is False
        assert all(m["phone"].endswith(CROWD_END) for m in found["members"])
    assert _ids(hq, "1360007" + CROWD_END) == ["C007"]  # the whole phone: one member
    page = hq["client"].get("/members", params={"q": CROWD_END}, headers=hq["heads"]["marketing"])
    assert page.status_code == 200
    assert "另有 10 位会员匹配，请缩小搜索范围。" in page.text
    assert page.text.count('href="/members/C0') == 50


def test_an_empty_result_says_how_the_entry_was_looked_up(hq: dict[str, Any]) -> None:  # noqa: F811
    assert _search(hq, "5679")["read_as"] == ["member_id", "phone_end", "member_code", "card"]
    assert _search(hq, "139****0000")["read_as"] == ["member_id", "masked_phone", "member_code",
                                                      "card"]  # fmt: skip
    page = hq["client"].get("/members", params={"q": "5679"}, headers=hq["heads"]["marketing"])
    assert "没有匹配的会员。已按以下方式查找：会员编号；手机号结尾；会员码；卡号。" in page.text
    assert "小票上的掩码手机号" in page.text
    hq["client"].cookies.set("hq_lang", "en")
    english = hq["client"].get("/members", params={"q": "5679"}, headers=hq["heads"]["marketing"])
    assert (
        "No member matches. Looked up as: member id; end of phone; member code; card number."
    ) in english.text


def test_the_end_of_a_phone_is_found_through_its_index_on_sqlite(tmp_path: Any) -> None:
    """SQLite's plan for the last-digits lookup reads the index on the last four digits."""
    from cloud.domain.crm import search_term
    from cloud.store.crm import search
    from cloud.store.db import open_cloud_db

    cdb = open_cloud_db(f"sqlite:///{tmp_path}/cloud.db")
    try:
        plans: list[str] = []
        orig = cdb.database.execute_sql

        def explained(sql: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
            if sql.startswith("SELECT") and "phone LIKE" in sql:
                rows = orig("EXPLAIN QUERY PLAN " + sql, params).fetchall()
                plans.append(" ".join(str(r[-1]) for r in rows))
            return orig(sql, params, *args, **kwargs)

        cdb.database.execute_sql = explained  # type: ignore[method-assign]
        try:
            search(cdb, search_term("5678"), None)
            search(cdb, search_term("138****5678"), frozenset({"S001"}))
        finally:
            cdb.database.execute_sql = orig  # type: ignore[method-assign]
        assert len(plans) == 2 and all("members_phone_last4" in p for p in plans), plans
    finally:
        cdb.close()


def test_a_database_from_before_the_phone_index_gets_it_on_open(tmp_path: Any) -> None:
    from cloud.store.db import open_cloud_db

    url = f"sqlite:///{tmp_path}/cloud.db"
    cdb = open_cloud_db(url)
    cdb.database.execute_sql("DROP INDEX members_phone_last4")  # as an older release left it
    cdb.close()
    cdb = open_cloud_db(url)
    try:
        assert "members_phone_last4" in {i.name for i in cdb.database.get_indexes("members")}
    finally:
        cdb.close()
