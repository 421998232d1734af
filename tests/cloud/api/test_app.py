"""The HQ API over a real SQLite file, with pushes through a real broker."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.api.app import create_app
from cloud.api.publisher import MqttPublisher, PublishError
from cloud.mqtt import BrokerSettings
from cloud.store.apply import reject_payload
from cloud.store.db import SCHEMA_VERSION, open_cloud_db
from cloud.store.downstream import changes_since
from protocol.codec import decode_down
from protocol.envelope import utc_iso
from protocol.topics import store_down_filter
from tests.broker import Broker
from tests.cloud.api.access import bearer, token_for
from tests.cloud.factories import envelope, ingest_batch, sale_body

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette nags about httpx vs httpx2 on import
    from fastapi.testclient import TestClient


class Offline:
    """A publisher whose broker is unreachable."""

    def publish(self, topic: str, payload: bytes) -> None:
        raise PublishError("not connected to the broker at 127.0.0.1:1")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cloud.db"


@pytest.fixture
def api(db_url: str) -> Iterator[TestClient]:
    headers = bearer(token_for(db_url))
    with TestClient(create_app(db_url, Offline()), headers=headers) as client:
        yield client


def test_health(api: TestClient) -> None:
    assert api.get("/api/health").json() == {"status": "ok", "schema_version": SCHEMA_VERSION}


def test_sales_totals_and_listing_by_store_terminal_and_day(api: TestClient, db_url: str) -> None:
    ingest_batch(
        db_url,
        [
            envelope("S001-T01", 1, sale_body([("A", 2, 1500)], receipt_no="R1")),
            envelope("S001-T01", 2, sale_body([("B", 1, 990)], receipt_no="R2")),
        ],
    )
    ingest_batch(db_url, [envelope("S001-T02", 1, sale_body([("A", 1, 750)], receipt_no="R3"))])
    ingest_batch(db_url, [envelope("S002-T01", 1, sale_body([("C", 1, 5000)], receipt_no="R4"))])
    # The factories' sales happen at 14:30 Shanghai time on 2026-11-23.
    store = api.get("/api/sales", params={"store": "S001", "date": "2026-11-23"}).json()
    assert store["totals"]["sales_count"] == 3
    assert store["totals"]["sales_fen"] == 1500 + 990 + 750
    assert sorted(s["receipt_no"] for s in store["sales"]) == ["R1", "R2", "R3"]
    one = api.get("/api/sales", params={"terminal": "S001-T01"}).json()
    assert (one["totals"]["sales_count"], one["totals"]["net_fen"]) == (2, 2490)
    chain = api.get("/api/sales").json()
    assert chain["totals"]["sales_fen"] == 1500 + 990 + 750 + 5000
    other_day = api.get("/api/sales", params={"date": "2026-11-22"}).json()
    assert other_day["totals"]["sales_count"] == 0 and other_day["sales"] == []
    assert api.get("/api/sales", params={"date": "23/11/2026"}).status_code == 422


def test_member_points_ledger_balance_and_over_redemption(api: TestClient, db_url: str) -> None:
    # The points come from a sale (a till cannot adjust points: that is HQ's).
    ingest_batch(db_url, [envelope("S001-T01", 1, sale_body([("G", 1, 150_000)], member_id="M1"))])
    ingest_batch(db_url, [envelope("S001-T01", 2, sale_body([("A", 1, 3000)], member_id="M1",
                                                            redeem=100, earn=2))])  # fmt: skip
    ingest_batch(db_url, [envelope("S002-T01", 1, sale_body([("B", 1, 3000)], member_id="M1",
                                                            redeem=100))])  # fmt: skip
    body = api.get("/api/members/M1/points").json()
    assert [(r["delta"], r["reason"]) for r in body["ledger"]] == [
        (150, "earn"), (-100, "redeem"), (2, "earn"), (-100, "redeem"), (2, "earn"),
    ]  # fmt: skip
    assert body["balance"] == 150 - 100 + 2 - 100 + 2
    # The second redemption found 52 points and earned 2 back: 46 short.
    assert [(o["amount"], o["terminal_id"]) for o in body["over_redemptions"]] == [(46, "S002-T01")]
    missing = api.get("/api/members/NOPE/points")
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


def test_terminals_show_gaps_backlog_and_flags(api: TestClient, db_url: str) -> None:
    ingest_batch(db_url, [envelope("S001-T01", 1, sale_body([("A", 1, 100)]))])
    ingest_batch(db_url, [envelope("S001-T01", 4, sale_body([("A", 1, 100)]))])
    cdb = open_cloud_db(db_url)
    reject_payload(cdb, topic="pos/v1/S001/S001-T01/events", store_id="S001",
                   terminal_id="S001-T01", claimed_terminal_id="", reason="MalformedPayload: x",
                   seqs=[], payload=b"{")  # fmt: skip
    cdb.close()
    [terminal] = api.get("/api/terminals").json()
    assert terminal["terminal_id"] == "S001-T01"
    assert (terminal["acked_seq"], terminal["stored_above_gap"], terminal["gaps"]) == (
        1, 1, [[2, 3]],
    )  # fmt: skip
    assert terminal["flagged"] and "MalformedPayload" in terminal["flag_reason"]
    [dead] = api.get("/api/dead-letters").json()
    assert dead["reason"] == "MalformedPayload: x" and dead["payload_preview"] == "{"


def test_a_till_whose_certificate_ends_within_30_days_is_marked_for_a_rotation(
    api: TestClient, db_url: str
) -> None:
    now = dt.datetime.now(dt.UTC)
    ends = {"S001-T01": now + dt.timedelta(days=12), "S001-T02": now + dt.timedelta(days=400)}
    cdb = open_cloud_db(db_url)
    for tid, end in ends.items():
        ingest_batch(db_url, [envelope(tid, 1, sale_body([("A", 1, 100)]))])
        status = {"online": True, "last_problem": "", "cert_not_after": utc_iso(end)}
        with cdb.write():  # as ingest records the till's retained status
            m = cdb.models
            m.Terminal.update(status=status, online=True).where(
                m.Terminal.terminal_id == tid
            ).execute()
    cdb.close()
    listed = {t["terminal_id"]: t["cert_not_after"] for t in api.get("/api/terminals").json()}
    assert listed == {tid: utc_iso(end) for tid, end in ends.items()}
    page = api.get("/terminals")
    assert page.status_code == 200, page.text
    rows = {tid: page.text.split(f'<tr id="{tid}"')[1].split("</tr>")[0] for tid in ends}
    soon, later = rows["S001-T01"], rows["S001-T02"]
    assert f'class="tag bad">{ends["S001-T01"]:%Y-%m-%d}' in soon and 'class="attn"' in soon
    assert f"<span>{ends['S001-T02']:%Y-%m-%d}" in later and "attn" not in later
    dashboard = api.get("/").text  # in Chinese, the page's first language
    assert dashboard.count("证书将到期") == 1


def test_push_is_stored_even_when_the_broker_is_down(api: TestClient, db_url: str) -> None:
    item = {"sku": "A", "price_fen": 990}
    reply = api.post("/api/push/prices", json={"scope": "S001", "items": [item]})
    assert reply.status_code == 200
    assert reply.json()["published"] is False and "not connected" in reply.json()["detail"]
    cdb = open_cloud_db(db_url)
    assert [c["version"] for c in changes_since(cdb, "prices", "S001", 0)] == [1]
    cdb.close()


@pytest.mark.parametrize(
    ("stream", "body"),
    [
        ("prices", {"scope": "../S001", "items": [{"sku": "A"}]}),
        ("prices", {"scope": "S001", "items": []}),
        ("prices", {"scope": "S001", "kind": "explode", "items": [{"sku": "A"}]}),
        ("weather", {"scope": "all", "items": [{"sku": "A"}]}),
    ],
)
def test_bad_pushes_are_refused(api: TestClient, stream: str, body: dict) -> None:
    assert api.post(f"/api/push/{stream}", json=body).status_code == 422


def test_push_reaches_the_addressed_stores_only(broker: Broker, db_url: str) -> None:
    publisher = MqttPublisher(
        BrokerSettings(broker.host, broker.port, "hq", broker.password("hq")), client_id="hq-t"
    )
    assert publisher.start(wait_s=10)
    s1 = broker.client("S001-T01", client_id="S001-T01")
    s1.subscribe(store_down_filter("S001"))
    s1.subscribe(store_down_filter("all"))
    s2 = broker.client("S002-T01", client_id="S002-T01")
    s2.subscribe(store_down_filter("S002"))
    s2.subscribe(store_down_filter("all"))
    try:
        headers = bearer(token_for(db_url))
        with TestClient(create_app(db_url, publisher), headers=headers) as api:
            one = api.post(
                "/api/push/prices",
                json={"scope": "S001", "items": [{"sku": "A", "price_fen": 990}]},
            )
            every = api.post("/api/push/prices", json={"scope": "all", "kind": "delete",
                                                       "items": [{"sku": "B"}]})  # fmt: skip
        assert one.json()["published"] and every.json()["published"]
        got1 = s1.wait_for(lambda m: "/down/" in m.topic, count=2)
        changes = sorted((decode_down(m.payload) for m in got1), key=lambda c: c.version)
        assert [(c.version, c.scope, c.kind) for c in changes] == [
            (1, "S001", "upsert"), (2, "all", "delete"),
        ]  # fmt: skip
        assert changes[0].items == [{"sku": "A", "price_fen": 990}]
        got2 = s2.wait_for(lambda m: "/down/" in m.topic)
        assert [decode_down(m.payload).version for m in got2] == [2]
    finally:
        publisher.stop()


def test_pages_answer_bad_input_and_ended_sessions_in_the_page(api: TestClient) -> None:
    """A page's bad query is an HTML error page, not JSON; an htmx click without a session
    is told where to sign in, and a page asked for while signed out comes back with its
    query after signing in."""
    bad = api.get("/?date_from=2026-13-01")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert "开始日期" in bad.text and "<main>" in bad.text  # the field, in the page's language
    assert api.get("/api/reports/sales?date_from=2026-13-01").json()["detail"][0]["loc"] == [
        "query",
        "date_from",
    ]  # the API keeps FastAPI's JSON
    api.headers.pop("Authorization")
    click = api.post(
        "/members/M1/tags",
        data={"tags": "x"},
        headers={"HX-Request": "true", "HX-Current-URL": "http://hq.example/members/M1?tab=1"},
    )
    assert click.status_code == 401
    assert click.headers["HX-Redirect"] == "/login?next=%2Fmembers%2FM1%3Ftab%3D1"
    page = api.get("/reports?name=baskets", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Freports%3Fname%3Dbaskets"
    signed_in_form = api.get(page.headers["location"])
    assert 'value="/reports?name=baskets"' in signed_in_form.text
