"""HQ member management over the API, on SQLite and PostgreSQL: add, edit, import, adjust, merge.

Every change is checked where a till would see it (the members change log, and what the
publisher was handed) and in the audit log; every refusal answers 404, 409 or 422 with the
reason and changes nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.store.db import CloudDB, open_cloud_db
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.jobs.helpers import Till, day

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def hq(cloud_url: str) -> Iterator[tuple[TestClient, CloudDB, Recorder]]:
    recorder = Recorder()
    headers = bearer(token_for(cloud_url, "marketing"))
    cdb = open_cloud_db(cloud_url)
    try:
        with TestClient(create_app(cloud_url, recorder), headers=headers) as client:
            yield client, cdb, recorder
    finally:
        cdb.close()


def _audit(cdb: CloudDB) -> list[tuple[str, str]]:
    a = cdb.hq.HqAudit
    return [(r.action, r.outcome) for r in a.select().order_by(a.id)]


def _balance(client: TestClient, member: str) -> int:
    return int(client.get(f"/api/members/{member}/points").json()["balance"])


def test_hq_adds_and_edits_a_member_and_the_tills_get_its_facts(hq: Any) -> None:
    client, cdb, sent = hq
    made = client.post(
        "/api/members",
        json={
            "member_id": "M1",
            "phone": "+86 138-0000-1111",
            "name": "赵敏",
            "birthday": "1990-05-04",
            "cards": ["C-1"],
            "member_code": "QR1",
        },
    )
    assert made.status_code == 201 and made.json() == {
        "member_id": "M1",
        "created": True,
        "published": 1,
    }
    [(kind, [item])] = sent.members()
    assert kind == "upsert" and {
        k: item[k]
        for k in (
            "member_id",
            "phone",
            "name",
            "birthday",
            "cards",
            "member_code",
            "points_balance",
            "tier",
            "rev",
        )
    } == {
        "member_id": "M1",
        "phone": "13800001111",
        "name": "赵敏",
        "birthday": "1990-05-04",
        "cards": ["C-1"],
        "member_code": "QR1",
        "points_balance": 0,
        "tier": "regular",
        "rev": 1,
    }
    # The same request again is no change; another id with the phone, card or code is refused.
    same = client.post(
        "/api/members",
        json={
            "member_id": "M1",
            "phone": "13800001111",
            "name": "赵敏",
            "birthday": "1990-05-04",
            "cards": ["C-1"],
            "member_code": "QR1",
        },
    )
    assert same.status_code == 200 and same.json()["created"] is False
    for clash, held in (
        ({"phone": "13800001111"}, "phone 13800001111 is held by M1"),
        ({"phone": "139", "cards": ["C-1"]}, "is not a phone number"),
        ({"phone": "13900000000", "cards": ["C-1"]}, "card C-1 is held by M1"),
        ({"phone": "13900000000", "member_code": "QR1"}, "member code QR1 is held by M1"),
    ):
        refused = client.post("/api/members", json={"member_id": "M2", **clash})
        assert refused.status_code in (409, 422) and held in refused.json()["detail"], clash
    assert client.post("/api/members", json={"member_id": "M2"}).status_code == 422  # no phone

    edit = client.patch("/api/members/M1", json={"name": "赵敏敏", "opt_out_sms": True})
    assert edit.json()["changed"] == {"name": ["赵敏", "赵敏敏"], "opt_out_sms": [False, True]}
    kind, [item] = sent.members()[-1]
    assert (item["name"], item["opt_out_sms"], item["rev"]) == ("赵敏敏", True, 2)
    assert item["birthday"] == "1990-05-04"  # fields not edited are still carried
    unchanged = client.patch("/api/members/M1", json={"name": "赵敏敏"})
    assert unchanged.json() == {"member_id": "M1", "changed": {}, "published": 0}
    for body, status, text in (
        ({"birthday": None}, 422, "can be corrected, not removed"),
        ({}, 422, "nothing to change"),
        ({"gender": "q"}, 422, ""),
        ({"shoe_size": 42}, 422, ""),
    ):
        bad = client.patch("/api/members/M1", json=body)
        assert bad.status_code == status and text in bad.text, body
    assert client.patch("/api/members/M404", json={"name": "x"}).status_code == 404
    assert len(sent.members()) == 2
    assert _audit(cdb)[:2] == [("member_create", "ok"), ("member_create", "ok")]
    assert ("member_edit", "refused") in _audit(cdb)


def test_a_points_adjustment_needs_a_reason_never_overdraws_and_is_made_once(hq: Any) -> None:
    client, cdb, sent = hq
    client.post("/api/members", json={"member_id": "M1", "phone": "13800001111"})
    given = client.post(
        "/api/members/M1/points/adjust",
        json={"delta": 500, "reason": "apology for a broken fridge", "request_id": "ticket-77"},
    )
    assert given.status_code == 201, given.text
    assert (given.json()["balance_after"], given.json()["replayed"]) == (500, False)
    assert _balance(client, "M1") == 500 and sent.members()[-1][1][0]["points_balance"] == 500
    # A retry of the same request (a lost answer) changes nothing.
    retry = client.post(
        "/api/members/M1/points/adjust",
        json={"delta": 500, "reason": "apology for a broken fridge", "request_id": "ticket-77"},
    )
    assert retry.status_code == 200 and retry.json()["replayed"] is True
    assert retry.json()["adjustment_id"] == given.json()["adjustment_id"]
    assert _balance(client, "M1") == 500
    p = cdb.models.PointsLedger
    rows = [(r.delta, r.reason, r.origin_terminal) for r in p.select().where(p.member_id == "M1")]
    assert rows == [(500, "adjust", "hq:adjust")]
    adj = cdb.jobs.PointsAdjustment.get(cdb.jobs.PointsAdjustment.request_id == "ticket-77")
    assert (adj.reason, adj.actor) == ("apology for a broken fridge", "marketing-user")

    refusals = [
        ({"delta": -501, "reason": "typo"}, 409, "the balance is 500, so at most 500 can be taken"),
        ({"delta": 50}, 422, "say why the points are adjusted"),
        ({"delta": 50, "reason": "   "}, 422, "say why the points are adjusted"),
        ({"delta": 0, "reason": "x"}, 422, "changes nothing"),
        ({"delta": 5, "reason": "x", "request_id": "ticket-77"}, 409, "was used for another"),
        ({"delta": 10**9, "reason": "x"}, 422, ""),
    ]
    for body, status, text in refusals:
        bad = client.post("/api/members/M1/points/adjust", json=body)
        assert bad.status_code == status and text in bad.text, (body, bad.text)
    missing = client.post("/api/members/M404/points/adjust", json={"delta": 5, "reason": "x"})
    assert missing.status_code == 404 and "no member 'M404'" in missing.text
    assert _balance(client, "M1") == 500 and len(rows) == 1
    # Taking all of it is allowed: the balance may reach zero, never below by hand.
    emptied = client.post("/api/members/M1/points/adjust", json={"delta": -500, "reason": "gone"})
    assert emptied.json()["balance_after"] == 0 and _balance(client, "M1") == 0
    # Each refusal the route made is audited (the out-of-range delta never reached it).
    audit = _audit(cdb)
    assert (
        audit.count(("points_adjust", "ok")) == 3 and audit.count(("points_adjust", "refused")) == 6
    )


def _people(n: int, start: int = 1) -> list[dict[str, Any]]:
    return [
        {
            "member_id": f"IMP{i:03d}",
            "phone": f"1370000{i:04d}",
            "name": f"会员{i}",
            "tier": ("regular", "silver", "gold")[i % 3],
            "points_balance": 10 * i,
            "cumulative_spend_fen": 250_000 * (i % 3),
            "cards": [f"CARD{i}"],
            "member_code": f"IMP{i:03d}",
        }
        for i in range(start, start + n)
    ]


def test_a_bulk_import_brings_opening_balances_once_all_or_nothing(hq: Any) -> None:
    client, cdb, sent = hq
    admin = bearer(token_for(str(cdb.url), "admin"))
    assert client.post("/api/members/import", json={"members": _people(3)}).status_code == 403
    done = client.post(
        "/api/members/import", headers=admin, json={"home_store": "S001", "members": _people(3)}
    )
    assert done.json() == {"created": 3, "already_imported": 0, "published": 1}, done.text
    points = client.get("/api/members/IMP002/points").json()
    assert (points["tier"], points["balance"], points["cumulative_spend_fen"]) == (
        "gold",
        20,
        500_000,
    )
    assert [(r["reason"], r["delta"]) for r in points["ledger"]] == [("adjust", 20)]
    opening = cdb.jobs.PointsAdjustment.get(cdb.jobs.PointsAdjustment.member_id == "IMP002")
    assert opening.reason == "opening balance"
    tc = cdb.models.TierChange
    assert sorted(
        (r.member_id, r.new_tier) for r in tc.select().where(tc.origin_terminal == "hq:import")
    ) == [("IMP001", "silver"), ("IMP002", "gold")]
    [(_, items)] = sent.members()
    assert [(i["member_id"], i["points_balance"], i["tier"]) for i in items] == [
        ("IMP001", 10, "silver"),
        ("IMP002", 20, "gold"),
        ("IMP003", 30, "regular"),
    ]

    again = client.post("/api/members/import", headers=admin, json={"members": _people(3)})
    assert again.json() == {"created": 0, "already_imported": 3, "published": 0}
    assert _balance(client, "IMP002") == 20 and len(sent.members()) == 1

    members = cdb.models.Member.select().count()
    clash = _people(2, start=4)
    clash[1]["phone"] = "13700000001"  # IMP001's
    refused = client.post("/api/members/import", headers=admin, json={"members": clash})
    assert refused.status_code == 409 and "phone 13700000001 is held by IMP001" in refused.text
    bad = _people(2, start=4)
    bad[1]["phone"] = "12"
    worse = client.post("/api/members/import", headers=admin, json={"members": bad})
    assert worse.status_code == 422 and "members[1] IMP005" in worse.text
    twice = _people(1, start=4) * 2
    dup = client.post("/api/members/import", headers=admin, json={"members": twice})
    assert dup.status_code == 422 and "id IMP004 also in IMP004" in dup.text
    assert cdb.models.Member.select().count() == members  # nothing of a refused import


def test_hq_merges_a_duplicate_by_hand_and_refuses_what_is_not_one(hq: Any) -> None:
    client, cdb, sent = hq
    first, second = Till(cdb, "S001-T01"), Till(cdb, "S002-T01")
    first.register("M-A", "13800001111", day(0))
    first.sale("M-A", 1000, day(0))
    # Ingest joins a second registration of one phone at once; this pair is one an earlier
    # release left (it only marked duplicates), which HQ merges by hand.
    second.register("M-B", "13900009999", day(1))
    second.sale("M-B", 500, day(1))
    m = cdb.models.Member
    m.update(phone="13800001111").where(m.member_id == "M-B").execute()
    client.post("/api/members", json={"member_id": "M-OTHER", "phone": "13900000000"})
    for body, status, text in (
        ({"into": "M-A"}, 422, "say why"),
        ({"into": "M-B", "reason": "x"}, 422, "cannot be merged into itself"),
        ({"into": "M-404", "reason": "x"}, 404, "no member 'M-404'"),
        ({"into": "M-OTHER", "reason": "x"}, 409, "have different phones"),
    ):
        bad = client.post("/api/members/M-B/merge", json=body)
        assert bad.status_code == status and text in bad.text, (body, bad.text)
    done = client.post("/api/members/M-B/merge", json={"into": "M-A", "reason": "same customer"})
    assert done.status_code == 200, done.text
    assert (done.json()["survivor"], done.json()["already"], done.json()["published"]) == (
        "M-A",
        False,
        2,
    )
    assert _balance(client, "M-A") == 150 and sent.members()[-2] == (
        "delete",
        [{"member_id": "M-B"}],
    )
    again = client.post("/api/members/M-B/merge", json={"into": "M-A", "reason": "same customer"})
    assert again.json()["already"] is True and again.json()["published"] == 0
    elsewhere = client.post("/api/members/M-B/merge", json={"into": "M-OTHER", "reason": "x"})
    assert elsewhere.status_code == 409 and "was merged into M-A already" in elsewhere.text
    # A merged-away id takes no more changes by hand.
    adjust = client.post("/api/members/M-B/points/adjust", json={"delta": 5, "reason": "x"})
    assert adjust.status_code == 409 and "adjust M-A" in adjust.text
    edit = client.patch("/api/members/M-B", json={"name": "x"})
    assert edit.status_code == 409 and "edit M-A" in edit.text
    assert _audit(cdb).count(("member_merge", "ok")) == 2


def test_a_birthday_in_the_future_or_before_1900_is_refused_and_changes_nothing(hq: Any) -> None:
    client, _cdb, sent = hq
    assert client.post("/api/members", json={"member_id": "B1", "phone": "13800002222"}).is_success
    published = len(sent.sent)
    for when in ("2090-05-04", "1890-05-04"):
        made = client.post(
            "/api/members", json={"member_id": "B2", "phone": "13800003333", "birthday": when}
        )
        assert made.status_code == 422 and f"birthday {when}" in made.json()["detail"]
        edited = client.patch("/api/members/B1", json={"birthday": when})
        assert edited.status_code == 422 and "date of birth" in edited.json()["detail"]
    assert client.get("/api/crm/members/B2").status_code == 404
    assert client.get("/api/crm/members/B1").json()["profile"]["birthday"] is None
    assert len(sent.sent) == published  # nothing went to the tills
    assert client.patch("/api/members/B1", json={"birthday": "1990-05-04"}).is_success
