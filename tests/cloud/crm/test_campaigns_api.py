"""Campaigns over the HQ API: opted-out members never appear in any export path, phones go
only to roles allowed them, every export is audited; segments, dormant and birthdays read."""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.api.policy import Role
from cloud.store.db import open_cloud_db
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.crm import dataset
from tests.cloud.jobs.helpers import day, run

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROLES = [r.value for r in Role]
OPTED_OUT = {"C", "G"}  # C is at-risk and G never bought: both said no to messages


@pytest.fixture
def world(cloud_url: str) -> Iterator[dict[str, Any]]:
    url = cloud_url
    tokens = {role: token_for(url, role) for role in ROLES}
    cdb = open_cloud_db(url)
    dataset.load(cdb)
    m = cdb.models.Member
    m.update(opt_out_sms=True).where(m.member_id.in_(sorted(OPTED_OUT))).execute()
    run(cdb, "rfm_segments", day(dataset.SCORED_ON))
    try:
        with TestClient(create_app(url, Recorder())) as client:
            yield {"client": client, "tokens": tokens, "cdb": cdb}
    finally:
        cdb.close()


def h(world: dict, role: str) -> dict[str, str]:
    return bearer(world["tokens"][role])


def campaign(world: dict, **audience: Any) -> int:
    body = {"name": "春季回馈", "template": "campaign_notice", "lang": "zh_CN", **audience}
    reply = world["client"].post("/api/campaigns", headers=h(world, "marketing"), json=body)
    assert reply.status_code == 201, reply.text
    return int(reply.json()["id"])


def export_rows(world: dict, cid: int, fmt: str, role: str = "marketing") -> list[dict]:
    reply = world["client"].get(f"/api/campaigns/{cid}/export?format={fmt}",
                                headers=h(world, role))  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert "attachment" in reply.headers["content-disposition"]
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(reply.content.decode("utf-8-sig"))))
    return [json.loads(line) for line in reply.text.splitlines()]


def test_opted_out_members_never_appear_in_any_export_path(world: dict) -> None:
    client, cdb = world["client"], world["cdb"]
    everyone = campaign(world)  # no segment, no filter: every member with a phone
    at_risk = campaign(world, segment="at-risk")  # C and D, C opted out
    listed = campaign(world, member_ids=["A", "C", "G"])  # a given set (e.g. found by tag)
    expected = {everyone: {"A", "B", "D", "E", "F"}, at_risk: {"D"}, listed: {"A"}}
    for cid, members in expected.items():
        for fmt in ("csv", "jsonl"):
            rows = export_rows(world, cid, fmt)
            assert {r["member_id"] for r in rows} == members, (cid, fmt)
        queued = client.post(f"/api/campaigns/{cid}/queue", headers=h(world, "marketing"))
        assert queued.status_code == 200 and queued.json()["queued"] == len(members)
        gateway = client.get(f"/api/message-queue?campaign_id={cid}",
                             headers=h(world, "marketing")).json()  # fmt: skip
        assert {g["member_id"] for g in gateway} == members
    # Queueing again (a retried request) adds nobody twice.
    again = client.post(f"/api/campaigns/{everyone}/queue", headers=h(world, "marketing"))
    assert again.json()["queued"] == 0
    # A member opting out after the queue was filled is not handed to the gateway.
    m = cdb.models.Member
    m.update(opt_out_sms=True).where(m.member_id == "D").execute()
    gateway = client.get("/api/message-queue", headers=h(world, "marketing")).json()
    assert "D" not in {g["member_id"] for g in gateway}
    assert {g["member_id"] for g in gateway} == {"A", "B", "E", "F"}
    assert not OPTED_OUT & {r["member_id"] for r in export_rows(world, everyone, "csv")}


def test_messages_are_filled_from_the_template(world: dict) -> None:
    client = world["client"]
    put = client.put("/api/crm/templates/campaign_notice/en", headers=h(world, "marketing"),
                     json={"text": "Hi {name}, {campaign} for {tier} members!"})  # fmt: skip
    assert put.status_code == 200, put.text
    bad = client.put("/api/crm/templates/campaign_notice/en", headers=h(world, "marketing"),
                     json={"text": "Hi {nmae}"})  # fmt: skip
    assert bad.status_code == 422 and "nmae" in bad.text
    reply = client.post("/api/campaigns", headers=h(world, "marketing"),
                        json={"name": "Spring", "lang": "en", "segment": "high-value"})  # fmt: skip
    rows = export_rows(world, reply.json()["id"], "jsonl")
    assert rows == [{"member_id": "A", "phone": dataset.PHONES["A"], "name": "顾客A",
                     "tier": "regular", "home_store": "S001", "lang": "en",
                     "text": "Hi 顾客A, Spring for regular members!"}]  # fmt: skip
    zh = export_rows(world, campaign(world, segment="high-value"), "csv")
    assert zh[0]["text"] == "顾客A，春季回馈活动开始啦，regular会员专享。回复TD退订。"


def test_roles_against_exports_and_every_export_is_audited(world: dict) -> None:
    client, cdb = world["client"], world["cdb"]
    cid = campaign(world, segment="high-value")
    audit = cdb.hq.HqAudit
    before = audit.select().where(audit.action == "campaign_export").count()
    # Analysts may export, with phones and names masked.
    rows = export_rows(world, cid, "csv", role="analyst")
    assert rows[0]["phone"] == "138****0001" and rows[0]["name"] == "顾**"
    assert "13800000001" not in json.dumps(rows)
    assert export_rows(world, cid, "csv", role="admin")[0]["phone"] == "13800000001"
    for role in ("store_manager", "technician"):
        for path in (f"/api/campaigns/{cid}/export", "/api/message-queue"):
            assert client.get(path, headers=h(world, role)).status_code == 403, (role, path)
        assert client.post(f"/api/campaigns/{cid}/queue", headers=h(world, role)).status_code == 403
    # The gateway queue holds phones: analysts may not read it, nor fill it, nor add campaigns.
    assert client.get("/api/message-queue", headers=h(world, "analyst")).status_code == 403
    assert (
        client.post(f"/api/campaigns/{cid}/queue", headers=h(world, "analyst")).status_code == 403
    )
    assert client.post("/api/campaigns", headers=h(world, "analyst"),
                       json={"name": "x"}).status_code == 403  # fmt: skip
    assert client.get(f"/api/campaigns/{cid}/export").status_code == 401  # no credentials
    rows_audited = [
        (r.username, r.detail["masked"], r.detail["rows"])
        for r in audit.select().where(audit.action == "campaign_export").order_by(audit.id)
    ][before:]
    assert [(u.split("-")[0], m, n) for u, m, n in rows_audited] == [
        ("analyst", True, 1),
        ("admin", False, 1),
    ]
    # A forged body: unknown fields and unknown segments are refused, nothing is stored.
    forged = client.post("/api/campaigns", headers=h(world, "marketing"),
                         json={"name": "x", "include_opted_out": True})  # fmt: skip
    assert forged.status_code == 422
    assert client.get("/api/campaigns/999/export", headers=h(world, "marketing")).status_code == 404


def test_segments_dormant_and_birthdays_over_the_api(world: dict) -> None:
    client = world["client"]
    view = client.get("/api/segments", headers=h(world, "analyst")).json()
    assert view["run"]["policy"]["method"] == "quintiles"
    assert {s["label"]: s["members"] for s in view["segments"]} == {
        "new": 1,
        "regular": 1,
        "high-value": 1,
        "at-risk": 2,
        "one-off": 1,
    }
    dormant = client.get("/api/segments/dormant", headers=h(world, "analyst")).json()
    assert [
        (d["member_id"], d["phone"], d["last_sale"]["store_id"]) for d in dormant["members"]
    ] == [("D", "138****0004", "S001")]
    full = client.get("/api/segments/dormant?multiple=11", headers=h(world, "marketing")).json()
    assert full["members"] == []
    members = client.get("/api/segments/members?label=at-risk", headers=h(world, "marketing"))
    assert [(m["member_id"], m["phone"]) for m in members.json()] == [
        ("D", "13800000004"),
        ("C", "13800000003"),
    ]
    assert client.get("/api/segments", headers=h(world, "store_manager")).status_code == 403
    behaviour = client.get("/api/segments/members/A/behaviour", headers=h(world, "analyst"))
    assert behaviour.json()["cycle_days"] == 30.0


def test_hq_recomputes_segments_on_demand(world: dict) -> None:
    client = world["client"]
    before = client.get("/api/segments", headers=h(world, "analyst")).json()["run"]["run_id"]
    ran = client.post("/api/jobs/rfm_segments/run", headers=h(world, "admin"), json={})
    assert ran.status_code == 200 and ran.json()["state"] == "ok", ran.text
    view = client.get("/api/segments", headers=h(world, "analyst")).json()
    assert view["run"]["previous_run"] == before and view["run"]["run_id"] == ran.json()["run_id"]
    # Scored today with the same sales: every rank keeps its order, so the scores stay; only
    # E's first purchase is no longer within 30 days (new -> regular: R4, F1, M1).
    assert {(m["from"], m["to"]): m["members"] for m in view["moves"]} == {
        ("high-value", "high-value"): 1, ("regular", "regular"): 1, ("at-risk", "at-risk"): 2,
        ("one-off", "one-off"): 1, ("new", "regular"): 1,
    }  # fmt: skip


def test_a_campaign_by_tags_reaches_only_members_with_every_tag_and_never_an_opted_out_one(
    world: dict,
) -> None:
    client = world["client"]
    # A sales guide's tags (A and C carry both; B only one; C opted out of messages).
    for member, tags in (("A", ["vip", "跟进"]), ("B", ["vip"]), ("C", ["VIP", "跟进"])):
        reply = client.post(f"/api/crm/members/{member}/tags", headers=h(world, "marketing"),
                            json={"tags": tags})  # fmt: skip
        assert reply.status_code < 300, reply.text
    both = campaign(world, tags=["VIP", "跟进"])  # written any way: stored lower case
    one = campaign(world, tags=["vip"])
    for cid, members in ((both, {"A"}), (one, {"A", "B"})):
        for fmt in ("csv", "jsonl"):
            assert {r["member_id"] for r in export_rows(world, cid, fmt)} == members, (cid, fmt)
        queued = client.post(f"/api/campaigns/{cid}/queue", headers=h(world, "marketing"))
        assert queued.json()["queued"] == len(members)
    bad = client.post("/api/campaigns", headers=h(world, "marketing"),
                      json={"name": "x", "tags": ["no spaces please"]})  # fmt: skip
    assert bad.status_code == 422 and "no spaces" in bad.text
