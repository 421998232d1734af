"""Coupons and returns across stores: two whole tills, a real broker, ingest and the HQ API.

The tills are the real thing (store file, checkout machine, runtime, sync over MQTT) in stores
S001 and S002. HQ issues coupons through its API, which pushes them to both stores; each till
asks HQ before a coupon pays or another till's receipt is returned, and the cashier sees
"checking with HQ" until the answer. Every figure is worked out by hand in the test.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.api.publisher import MqttPublisher
from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings as IngestBrokerSettings
from cloud.store import coupons as coupon_store
from device.checkout import events as ev
from device.checkout.hq import HqPolicy
from device.checkout.machine import Machine
from device.checkout.records import TenderKind
from device.runtime import View
from device.ui.texts import render
from device.wiring import checkout_config, make_ports, start_sync
from tests.broker import Broker
from tests.cloud.api.access import bearer, token_for
from tests.device.harness import Terminal
from tests.scenarios.chain import start_till

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NEXT_MONTH = (dt.date.today() + dt.timedelta(days=30)).isoformat()


@dataclasses.dataclass
class Chain:
    broker: Broker
    worker: IngestWorker
    hq: TestClient
    t1: Terminal  # S001-T01
    t2: Terminal  # S002-T01
    root: Path


@pytest.fixture
def chain(broker: Broker, tmp_path: Path) -> Iterator[Chain]:
    db_url = f"sqlite:///{tmp_path}/cloud.db"
    settings = IngestBrokerSettings(
        host=broker.host, port=broker.port, username="ingest", password=broker.password("ingest")
    )
    worker = IngestWorker(db_url, settings, client_id="ingest-chain")
    worker.start()
    publisher = MqttPublisher(
        IngestBrokerSettings(broker.host, broker.port, "hq", broker.password("hq")),
        client_id="hq-chain",
    )
    assert publisher.start(wait_s=15)
    tills: list[Terminal] = []
    try:
        tills.append(start_till(tmp_path / "t1", broker, "S001", "S001-T01"))
        tills.append(start_till(tmp_path / "t2", broker, "S002", "S002-T01"))
        headers = bearer(token_for(db_url, "marketing"))
        with TestClient(create_app(db_url, publisher), headers=headers) as hq:
            yield Chain(broker, worker, hq, tills[0], tills[1], tmp_path)
    finally:
        for till in tills:
            if till.runtime.sync is not None:
                till.runtime.sync.stop()
            till.stop()
        publisher.stop()
        worker.stop()


def _product(till: Terminal, cheapest_over: int = 10_000) -> tuple[str, int]:
    row = till.store.db.row(
        "SELECT b.code, p.price_fen FROM product AS p JOIN barcode AS b ON b.sku = p.sku "
        "WHERE p.sold_by_weight = 0 AND p.returnable = 1 AND p.price_fen >= ? "
        "ORDER BY p.price_fen, p.sku LIMIT 1",
        (cheapest_over,),
    )
    assert row is not None
    return str(row[0]), int(row[1])


def _answered(till: Terminal) -> View:
    """The view once the till's question to HQ is answered (HQ, a timeout or offline)."""
    return till.wait(lambda v: v.state.asking is None, timeout=60)


def _open_sale(till: Terminal, quantity: int = 1) -> int:
    """Scan the till's cheapest product over ¥100 (``quantity`` of it); subtotal; the total."""
    code, _ = _product(till)
    till.scan(code)
    if quantity > 1:
        till.send(ev.SetQuantity(quantity))
    view = till.send(ev.Subtotal())
    assert view.priced is not None
    return view.priced.total_fen


def _coupon(till: Terminal, code: str, amount: int = 0) -> View:
    view = till.send(ev.AddTender(TenderKind.COUPON, amount, reference=code))
    if view.state.asking is not None:
        # Meanwhile the cashier is told HQ is being asked, in the screen's language.
        assert view.notice is not None and view.notice.key == "hq.asking"
        assert render("prompt.asking", "zh") == "正在向总部核实，请稍候……"
    return _answered(till)


def _pay_cash(till: Terminal) -> str:
    view = till.send(ev.AddTender(TenderKind.CASH, till.view.due_fen))
    till.send(ev.SkipFeedback())
    return view.last_receipt_no


def _issue(chain: Chain, **body: Any) -> list[str]:
    reply = chain.hq.post("/api/coupons", json=body)
    assert reply.status_code == 201, reply.text
    assert reply.json()["published"]
    codes: list[str] = reply.json()["codes"]
    for till in (chain.t1, chain.t2):
        till.wait(lambda _v, t=till: all(t.store.coupons.get(c) for c in codes), timeout=30)
    return codes


def _journal(till: Terminal) -> tuple[int, int, int]:
    """(sales, returns, coupon uses): what must not move when a question is refused."""
    db = till.store.db
    return (
        int(db.row("SELECT count(*) FROM sale")[0]),
        int(db.row("SELECT count(*) FROM sale_return")[0]),
        int(db.row("SELECT count(*) FROM coupon_use")[0]),
    )


def _wait(predicate: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def test_a_coupon_confirmed_at_one_store_is_used_up_at_every_other(chain: Chain) -> None:
    t1, t2 = chain.t1, chain.t2
    [code] = _issue(
        chain,
        kind="amount",
        value=2000,
        min_spend_fen=5000,
        codes=["SPRING20"],
        valid_until=NEXT_MONTH,
    )
    t1.login_and_open()
    t2.login_and_open()

    total = _open_sale(t1)
    view = _coupon(t1, code)
    assert view.notice is not None and view.notice.key == "coupon.accepted", view.notice
    [tender] = view.state.tenders
    assert (tender.kind, tender.amount_fen, tender.reference) == (TenderKind.COUPON, 2000, code)
    assert tender.approval_code.startswith("HQ-")  # confirmed, and held for this till
    assert view.due_fen == total - 2000
    receipt = _pay_cash(t1)
    assert receipt

    _open_sale(t2)
    before = _journal(t2)
    view = _coupon(t2, code)
    assert view.notice is not None and view.notice.level == "error"
    assert render(view.notice.key, "en", **view.notice.params) == (
        "coupon SPRING20 has already been used"
    )
    assert render(view.notice.key, "zh", **view.notice.params) == "券SPRING20已被使用"
    assert view.state.tenders == () and _journal(t2) == before
    # The cloud counted one use, confirmed online; both tills learn it.
    _wait(lambda: chain.worker.db.remote.Coupon.get().uses == 1, "the use reaches the cloud")
    use = chain.worker.db.remote.CouponUse.get()
    assert (use.terminal_id, use.amount_fen, use.confirmed, use.problem) == (
        "S001-T01",
        2000,
        True,
        "",
    )
    t2.wait(lambda _v: t2.store.coupons.get(code).used == 1, timeout=30)  # type: ignore[union-attr]
    assert chain.hq.get("/api/coupon-problems").json() == []


def test_a_coupon_taken_twice_while_a_till_was_offline_is_reported(chain: Chain) -> None:
    t1, t2 = chain.t1, chain.t2
    [code] = _issue(chain, kind="percent", value=1000, codes=["TENOFF"])
    t1.login_and_open()
    t2.login_and_open()
    sync = t2.runtime.sync
    t2.runtime.sync = None  # the link is gone: questions are answered "offline" at once
    sync.stop()

    total = _open_sale(t2)
    view = _coupon(t2, code)
    assert view.notice is not None and view.notice.key == "coupon.offline", view.notice
    assert view.state.tenders[0].amount_fen == (total * 1000 + 5000) // 10_000  # 10 %, rounded
    _pay_cash(t2)

    _open_sale(t1)
    view = _coupon(t1, code)  # HQ has not heard of the offline use yet: it says yes
    assert view.notice is not None and view.notice.key == "coupon.accepted"
    _pay_cash(t1)
    _wait(lambda: chain.worker.db.remote.Coupon.get().uses == 1, "the online use")

    t2.runtime.sync = start_sync(t2.cfg, t2.runtime.paper_state)  # back online
    _wait(lambda: chain.worker.db.remote.Coupon.get().uses == 2, "the offline use arrives")
    [problem] = chain.hq.get("/api/coupon-problems").json()
    assert (problem["code"], problem["terminal_id"], problem["problems"]) == (
        code,
        "S002-T01",
        ["over_limit"],
    )
    assert problem["confirmed"] is False


def test_a_receipt_from_another_store_is_returned_once_across_the_chain(chain: Chain) -> None:
    t1, t2 = chain.t1, chain.t2
    t1.login_and_open()
    t2.login_and_open()
    _open_sale(t1, quantity=2)
    receipt = _pay_cash(t1)
    _wait(
        lambda: (
            chain.worker.db.models.Event.select()
            .where(chain.worker.db.models.Event.receipt_no == receipt)
            .exists()
        ),
        "the sale reaches the cloud",
    )

    # S002's till has no copy of the sale: it asks HQ, which has every till's sales.
    view = t2.send(ev.StartReturn(receipt))
    view = _answered(t2)
    assert view.state.returning is not None and not view.state.returning.own, view.notice
    sale = view.state.returning.sale
    unit = sale.lines[0].net_fen // 2
    t2.send(ev.ReturnLines((ev.ReturnItem(1, 1),), reason="wrong size"))
    view = _answered(t2)
    assert view.notice is not None and view.notice.key == "return.done", view.notice
    [(refund,)] = t2.store.db.query("SELECT refund_fen FROM sale_return")
    assert refund == unit

    # The selling till only knows its own journal: HQ counts the other store's return too.
    t1.send(ev.StartReturn(receipt))
    assert t1.view.state.returning is not None and t1.view.state.returning.own
    before = _journal(t1)
    t1.send(ev.ReturnLines((ev.ReturnItem(1, 2),)))
    view = _answered(t1)
    assert view.notice is not None and view.notice.level == "error"
    assert render(view.notice.key, "en", **view.notice.params) == (
        "only 1 of line 1 can still be returned (returns at every till count)"
    )
    assert view.state.returning is not None and _journal(t1) == before  # nothing changed
    t1.send(ev.ReturnLines((ev.ReturnItem(1, 1),)))
    assert _answered(t1).notice.key == "return.done"  # type: ignore[union-attr]
    sale_id = sale.sale_id
    _wait(
        lambda: (
            chain.worker.db.remote.ReturnedUnits.select()
            .where(chain.worker.db.remote.ReturnedUnits.state == "recorded")
            .count()
            == 2
        ),
        "both returns",
    )
    rows = chain.worker.db.remote.ReturnedUnits.select().where(
        chain.worker.db.remote.ReturnedUnits.sale_id == sale_id
    )
    assert sorted((r.terminal_id, r.units) for r in rows) == [("S001-T01", 1), ("S002-T01", 1)]
    assert chain.hq.get("/api/returns/over-returns").json() == []


def _refusal(view: View) -> str:
    assert view.notice is not None and view.notice.level == "error", view.notice
    return render(view.notice.key, "en", **view.notice.params)


def test_bad_questions_get_a_clear_answer_and_change_nothing(chain: Chain) -> None:
    t1, t2 = chain.t1, chain.t2
    [mine] = _issue(chain, kind="amount", value=500, codes=["S1ONLY"], stores=["S001"])
    with chain.worker.db.write():  # issued long ago, and now past its last day
        coupon_store.issue(
            chain.worker.db,
            [{"code": "OLD", "kind": "amount", "value": 500, "valid_until": "2020-12-31"}],
            "hq:test",
            dt.datetime(2020, 1, 1),
        )
    t2.login_and_open()
    before = _journal(t2)

    view = t2.send(ev.StartReturn("S001-T01-20261123-9999"))
    assert _refusal(_answered(t2)) == (
        "receipt S001-T01-20261123-9999 is not known at any till of the chain"
    )
    assert t2.view.state.returning is None

    _open_sale(t2)
    assert _refusal(_coupon(t2, "OLD")) == "coupon OLD expired on 2020-12-31"
    assert _refusal(_coupon(t2, mine)) == "coupon S1ONLY cannot be used in this store"
    assert _refusal(_coupon(t2, "NO-SUCH")) == "unknown coupon NO-SUCH"
    assert t2.view.state.tenders == () and _journal(t2) == before

    # HQ is down (the broker answers, nobody behind it): the till waits its timeout, then
    # applies its offline policy; here it refuses coupons offline.
    chain.worker.stop()
    config = dataclasses.replace(
        checkout_config(t2.cfg), hq=HqPolicy(timeout_s=2.0, coupons_offline="refuse")
    )
    t2.runtime.call(lambda: setattr(t2.runtime, "machine", Machine(make_ports(t2.store), config)))
    assert _refusal(_coupon(t2, mine)) == "HQ unreachable: coupons cannot be taken until it answers"
    t2.send(ev.CancelTender()) if t2.view.state.tenders else None
    t2.send(ev.BackToSale())
    t2.send(ev.CancelSale())
    view = t2.send(ev.StartReturn("S001-T01-20261123-0001"))
    assert _refusal(_answered(t2)) == (
        "receipt S001-T01-20261123-0001 is from another till and HQ cannot be reached: "
        "the return needs HQ online"
    )
    assert view.state.phase.value in ("idle", "feedback") and _journal(t2) == before
    assert t1.view.state.asking is None
