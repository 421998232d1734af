"""A till's follow-up note and complaint reach the member 360 once, however often they arrive,
and a till's complaint goes through HQ's open/resolved workflow (SQLite and PostgreSQL)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.store.crm_privacy import erase_member
from cloud.store.db import open_cloud_db
from protocol.envelope import utc_iso
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.factories import envelope
from tests.cloud.jobs.helpers import Till, day, ingest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOTE = "asked us to call when the 5 kg rice is back"
COMPLAINT = "the rice bag was torn"


@pytest.fixture
def hq(cloud_url: str) -> Iterator[dict[str, Any]]:
    cdb = open_cloud_db(cloud_url)
    try:
        with TestClient(create_app(cloud_url, Recorder())) as client:
            client.headers.update(bearer(token_for(cloud_url, "admin")))
            manager = bearer(token_for(cloud_url, "store_manager"))  # of S001
            yield {"client": client, "cdb": cdb, "manager": manager}
    finally:
        cdb.close()


def _till_records(seq: int) -> list[Any]:
    """The note and the complaint a cashier of S001-T01 wrote about M1, as the till sends them."""
    when = day(2)
    note = {"note_id": "N-1", "member_id": "M1", "staff_id": "C07", "role": "cashier",
            "text": NOTE, "device_time": utc_iso(when)}  # fmt: skip
    complaint = {"complaint_id": "K-1", "member_id": "M1", "sale_id": "S-1", "staff_id": "C07",
                 "text": COMPLAINT, "status": "open", "device_time": utc_iso(when)}  # fmt: skip
    return [
        envelope("S001-T01", seq, note, event_type="member_note", time=when),
        envelope("S001-T01", seq + 1, complaint, event_type="complaint", time=when),
    ]


def test_a_till_note_and_complaint_reach_the_360_once_and_the_complaint_is_resolved(
    hq: dict[str, Any],
) -> None:
    cdb, client = hq["cdb"], hq["client"]
    till = Till(cdb, "S001-T01")
    till.register("M1", "13812345678", day(0), name="赵敏")  # seq 1
    batch = _till_records(2)
    first = ingest(cdb, batch, day(2))
    again = ingest(cdb, batch, day(2))  # the ACK was lost: the same batch comes again
    assert (first.inserted, again.inserted, again.duplicates) == (2, 0, 2)
    view = client.get("/api/crm/members/M1").json()
    assert [(n["author"], n["role"], n["text"]) for n in view["notes"]] == [
        ("till:S001-T01:C07", "cashier", NOTE)
    ]
    assert view["notes"][0]["created_at"].startswith(utc_iso(day(2))[:19])
    [complaint] = view["complaints"]
    assert (complaint["complaint_id"], complaint["status"], complaint["text"]) == (
        "K-1", "open", COMPLAINT)  # fmt: skip
    assert (complaint["origin"], complaint["opened_by"], complaint["sale_id"]) == (
        "till:S001-T01:3", "C07", "S-1")  # fmt: skip
    # The store's manager resolves it; the same events sent once more change nothing.
    done = client.post("/api/crm/complaints/K-1/resolve", json={"note": "refunded the bag"},
                       headers=hq["manager"])  # fmt: skip
    assert done.status_code == 200, done.text
    ingest(cdb, batch, day(2))
    view = client.get("/api/crm/members/M1").json()
    assert len(view["notes"]) == 1
    [complaint] = view["complaints"]
    assert (complaint["status"], complaint["resolution"]) == ("resolved", "refunded the bag")
    c, n = cdb.crm.Complaint, cdb.crm.GuideNote
    assert c.select().count() == 1 and n.select().count() == 1


def test_a_note_about_an_erased_member_is_not_kept(hq: dict[str, Any]) -> None:
    cdb = hq["cdb"]
    till = Till(cdb, "S001-T01")
    till.register("M1", "13812345678", day(0), name="赵敏")
    with cdb.write():
        erase_member(cdb, "M1", actor="admin-user", reason="asked in store", now=day(1),
                     scope="all")  # fmt: skip
    ingest(cdb, _till_records(2), day(2))
    assert cdb.crm.GuideNote.select().count() == 0
    c = cdb.crm.Complaint
    assert [(r.complaint_id, r.text, r.status) for r in c.select()] == [("K-1", "[erased]", "open")]


def test_a_blank_note_adds_nothing_and_a_bad_role_is_dead_lettered(hq: dict[str, Any]) -> None:
    cdb = hq["cdb"]
    Till(cdb, "S001-T01").register("M1", "13812345678", day(0))
    blank = {"note_id": "N-2", "member_id": "M1", "staff_id": "C07", "role": "guide",
             "text": "   ", "device_time": utc_iso(day(2))}  # fmt: skip
    ingest(cdb, [envelope("S001-T01", 2, blank, event_type="member_note", time=day(2))], day(2))
    assert cdb.crm.GuideNote.select().count() == 0
    forged = {**blank, "text": "hi", "role": "admin"}
    with pytest.raises(AssertionError, match="dead_lettered=\\[3\\]"):
        ingest(cdb, [envelope("S001-T01", 3, forged, event_type="member_note", time=day(2))],
               day(2))  # fmt: skip
    assert cdb.crm.GuideNote.select().count() == 0
