"""HQ's coupon and returns areas on a real SQLite file: issue, bad input, roles, reports."""

from __future__ import annotations

import datetime as dt
import json
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store.apply import IngestRules, apply_batch
from cloud.store.db import open_cloud_db
from protocol.codec import decode_down
from protocol.envelope import Envelope
from protocol.topics import events_topic
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.browser import Served, call
from tests.cloud.factories import batch_payload, envelope, registration_body, sale_body
from tests.cloud.remote_factories import coupon_sale, return_body

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NEXT_YEAR = (dt.date.today() + dt.timedelta(days=365)).isoformat()


class Recorder:
    """A publisher that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes) -> None:
        self.sent.append((topic, payload))


def _store(url: str, envs: Sequence[Envelope]) -> None:
    cdb = open_cloud_db(url)
    first = envs[0]
    topic = events_topic(first.store_id, first.terminal_id)
    decoded = decode_events_message(topic, batch_payload(envs))
    assert isinstance(decoded, DecodedBatch)
    apply_batch(
        cdb,
        store_id=first.store_id,
        terminal_id=first.terminal_id,
        events=decoded.events,
        topic=topic,
        rules=IngestRules(),
    )
    cdb.close()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cloud.db"


@pytest.fixture
def sent() -> Recorder:
    return Recorder()


def _client(db_url: str, sent: Recorder, role: str = "admin", **kw: Any) -> TestClient:
    headers = bearer(token_for(db_url, role, **kw))
    return TestClient(create_app(db_url, sent), headers=headers)


@pytest.fixture
def api(db_url: str, sent: Recorder) -> Iterator[TestClient]:
    with _client(db_url, sent) as client:
        yield client


def test_hq_issues_coupons_and_every_store_is_told(api: TestClient, sent: Recorder) -> None:
    reply = api.post(
        "/api/coupons",
        json={
            "kind": "amount",
            "value": 2000,
            "min_spend_fen": 10000,
            "valid_until": NEXT_YEAR,
            "codes": ["VIP-1"],
        },
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["codes"] == ["VIP-1"] and reply.json()["published"]
    [(topic, payload)] = sent.sent
    change = decode_down(payload)
    assert topic == "pos/v1/down/all/coupons" and change.stream == "coupons"
    assert change.items == [
        {
            "code": "VIP-1",
            "kind": "amount",
            "value": 2000,
            "min_spend_fen": 10000,
            "max_uses": 1,
            "uses": 0,
            "revoked": False,
            "stores": [],
            "valid_until": NEXT_YEAR,
        }
    ]
    batch = api.post(
        "/api/coupons",
        json={
            "kind": "percent",
            "value": 1500,
            "count": 3,
            "prefix": "SPRING",
            "max_uses": 5,
            "stores": ["S001"],
        },
    )
    codes = batch.json()["codes"]
    assert len(set(codes)) == 3 and all(c.startswith("SPRING") for c in codes)
    members = api.post(
        "/api/coupons", json={"kind": "amount", "value": 500, "member_ids": ["M1", "M2"]}
    )
    assert members.status_code == 201
    listed = {c["code"]: c for c in api.get("/api/coupons").json()}
    assert {listed[c]["member_id"] for c in members.json()["codes"]} == {"M1", "M2"}
    assert listed[codes[0]]["stores"] == ["S001"] and listed[codes[0]]["max_uses"] == 5
    assert api.get("/api/coupons", params={"member_id": "M2"}).json()[0]["member_id"] == "M2"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"kind": "amount", "value": 500, "codes": ["A"], "count": 2}, 422, "exactly one"),
        ({"kind": "amount", "value": 500}, 422, "exactly one"),
        ({"kind": "percent", "value": 10_001, "codes": ["A"]}, 422, "basis points"),
        ({"kind": "amount", "value": 0, "codes": ["A"]}, 422, "worth something"),
        (
            {
                "kind": "amount",
                "value": 5,
                "codes": ["A"],
                "valid_from": "2027-01-02",
                "valid_until": "2027-01-01",
            },
            422,
            "before valid_from",
        ),
        (
            {"kind": "amount", "value": 5, "codes": ["A"], "valid_until": "2020-01-01"},
            422,
            "already past",
        ),
        ({"kind": "amount", "value": 5, "codes": ["A B"]}, 422, "pattern"),
        ({"kind": "amount", "value": 5, "codes": ["A", "A"]}, 422, "listed twice"),
        ({"kind": "amount", "value": 5, "codes": ["A"], "stores": ["S404"]}, 404, "S404"),
        ({"kind": "amount", "value": 5, "codes": ["A"], "colour": "red"}, 422, "colour"),
    ],
)
def test_bad_issues_are_refused_and_nothing_is_issued(
    api: TestClient, sent: Recorder, body: dict[str, Any], status: int, words: str
) -> None:
    reply = api.post("/api/coupons", json=body)
    assert reply.status_code == status and words in reply.text, reply.text
    assert api.get("/api/coupons").json() == [] and sent.sent == []


def test_a_code_is_issued_once_and_revoking_reaches_the_tills(
    api: TestClient, sent: Recorder
) -> None:
    assert (
        api.post("/api/coupons", json={"kind": "amount", "value": 5, "codes": ["ONCE"]}).status_code
        == 201
    )
    again = api.post("/api/coupons", json={"kind": "amount", "value": 900, "codes": ["ONCE"]})
    assert again.status_code == 409 and "ONCE" in again.text
    assert api.get("/api/coupons/ONCE").json()["value"] == 5  # unchanged
    assert api.post("/api/coupons/ONCE/revoke").json() == {"code": "ONCE", "published": True}
    assert decode_down(sent.sent[-1][1]).items[0]["revoked"] is True
    assert api.post("/api/coupons/NOPE/revoke").status_code == 404


def test_roles(db_url: str, sent: Recorder) -> None:
    body = {"kind": "amount", "value": 500, "codes": ["R1"]}
    with _client(db_url, sent, "marketing") as marketing:
        assert marketing.post("/api/coupons", json=body).status_code == 201
    for role in ("analyst", "store_manager", "technician"):
        with _client(db_url, sent, role) as other:
            assert other.post("/api/coupons", json={**body, "codes": [role]}).status_code == 403
            assert other.post("/api/coupons/R1/revoke").status_code == 403
    with _client(db_url, sent, "technician", username="tech2") as tech:
        for path in ("/api/coupons", "/api/coupon-problems", "/api/returns/watchlist"):
            assert tech.get(path).status_code == 403


def test_double_uses_are_listed_for_hq_and_scoped_for_a_manager(
    api: TestClient, db_url: str, sent: Recorder
) -> None:
    api.post("/api/coupons", json={"kind": "amount", "value": 1000, "codes": ["TWICE"]})
    _store(db_url, [envelope("S001-T01", 1, coupon_sale([("A", 1, 5000)], [("TWICE", 1000)]))])
    second = coupon_sale([("B", 1, 3000)], [("TWICE", 1000)], receipt_no="S002-T01-R1")
    _store(db_url, [envelope("S002-T01", 1, second)])
    [problem] = api.get("/api/coupon-problems").json()
    assert (problem["code"], problem["store_id"], problem["problems"]) == (
        "TWICE",
        "S002",
        ["over_limit"],
    )
    one = api.get("/api/coupons/TWICE").json()
    assert one["uses"] == 2 and [u["store_id"] for u in one["use_list"]] == ["S001", "S002"]
    with _client(db_url, sent, "store_manager") as manager:  # S001 only
        assert manager.get("/api/coupon-problems").json() == []
        assert manager.get("/api/coupon-problems", params={"store": "S002"}).status_code == 403
        assert [u["store_id"] for u in manager.get("/api/coupons/TWICE").json()["use_list"]] == [
            "S001"
        ]


def _returner(db_url: str, member: str, phone: str, store: str, returns: int) -> None:
    """A member who bought at ``store`` and brought things back ``returns`` times, today."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    terminal = f"{store}-T01"
    sale = sale_body(
        [("A", returns, 1000 * returns)],
        member_id=member,
        receipt_no=f"{terminal}-{member}",
        time=now,
    )
    envs = [
        envelope(
            terminal,
            1,
            registration_body(member, phone, "赵敏"),
            event_type="member_registered",
            time=now,
        ),
        envelope(terminal, 2, sale, time=now),
    ]
    for n in range(returns):
        body = return_body(
            sale, [(1, 1)], receipt_no=f"{terminal}-R{n}", time=now, return_id=str(uuid.uuid4())
        )
        envs.append(envelope(terminal, 3 + n, body, event_type="return", time=now))
    _store(db_url, envs)


def test_the_watchlist_counts_returns_at_every_till(db_url: str, sent: Recorder) -> None:
    _returner(db_url, "M-OVER", "13800001111", "S002", 3)
    _returner(db_url, "M-FINE", "13800002222", "S001", 2)
    with _client(db_url, sent, "marketing") as marketing:
        [row] = marketing.get("/api/returns/watchlist").json()
        assert (row["member_id"], row["returns_30d"], row["phone"], row["stores"]) == (
            "M-OVER",
            3,
            "13800001111",
            ["S002"],
        )
        assert row["refund_fen_30d"] == 3000 and row["masked"] is False
        lower = marketing.get("/api/returns/watchlist", params={"limit": 2}).json()
        assert [r["member_id"] for r in lower] == ["M-OVER", "M-FINE"]
        assert marketing.get("/api/returns/watchlist", params={"limit": 0}).status_code == 422
    with _client(db_url, sent, "analyst") as analyst:
        [masked] = analyst.get("/api/returns/watchlist").json()
        assert (masked["phone"], masked["name"], masked["masked"]) == ("138****1111", "赵*", True)
    with _client(db_url, sent, "store_manager") as manager:  # S001: not where M-OVER shops
        assert manager.get("/api/returns/watchlist").json() == []


def test_hq_reads_any_receipt_and_over_returns(api: TestClient, db_url: str) -> None:
    sale = sale_body([("RICE", 1, 5990)])
    _store(
        db_url,
        [
            envelope("S001-T01", 1, sale),
            envelope(
                "S001-T01", 2, return_body(sale, [(1, 1)], receipt_no="R-A"), event_type="return"
            ),
        ],
    )
    _store(
        db_url,
        [
            envelope(
                "S002-T01", 1, return_body(sale, [(1, 1)], receipt_no="R-B"), event_type="return"
            )
        ],
    )
    found = api.get(f"/api/receipts/{sale['receipt_no']}").json()
    assert found["terminal_id"] == "S001-T01" and found["returned"] == {"1": 2}
    assert api.get("/api/receipts/S009-T01-20261123-0001").status_code == 404
    [over] = api.get("/api/returns/over-returns").json()
    assert (over["terminal_id"], over["sold_units"], over["returned_units"]) == ("S002-T01", 1, 2)


def _read(answer: tuple[int, Any]) -> tuple[int, Any]:
    """A plain HTTP answer with a refusal's JSON decoded too."""
    status, body = answer
    return status, json.loads(body) if isinstance(body, str) else body


def test_a_receipt_number_printed_again_by_a_restored_till_is_ambiguous_at_hq(
    db_url: str, sent: Recorder
) -> None:
    """Over plain HTTP: HQ is never shown one sale for a number several sales hold."""
    first = sale_body([("TV", 1, 300_000)])
    again = sale_body([("MILK", 1, 500)])  # the restored till counted from 0001 again
    elsewhere = sale_body([("SOAP", 2, 700)])  # the same number from another store's till
    unique = sale_body([("RICE", 1, 5990)], receipt_no="S001-T01-20261123-0002")
    _store(db_url, [envelope("S001-T01", 1, first), envelope("S001-T01", 2, again),
                    envelope("S001-T01", 3, unique)])  # fmt: skip
    _store(db_url, [envelope("S002-T01", 1, elsewhere)])
    number = first["receipt_no"]
    admin, manager = token_for(db_url), token_for(db_url, "store_manager")  # S001 only
    other_manager = token_for(db_url, "store_manager", store_ids=["S003"], username="s3")
    with Served(create_app(db_url, sent)) as app:
        at = f"{app.url}/api/receipts/{number}"
        status, said = _read(call(at, admin))
        assert status == 409, (status, said)
        assert said["reason"] == "receipt_ambiguous", said
        assert "3 sales hold receipt number" in said["detail"]
        assert said["outside_your_stores"] == 0
        held = {(s["sale_id"], s["store_id"], s["terminal_id"], s["seq"], s["total_fen"],
                 s["device_time"]) for s in said["sales"]}  # fmt: skip
        assert held == {
            (body["sale_id"], terminal[:4], terminal, seq, body["total_fen"], body["device_time"])
            for body, terminal, seq in ((first, "S001-T01", 1), (again, "S001-T01", 2),
                                        (elsewhere, "S002-T01", 1))
        }  # fmt: skip
        # HQ opens each by its sale id.
        for body in (first, again, elsewhere):
            status, one = call(f"{at}?sale_id={body['sale_id']}", admin)
            assert status == 200 and one["sale"]["sale_id"] == body["sale_id"], one
        status, _ = call(f"{at}?sale_id={unique['sale_id']}", admin)  # another number's sale
        assert status == 404
        assert call(f"{at}?sale_id=not-a-uuid!", admin)[0] == 422
        # A store manager sees only their stores' sales, and is told others exist.
        status, mine = _read(call(at, manager))
        assert status == 409 and mine["outside_your_stores"] == 1
        assert {s["sale_id"] for s in mine["sales"]} == {first["sale_id"], again["sale_id"]}
        assert call(f"{at}?sale_id={elsewhere['sale_id']}", manager)[0] == 403
        assert call(at, other_manager)[0] == 403
        # A number one sale holds is answered as it always was.
        status, found = call(f"{app.url}/api/receipts/{unique['receipt_no']}", admin)
        assert status == 200, found
        assert (found["terminal_id"], found["seq"], found["status"]) == ("S001-T01", 3, "ok")
        assert found["sale"]["sale_id"] == unique["sale_id"] and found["returned"] == {}


def test_a_rule_gives_members_who_spend_enough_a_coupon_once(api: TestClient, db_url: str) -> None:
    rule = {
        "name": "spend200",
        "min_total_fen": 20_000,
        "kind": "amount",
        "value": 2000,
        "min_spend_fen": 10_000,
        "valid_days": 30,
        "stores": ["S001"],
    }
    made = api.post("/api/coupon-rules", json=rule)
    assert made.status_code == 201 and made.json()["active"] is True, made.text
    assert api.post("/api/coupon-rules", json=rule).status_code == 409
    assert api.post("/api/coupon-rules", json={**rule, "name": "Bad Name"}).status_code == 422
    enough = envelope("S001-T01", 1, sale_body([("TV", 1, 20_000)], member_id="M7"))
    short = envelope(
        "S001-T01",
        2,
        sale_body([("TV", 1, 19_999)], member_id="M7", receipt_no="S001-T01-20261123-0002"),
    )
    anonymous = envelope(
        "S001-T01", 3, sale_body([("TV", 1, 50_000)], receipt_no="S001-T01-20261123-0003")
    )
    _store(db_url, [enough, short, anonymous])
    _store(db_url, [enough])  # the same sale again: nothing twice
    [coupon] = api.get("/api/coupons", params={"member_id": "M7"}).json()
    assert coupon["source"] == "rule:spend200" and coupon["code"].startswith("R-SPEND200-")
    assert (coupon["value"], coupon["min_spend_fen"], coupon["stores"]) == (2000, 10_000, ["S001"])
    # The sale was on 2026-11-23 (Shanghai); 30 days from that day, that day included.
    assert (coupon["valid_from"], coupon["valid_until"]) == ("2026-11-23", "2026-12-22")
    assert api.get("/api/coupon-rules").json()[0]["issued"] == 1
    assert api.post("/api/coupon-rules/spend200/stop").json() == {
        "name": "spend200",
        "active": False,
    }
    later = sale_body([("TV", 1, 90_000)], member_id="M8", receipt_no="S001-T01-20261123-0004")
    _store(db_url, [envelope("S001-T01", 4, later)])
    assert api.get("/api/coupons", params={"member_id": "M8"}).json() == []
    assert api.post("/api/coupon-rules/none/stop").status_code == 404


def test_a_return_by_item_against_a_receipt_is_placed_on_the_sale_by_sku(
    api: TestClient, db_url: str
) -> None:
    """HQ was unreachable: the till returned by item (no line), naming the receipt."""
    sale = sale_body([("RICE", 1, 5990), ("MILK", 2, 2500)])
    _store(db_url, [envelope("S001-T01", 1, sale)])
    by_item = {
        "return_id": str(uuid.uuid4()),
        "original_sale_id": None,
        "original_receipt_no": sale["receipt_no"],
        "cashier_id": "C01",
        "shift_id": "SH1",
        "member_id": None,
        "authorised_by": "M01",
        "reason": "no receipt",
        "lines": [
            {
                "original_line_no": 0,
                "sku": "MILK",
                "quantity": 3,
                "weight_g": None,
                "refund_fen": 3750,
            },
            {
                "original_line_no": 0,
                "sku": "SOAP",
                "quantity": 1,
                "weight_g": None,
                "refund_fen": 500,
            },
        ],
        "refund_fen": 4250,
        "points": [],
        "device_time": sale["device_time"],
        "clock_synced": True,
        "receipt_no": "S002-T01-R9",
        "refunds": [
            {
                "kind": "cash",
                "amount_fen": 4250,
                "tendered_fen": 0,
                "approval_code": "",
                "reference": "",
            }
        ],
    }
    _store(db_url, [envelope("S002-T01", 1, by_item, event_type="return")])
    found = api.get(f"/api/receipts/{sale['receipt_no']}").json()
    assert found["returned"] == {"2": 3}  # MILK is line 2; three back of two sold
    problems = sorted(
        (p["reason"], p["line_no"]) for p in api.get("/api/returns/over-returns").json()
    )
    assert problems == [("not_on_receipt", 0), ("over_return", 2)]
    cdb = open_cloud_db(db_url)
    try:
        assert cdb.models.Event.get(cdb.models.Event.terminal_id == "S002-T01").status == "ok"
    finally:
        cdb.close()


def test_a_store_manager_never_sees_another_stores_members_coupons(
    api: TestClient, db_url: str, sent: Recorder
) -> None:
    """A coupon issued to a member of S002 (a code redeemable at any till) is neither listed
    nor readable by S001's manager; chain coupons and S001 members' coupons are."""
    for member, store, phone in (("MA", "S001", "13800000001"), ("MB", "S002", "13800000002")):
        made = api.post("/api/members", json={"member_id": member, "phone": phone,
                                              "home_store": store})  # fmt: skip
        assert made.status_code == 201, made.text
    code = {}
    for member in ("MA", "MB"):
        issued = api.post("/api/coupons", json={"kind": "amount", "value": 800,
                                                "member_ids": [member]})  # fmt: skip
        assert issued.status_code == 201, issued.text
        [code[member]] = issued.json()["codes"]
    assert api.post("/api/coupons", json={"kind": "amount", "value": 300,
                                          "codes": ["CHAIN"]}).status_code == 201  # fmt: skip
    with _client(db_url, sent, "store_manager", store_ids=["S001"], username="m1") as mgr:
        assert sorted(c["code"] for c in mgr.get("/api/coupons").json()) == sorted(
            ["CHAIN", code["MA"]]
        )
        assert mgr.get("/api/coupons", params={"member_id": "MB"}).json() == []
        refused = mgr.get(f"/api/coupons/{code['MB']}")
        assert refused.status_code == 403 and "another store" in refused.json()["detail"]
        assert mgr.get(f"/api/coupons/{code['MA']}").json()["member_id"] == "MA"
    assert {c["code"] for c in api.get("/api/coupons").json()} == {"CHAIN", *code.values()}
