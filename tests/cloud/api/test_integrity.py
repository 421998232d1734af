"""HQ reviews what ingest held: accept applies it at its own business day, reject keeps it out."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.api.app import create_app
from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store.apply import IngestRules, apply_batch
from cloud.store.db import open_cloud_db
from protocol.codec import encode_envelope
from protocol.envelope import Envelope
from protocol.topics import events_topic
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.test_app import Offline
from tests.cloud.factories import batch_payload, envelope, sale_body

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

T1 = "S001-T01"


def _store(url: str, envs: list[Envelope]) -> None:
    cdb = open_cloud_db(url)
    try:
        topic = events_topic("S001", T1)
        decoded = decode_events_message(topic, batch_payload(envs))
        assert isinstance(decoded, DecodedBatch)
        apply_batch(cdb, store_id="S001", terminal_id=T1, events=decoded.events, topic=topic,
                    rules=IngestRules())  # fmt: skip
    finally:
        cdb.close()


def _overpaid_earn(seq: int, earn: int) -> Envelope:
    """A member sale claiming more points than the rules give (a till with newer rules, say)."""
    body = sale_body([("A", 1, 12_000)], member_id="M1", earn=earn)
    return envelope(T1, seq, body)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cloud.db"


@pytest.fixture
def admin(db_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(db_url, Offline()), headers=bearer(token_for(db_url))) as c:
        yield c


def _sales(client: TestClient) -> tuple[int, int]:
    totals = client.get("/api/sales", params={"store": "S001"}).json()["totals"]
    return totals["sales_count"], totals["sales_fen"]


def _points(client: TestClient) -> int:
    return int(client.get("/api/members/M1/points").json()["balance"])


def test_held_events_are_listed_then_accepted_or_rejected_once(
    admin: TestClient, db_url: str
) -> None:
    _store(db_url, [envelope(T1, 1, sale_body([("A", 1, 5000)], member_id="M1")),
                    _overpaid_earn(2, 24), _overpaid_earn(3, 36)])  # fmt: skip
    assert _sales(admin) == (1, 5000) and _points(admin) == 5
    held = admin.get("/api/integrity/held").json()
    assert [(h["seq"], h["state"]) for h in held] == [(3, "open"), (2, "open")]
    assert "24 points earned; the rules give 12" in held[1]["reasons"]

    accepted = admin.post(f"/api/integrity/held/{T1}/2/accept", json={"note": "rules v2 till"})
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted"
    assert _sales(admin) == (2, 17_000)  # now in the figures, at its own business day
    assert _points(admin) == 5 + 24
    again = admin.post(f"/api/integrity/held/{T1}/2/accept", json={})
    assert again.status_code == 409 and "already accepted by admin-user" in again.json()["detail"]

    no_note = admin.post(f"/api/integrity/held/{T1}/3/reject", json={"note": " "})
    assert no_note.status_code == 422
    rejected = admin.post(f"/api/integrity/held/{T1}/3/reject", json={"note": "forged earn"})
    assert rejected.status_code == 200
    assert _sales(admin) == (2, 17_000) and _points(admin) == 29  # still out
    assert admin.get("/api/integrity/held").json() == []
    decided = admin.get("/api/integrity/held", params={"state": "rejected"}).json()
    assert [(d["seq"], d["decided_by"], d["note"]) for d in decided] == [
        (3, "admin-user", "forged earn")
    ]
    actions = [(e["action"], e["username"]) for e in admin.get("/api/audit").json()]
    assert {("held_accept", "admin-user"), ("held_reject", "admin-user")} <= set(actions)


def test_only_an_admin_decides_and_store_managers_see_their_stores(
    admin: TestClient, db_url: str
) -> None:
    _store(db_url, [_overpaid_earn(1, 99)])
    app = admin.app
    for role in ("analyst", "store_manager", "marketing", "technician"):
        headers = bearer(token_for(db_url, role))
        with TestClient(app, headers=headers) as other:
            decide = other.post(f"/api/integrity/held/{T1}/1/accept", json={})
            assert decide.status_code == 403, role
    outsider = bearer(token_for(db_url, "store_manager", store_ids=["S002"], username="s2"))
    with TestClient(app, headers=outsider) as other:
        assert other.get("/api/integrity/held").json() == []
    insider = bearer(token_for(db_url, "store_manager", username="s1"))
    with TestClient(app, headers=insider) as other:
        assert [h["seq"] for h in other.get("/api/integrity/held").json()] == [1]


def test_conflicts_and_epochs_are_listed(admin: TestClient, db_url: str) -> None:
    first = envelope(T1, 1, sale_body([("A", 1, 100)]))
    _store(db_url, [first])
    other = json.loads(encode_envelope(envelope(T1, 1, sale_body([("B", 1, 200)]))))
    _store(db_url, [Envelope(**other)])
    [conflict] = admin.get("/api/integrity/conflicts").json()
    assert (conflict["seq"], conflict["stored_event_id"], conflict["event_id"]) == (
        1, first.id, other["id"],
    )  # fmt: skip
    assert conflict["envelope"]["body"]["lines"][0]["sku"] == "B"
    assert admin.get("/api/integrity/epochs").json() == []
