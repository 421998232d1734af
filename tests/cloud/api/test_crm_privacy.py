"""Privacy requests on SQLite and PostgreSQL: a member's data exported whole; an erasure that
leaves every report and figure as it was, no personal data in any table or in what the tills
are sent, the member dropped at the tills and never pushed again."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.store.db import CloudDB, open_cloud_db
from cloud.store.downstream import changes_since
from cloud.store.reports import REPORTS
from cloud.store.snapshot import build_snapshot
from device.store.db import open_database
from device.sync.storage import SyncStorage
from tests.cloud.api import crm_world as w
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.jobs.helpers import Till, day

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

MONTH = {"date_from": "2025-03-01", "date_to": "2025-03-31", "limit": 5000}


@pytest.fixture
def hq(cloud_url: str) -> Iterator[dict[str, Any]]:
    admin = bearer(token_for(cloud_url, "admin"))
    analyst = bearer(token_for(cloud_url, "analyst"))
    cdb = open_cloud_db(cloud_url)
    recorder = Recorder()
    try:
        with TestClient(create_app(cloud_url, recorder), headers=admin) as client:
            world = w.build(cdb, client)
            yield {"client": client, "cdb": cdb, "sent": recorder, "analyst": analyst, **world}
    finally:
        cdb.close()


def _reports(client: TestClient) -> dict[str, Any]:
    out = {}
    for name in REPORTS:
        got = client.get(f"/api/reports/{name}", params=MONTH)
        assert got.status_code == 200, (name, got.text)
        out[name] = got.json()["rows"]
    return out


def _figures(client: TestClient, member_id: str) -> dict[str, Any]:
    view = client.get(f"/api/crm/members/{member_id}").json()
    return {
        "balance": view["points"]["balance"],
        "ledger": [(r["delta"], r["reason"], r["origin_terminal"], r["origin_seq"])
                   for r in view["points"]["ledger"]],
        "spend": view["profile"]["cumulative_spend_fen"],
        "tier": view["profile"]["tier"],
        "totals": view["totals"],
        "purchases": [(p["receipt_no"], p["total_fen"], [i["net_fen"] for i in p["items"]])
                      for p in view["purchases"]],
        "coupon_uses": [(u["code"], u["amount_fen"]) for u in view["coupons"]["used"]],
    }  # fmt: skip


def _text(value: Any) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


class TillFile:
    """A real till store file that applies the cloud's members changes as a till does."""

    def __init__(self, path: Path) -> None:
        open_database(path, create=True).close()
        self.storage = SyncStorage.open(path)

    def catch_up(self, cdb: CloudDB) -> None:
        for change in changes_since(cdb, "members", "S001", self.storage.version("members")):
            self.storage.apply("members", change["version"], change["kind"], change["items"])

    def phone_of(self, member_id: str) -> str | None:
        member = self.storage.members.by_id(member_id)
        return None if member is None else member.phone


def personal_data_left(cdb: CloudDB, secrets: tuple[str, ...]) -> list[str]:
    """Every (table, secret) found in any column of any row of the whole database."""
    found = []
    for table in sorted(cdb.database.get_tables()):
        cursor = cdb.database.execute_sql(f'SELECT * FROM "{table}"')
        for row in cursor.fetchall():
            text = "\x1f".join(_text(v) for v in row)
            found += [f"{table}: {s}" for s in secrets if s in text]
    return sorted(set(found))


def test_the_export_holds_everything_on_the_member(hq: dict[str, Any]) -> None:
    client = hq["client"]
    got = client.get("/api/crm/members/M1/export")
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    assert 'filename="member-M1.json"' in got.headers["content-disposition"]
    data = got.json()
    assert data["member_id"] == "M1" and data["ids"] == ["M1"]
    [profile] = data["profiles"]
    assert (profile["phone"], profile["name"], profile["birthday"]) == (w.PHONE, w.NAME, w.BIRTHDAY)
    assert profile["cards"] == [w.CARD] and profile["member_code"] == w.CODE
    # The registration, two sales, the return and the complaint the tills sent.
    assert sorted(e["type"] for e in data["events"]) == [
        "complaint", "member_registered", "return", "sale", "sale"]  # fmt: skip
    assert sum(r["delta"] for r in data["points_ledger"]) == 60
    assert [a["reason"] for a in data["points_adjustments"]] == ["goodwill for the wait"]
    assert [c["code"] for c in data["coupons"]] == [hq["coupon"]]
    assert data["view"]["purchases"][1]["rating"]["comment"] == w.COMMENT
    a = hq["cdb"].hq.HqAudit
    last = a.select().order_by(a.id.desc()).get()
    assert (last.action, last.outcome, last.detail) == ("member_export", "ok", {"member_id": "M1"})
    assert client.get("/api/crm/members/NOPE/export").status_code == 404


def test_erasure_keeps_every_figure_and_leaves_no_personal_data(
    hq: dict[str, Any], tmp_path: Path
) -> None:
    client, cdb, sent = hq["client"], hq["cdb"], hq["sent"]
    till = TillFile(tmp_path / "till.db")
    till.catch_up(cdb)
    assert till.phone_of("M1") == w.PHONE  # the till learnt M1 from the cloud
    # HQ's own records on the member are personal too.
    client.post("/api/crm/members/M1/notes", json={"text": f"likes {w.NAME}'s usual order"})
    client.post("/api/crm/members/M1/tags", json={"tags": ["vip"]})
    client.put("/api/crm/members/M1/preferences", json={"values": {"size": "M"}})
    # Before: the secrets are there (so the scan below can find them).
    assert set(personal_data_left(cdb, w.SECRETS)) >= {
        f"members: {w.PHONE}", f"events: {w.NAME}", f"down_changes: {w.CARD}",
        f"events: {w.COMMENT}", f"events: {w.COMPLAINT}"}  # fmt: skip
    reports, figures = _reports(client), _figures(client, "M1")
    other = _figures(client, "M3")
    wrong = client.post("/api/crm/members/M1/erase", json={"confirm": "M3", "reason": "asked"})
    assert wrong.status_code == 422 and _figures(client, "M1") == figures
    pushed_before = len(sent.sent)
    done = client.post("/api/crm/members/M1/erase", json={"confirm": "M1", "reason": "asked"})
    assert done.status_code == 200, done.text
    assert done.json()["already"] is False and done.json()["ids"] == ["M1"]
    # The tills are told to drop the member, and nothing personal goes with it.
    assert sent.members()[-1] == ("delete", [{"member_id": "M1"}])
    for _, payload in sent.sent[pushed_before:]:
        assert not [s for s in w.SECRETS if s.encode() in payload]
    # Reports and figures add up exactly as before; the profile is gone.
    assert _reports(client) == reports
    assert _figures(client, "M1") == figures and _figures(client, "M3") == other
    view = client.get("/api/crm/members/M1").json()
    p = view["profile"]
    assert (p["phone"], p["name"], p["birthday"], p["cards"], p["member_code"]) == (
        "", "", None, [], "")  # fmt: skip
    assert view["erased"]["erased_by"] == "admin-user" and view["tags"] == []
    assert personal_data_left(cdb, w.SECRETS) == []
    # The till drops M1; a till set up now, catching up from the start, never learns M1.
    till.catch_up(cdb)
    assert till.phone_of("M1") is None and till.storage.members.by_phone(w.PHONE) is None
    fresh = TillFile(tmp_path / "fresh.db")
    fresh.catch_up(cdb)
    assert fresh.phone_of("M1") is None and fresh.phone_of("M3") == w.OTHER_PHONE
    # Searching by what the member was known by finds nothing.
    for q in (w.PHONE, w.CARD, w.NAME, w.CODE):
        assert client.get("/api/crm/members", params={"q": q}).json()["members"] == [], q
    # A till that had not heard yet sells to M1 offline: points count, the member is not pushed.
    changes = cdb.models.DownChange
    last = changes.select().order_by(changes.id.desc()).get().id
    hq["t1"].sale("M1", 30, day(4))
    assert _figures(client, "M1")["balance"] == figures["balance"] + 3
    pushed = [c.items for c in changes.select().where(
        (changes.id > last) & (changes.stream == "members"))]  # fmt: skip
    assert not [i for items in pushed for i in items if i["member_id"] == "M1"]
    snapshot = build_snapshot(cdb, "members", "S001")
    assert "M1" not in {i["member_id"] for i in snapshot.items}
    assert personal_data_left(cdb, w.SECRETS) == []
    # Erasing again changes nothing and tells no one; every request was audited.
    pushed_before = len(sent.sent)
    again = client.post("/api/crm/members/M1/erase", json={"confirm": "M1", "reason": "asked"})
    assert again.json()["already"] is True and len(sent.sent) == pushed_before
    a = cdb.hq.HqAudit
    erasures = [(r.outcome, r.detail.get("already")) for r in a.select().where(
        a.action == "member_erase").order_by(a.id)]  # fmt: skip
    assert erasures == [("refused", None), ("ok", False), ("ok", True)]
    # No more records on an erased member.
    assert client.post("/api/crm/members/M1/notes", json={"text": "x"}).status_code == 409


def test_an_erasure_takes_the_ids_merged_into_the_member_with_it(hq: dict[str, Any]) -> None:
    client, cdb = hq["client"], hq["cdb"]
    # The customer registered again at another till: joined into M1 (HQ's merge finds it made).
    t2 = hq["t2"]
    t2.register("M1B", w.PHONE, day(5), name=w.NAME)
    merged = client.post("/api/members/M1B/merge", json={"into": "M1", "reason": "same person"})
    assert merged.status_code == 200, merged.text
    assert json.dumps(client.get("/api/crm/members/M1").json()["merged_ids"]) == '["M1B"]'
    done = client.post("/api/crm/members/M1/erase", json={"confirm": "M1", "reason": "asked"})
    assert done.json()["ids"] == ["M1", "M1B"]
    assert hq["sent"].members()[-1] == ("delete", [{"member_id": "M1"}, {"member_id": "M1B"}])
    assert personal_data_left(cdb, w.SECRETS) == []


def test_a_registration_arriving_after_the_erasure_brings_nothing_back(
    hq: dict[str, Any],
) -> None:
    # A till offline since before the erasure sends its copy of M1's registration late (its
    # outbox was restored onto a new store file, say). The erasure must still hold.
    client, cdb = hq["client"], hq["cdb"]
    done = client.post("/api/crm/members/M1/erase", json={"confirm": "M1", "reason": "asked"})
    assert done.status_code == 200, done.text
    changes = cdb.models.DownChange
    last = changes.select().order_by(changes.id.desc()).get().id
    t3 = Till(cdb, "S001-T03")
    t3.register("M1", w.PHONE, day(6), name=w.NAME)
    t3.sale("M1", 40, day(6))  # it also sold to M1: the points still count
    view = client.get("/api/crm/members/M1").json()
    p = view["profile"]
    assert (p["phone"], p["name"]) == ("", ""), p
    assert view["points"]["balance"] == _figures(client, "M1")["balance"]
    assert personal_data_left(cdb, w.SECRETS) == []
    pushed = [c.items for c in changes.select().where(
        (changes.id > last) & (changes.stream == "members"))]  # fmt: skip
    assert not [i for items in pushed for i in items if i["member_id"] == "M1"]
    for q in (w.PHONE, w.NAME):
        assert client.get("/api/crm/members", params={"q": q}).json()["members"] == [], q
    # The event itself is kept (the till's seq is accounted for), without the person in it.
    e = cdb.models.Event
    late = e.get((e.terminal_id == "S001-T03") & (e.type == "member_registered"))
    assert late.member_id == "M1" and w.PHONE not in json.dumps(late.body, ensure_ascii=False)
