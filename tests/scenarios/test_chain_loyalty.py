"""One member across a chain: two stores with two tills each, ingest and HQ on PostgreSQL.

Real parts: one Mosquitto; the cloud's ingest worker and the HQ API (with its publisher) on a
fresh PostgreSQL database; four whole tills (S001-T01, S001-T02, S002-T01, S002-T02), their
sync over MQTT. HQ publishes rules counting tier spend over 30 days (the rest the defaults:
1 point per ¥10 paid in money, silver ¥2,000, gold ¥5,000, 100 points = ¥10, points expire
after 365 days). The jobs run with their clock set ahead (the tills sell now).

Hand-worked, with P = ¥307.70 (P00068, the demo's dearest packaged item; no tier discount):

    A1 registers the member and sells 17 x P = ¥5,230.90 cash: +523 (lot 1); gold at once
    B2 identifies the member by phone (registered at another store): gold, 523 points
    B1 sells P, redeeming 100 points (¥10): ¥297.70 paid, +29; 523 - 100 + 29 = 452
    HQ issues SAVE20 (¥20, one use). B2 goes offline and takes it: P - ¥20 = ¥287.70
    paid, +28. A2 (online) takes it too: HQ has not heard of B2's use and says yes, +28.
    B2 comes back: its use arrives second and is listed as a double use (over_limit).
    452 + 28 + 28 = 508
    B1 takes back one of A1's 17 units (another store's receipt, asked of HQ): ¥307.70
    refunded, and round(523 x 30,770 / 523,090) = round(30.76) = 31 points reversed: 477
    spend: 523,090 + 29,770 + 28,770 + 28,770 - 30,770 = 579,630 fen
    downgrade, 40 days on: nothing bought in the window (days 11..40): gold -> regular, and
    the tills are told the spend that counts for the tier now: 0 (the cloud keeps 579,630)
    expiry, 365 days after lot 1: lot 1 held 523, less the 100 redeemed (oldest first) and
    the 31 its own return reversed: 392 expire; the later lots (29 + 28 + 28) stay: 85

At the end every till's copy of the member equals the cloud's, and both equal the above.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.api.publisher import MqttPublisher
from cloud.ingest.worker import IngestWorker
from cloud.jobs.config import JobsConfig
from cloud.jobs.publish import sink
from cloud.jobs.registry import run_job
from cloud.mqtt import BrokerSettings as CloudBroker
from cloud.store import member_facts
from cloud.store.db import CloudDB, open_cloud_db
from device.checkout import events as ev
from device.checkout.records import TenderKind
from device.runtime import View
from protocol.rules import default_rules
from protocol.rules_check import to_plain
from tests.broker import DEFAULT_TERMINALS, Broker, TerminalCred
from tests.cloud.api.access import bearer, token_for
from tests.device.harness import Terminal
from tests.pg import PgUnavailable, fresh_database, pg_server
from tests.scenarios.chain import go_offline, go_online, start_till, stop_till, wait_for

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.pg

PHONE = "13700001234"
TILLS = (("S001", "S001-T01"), ("S001", "S001-T02"), ("S002", "S002-T01"), ("S002", "S002-T02"))


@dataclasses.dataclass
class Chain:
    broker: Broker
    url: str
    hq: TestClient
    publisher: MqttPublisher
    tills: dict[str, Terminal]

    def cloud(self) -> CloudDB:
        return open_cloud_db(self.url)


@pytest.fixture
def pg_url() -> Iterator[str]:
    try:
        with pg_server() as admin, fresh_database(admin) as url:
            yield url
    except PgUnavailable as err:
        pytest.skip(f"PostgreSQL unavailable: {err}")


@pytest.fixture
def chain(broker_factory: Callable[..., Broker], pg_url: str, tmp_path: Path) -> Iterator[Chain]:
    broker = broker_factory(
        terminals=(*DEFAULT_TERMINALS, TerminalCred("S002-T02", "S002", "pw-S002-T02"))
    )
    token = token_for(pg_url)  # an HQ admin; registers the stores
    worker = IngestWorker(pg_url, CloudBroker(host=broker.host, port=broker.port,
                                              username="ingest",
                                              password=broker.password("ingest")),
                          client_id="ingest-chain-loyalty")  # fmt: skip
    worker.start()
    publisher = MqttPublisher(CloudBroker(broker.host, broker.port, "hq", broker.password("hq")),
                              client_id="hq-chain-loyalty")  # fmt: skip
    assert publisher.start(wait_s=15)
    tills: dict[str, Terminal] = {}
    try:
        for store, terminal in TILLS:
            tills[terminal] = start_till(tmp_path / terminal, broker, store, terminal)
        with TestClient(create_app(pg_url, publisher), headers=bearer(token)) as hq:
            yield Chain(broker, pg_url, hq, publisher, tills)
    finally:
        for till in tills.values():
            stop_till(till)
        publisher.stop()
        worker.stop()


def _product(till: Terminal) -> tuple[str, int]:
    row = till.store.db.row(
        "SELECT b.code, p.price_fen FROM product AS p JOIN barcode AS b ON b.sku = p.sku "
        "WHERE p.sku = 'P00068' AND p.tier_discount = 0 AND p.returnable = 1 LIMIT 1"
    )
    assert row is not None and row[1] == 30_770, row  # the demo catalogue's P00068
    return str(row[0]), int(row[1])


def _answered(till: Terminal) -> View:
    return till.wait(lambda v: v.state.asking is None, timeout=60)


def _pay_cash(till: Terminal) -> View:
    view = till.send(ev.AddTender(TenderKind.CASH, till.view.due_fen))
    assert view.state.last_sale_id is not None, view.notice
    till.send(ev.SkipFeedback())
    return view


def _sale(till: Terminal, quantity: int = 1, redeem: int = 0, coupon: str = "") -> View:
    """The member (by phone) buys ``quantity`` x P, paying points, a coupon, then cash."""
    code, _ = _product(till)
    till.scan(code)
    if quantity > 1:
        till.send(ev.SetQuantity(quantity))
    view = till.send(ev.IdentifyMember("phone", PHONE))
    assert view.notice is not None and view.notice.level != "error", view.notice
    till.send(ev.Subtotal())
    if redeem:
        view = till.send(ev.RedeemPoints(redeem))
        assert view.notice is None or view.notice.level != "error", view.notice
    if coupon:
        till.send(ev.AddTender(TenderKind.COUPON, 0, reference=coupon))
        view = _answered(till)
        assert view.notice is not None and view.notice.level != "error", view.notice
    return _pay_cash(till)


def _till_facts(till: Terminal, member_id: str) -> tuple[int, str, int, int] | None:
    row = till.store.db.row(
        "SELECT points_balance, tier, cumulative_spend_fen, returns_30d FROM member "
        "WHERE member_id = ?",
        (member_id,),
    )
    return None if row is None else (int(row[0]), str(row[1]), int(row[2]), int(row[3]))


def _cloud_facts(chain: Chain, member_id: str) -> tuple[int, str, int]:
    points = chain.hq.get(f"/api/members/{member_id}/points").json()
    profile = chain.hq.get(f"/api/members/{member_id}").json()
    return int(points["balance"]), str(profile["tier"]), int(profile["cumulative_spend_fen"])


def _every_till(chain: Chain, member_id: str, facts: tuple[int, str, int, int], what: str) -> None:
    """Wait until every till's copy is ``facts`` (points, tier, tier spend, returns in 30 days)."""
    for name, till in chain.tills.items():
        seen: list[Any] = [None]

        def same(t: Terminal = till, seen: list[Any] = seen) -> bool:
            seen[0] = _till_facts(t, member_id)
            return bool(seen[0] == facts)

        try:
            wait_for(same, what)
        except AssertionError:
            raise AssertionError(f"{what}: {name} holds {seen[0]}, not {facts}") from None


def _run_job(chain: Chain, job: str, at: dt.datetime) -> dict[str, Any]:
    cdb = chain.cloud()
    try:
        result = run_job(cdb, job, config=JobsConfig(), trigger="cli", actor="tests",
                         publish=sink(chain.publisher), clock=lambda: at)  # fmt: skip
    finally:
        cdb.close()
    assert result.state == "ok", result.error
    return dict(result.summary["counts"])


def test_one_member_across_two_stores_and_four_tills(chain: Chain) -> None:
    t = chain.tills
    a1, a2, b1, b2 = t["S001-T01"], t["S001-T02"], t["S002-T01"], t["S002-T02"]
    rules = to_plain(default_rules())
    rules["tiers"]["window_days"] = 30
    published = chain.hq.put("/api/rules/store/all", json=rules)
    assert published.status_code == 200 and published.json()["version"] == "r1", published.text
    for till in t.values():
        wait_for(lambda till=till: till.store.db.row(
            "SELECT 1 FROM meta WHERE key = 'hq_config:rules' AND value LIKE '%\"r1\"%'"),
            f"{till.cfg.terminal.terminal_id} holds r1")  # fmt: skip
        till.login_and_open()

    # Registered at A1, which sells it 17 x P at once: gold there and at the cloud.
    view = a1.send(ev.RegisterMember(PHONE, name="周芷若"))
    assert view.notice is not None and view.notice.key == "member.registered", view.notice
    member = a1.view.state.cart.member  # type: ignore[union-attr]
    assert member is not None
    mid = member.member_id
    code, price = _product(a1)
    a1.scan(code)
    a1.send(ev.SetQuantity(17))
    a1.send(ev.Subtotal())
    first = _pay_cash(a1)
    first_receipt = first.last_receipt_no
    assert _till_facts(a1, mid) == (523, "gold", 523_090, 0)

    # Identified at another store's till by the phone it was registered with.
    wait_for(lambda: _till_facts(b2, mid) == (523, "gold", 523_090, 0), "the member reaches B2")
    view = b2.send(ev.IdentifyMember("phone", PHONE))
    assert view.notice is not None and view.notice.key == "member.identified", view.notice
    assert (str(view.notice.params["tier"]), str(view.notice.params["points"])) == ("gold", "523")
    assert b2.send(ev.ClearMember()).state.cart is None

    # Earned at store A, redeemed at store B.
    wait_for(lambda: _till_facts(b1, mid) == (523, "gold", 523_090, 0), "the member reaches B1")
    _sale(b1, redeem=100)
    assert _till_facts(b1, mid)[:3] == (452, "gold", 552_860)  # type: ignore[index]

    # One coupon, two uses: B2 offline, then A2 online.
    issued = chain.hq.post("/api/coupons", json={"kind": "amount", "value": 2000,
                                                 "codes": ["SAVE20"]})  # fmt: skip
    assert issued.status_code == 201, issued.text
    for till in t.values():
        wait_for(lambda till=till: till.store.coupons.get("SAVE20"), "SAVE20 reaches the tills")
    wait_for(lambda: _till_facts(b2, mid) == (452, "gold", 552_860, 0), "B1's sale reaches B2")
    go_offline(b2)
    _sale(b2, coupon="SAVE20")
    assert _till_facts(b2, mid)[0] == 480  # type: ignore[index]  # 452 + 28, its own view
    wait_for(lambda: _till_facts(a2, mid) == (452, "gold", 552_860, 0), "B1's sale reaches A2")
    _sale(a2, coupon="SAVE20")
    assert _till_facts(a2, mid)[0] == 480  # type: ignore[index]
    assert chain.hq.get("/api/coupon-problems").json() == []
    go_online(b2)
    [problem] = wait_for(lambda: chain.hq.get("/api/coupon-problems").json(),
                         "the offline use is reported")  # fmt: skip
    assert (problem["code"], problem["terminal_id"], problem["problems"]) == (
        "SAVE20",
        "S002-T02",
        ["over_limit"],
    )
    assert problem["confirmed"] is False and problem["member_id"] == mid
    _every_till(chain, mid, (508, "gold", 610_400, 0), "both coupon sales")

    # A return at store B of store A's receipt reverses its share of the points.
    b1.send(ev.StartReturn(first_receipt))
    view = _answered(b1)
    assert view.state.returning is not None and not view.state.returning.own, view.notice
    b1.send(ev.ReturnLines((ev.ReturnItem(1, 1),), reason="changed mind"))
    view = _answered(b1)
    assert view.notice is not None and view.notice.key == "return.done", view.notice
    _every_till(chain, mid, (477, "gold", 579_630, 1), "the return")
    assert _cloud_facts(chain, mid) == (477, "gold", 579_630)

    # Downgraded by the job 40 days on (nothing bought in the window); every till is told.
    cdb = chain.cloud()
    try:
        pl = cdb.models.PointsLedger
        lot1 = pl.get((pl.member_id == mid) & (pl.reason == "earn") & (pl.delta == 523))
        lot1_at = lot1.created_at
    finally:
        cdb.close()
    counts = _run_job(chain, "tier_downgrade", lot1_at + dt.timedelta(days=40))
    assert counts == {"members_reviewed": 1, "gold_to_regular": 1}
    # The push is as of the job's clock: the return is 40 days old, out of the 30-day count,
    # and nothing was spent in the tier window, so no till can upgrade on the old spend.
    _every_till(chain, mid, (477, "regular", 0, 0), "the downgrade")

    # Expiry 365 days after lot 1: only lot 1 is that old.
    counts = _run_job(chain, "points_expiry", lot1_at + dt.timedelta(days=365))
    assert (counts["points_expired"], counts["lots_expired"]) == (392, 1)
    _every_till(chain, mid, (85, "regular", 0, 0), "the expiry")
    assert _cloud_facts(chain, mid) == (85, "regular", 579_630)  # spend since joining
    cdb = chain.cloud()
    try:  # the cloud's facts as it pushes them a year on: what every till holds
        [facts] = member_facts.items(cdb, [mid], lot1_at + dt.timedelta(days=365), bump=False)
    finally:
        cdb.close()
    assert (facts["points_balance"], facts["tier"], facts["cumulative_spend_fen"],
            facts["returns_30d"]) == (85, "regular", 0, 0)  # fmt: skip
    assert price == 30_770
