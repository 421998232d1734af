"""One member, two stores: points spent at one till are gone at every till, and never twice.

Two whole terminals (real store files, the checkout machine, the runtime, their sync) in
stores S001 and S002, one real broker and the cloud's ingest. The member's history comes from
the cloud: a registration and a ¥10,000 sale at a third till, pushed chain-wide. Every figure
is worked out by hand from the default rules: 1 point per ¥10 paid in money, tier discounts
9折 (silver) and 8折 (gold), 100 points = ¥10, at most half of a sale in points.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings as IngestBrokerSettings
from device.checkout import events as ev
from device.checkout.records import TenderKind
from protocol.codec import encode_batch
from protocol.envelope import Batch, Envelope, utc_iso
from protocol.topics import events_topic
from tests.broker import Broker
from tests.cloud.factories import registration_body, sale_body
from tests.device.harness import Terminal
from tests.scenarios.chain import start_till

MEMBER, PHONE = "M-LOYAL", "13800009999"


@pytest.fixture
def chain(broker: Broker, tmp_path: Path) -> Iterator[tuple[Terminal, Terminal, IngestWorker]]:
    worker = IngestWorker(
        f"sqlite:///{tmp_path}/cloud.db",
        IngestBrokerSettings(host=broker.host, port=broker.port, username="ingest",
                             password=broker.password("ingest")),
        client_id="ingest-loyalty",
    )  # fmt: skip
    worker.start()
    tills: list[Terminal] = []
    try:
        tills.append(start_till(tmp_path / "t1", broker, "S001", "S001-T01"))
        tills.append(start_till(tmp_path / "t2", broker, "S002", "S002-T01"))
        yield tills[0], tills[1], worker
    finally:
        for till in tills:
            if till.runtime.sync is not None:
                till.runtime.sync.stop()
            till.stop()
        worker.stop()


def _history_from_another_till(broker: Broker) -> None:
    """S001-T02 registered the member and sold ¥10,000 of goods: 1,000 points, gold."""
    now = dt.datetime.now(dt.UTC)
    bodies = [
        ("member_registered", registration_body(MEMBER, PHONE, "赵敏")),
        ("sale", sale_body([("TV", 1, 1_000_000)], member_id=MEMBER, time=now)),
    ]
    events = [
        Envelope(id=str(uuid.uuid4()), terminal_id="S001-T02", store_id="S001", seq=i + 1,
                 type=kind, device_time=utc_iso(now), clock_synced=True, body=body)
        for i, (kind, body) in enumerate(bodies)
    ]  # fmt: skip
    client = broker.client("S001-T02", client_id="S001-T02")
    batch = Batch(terminal_id="S001-T02", store_id="S001", events=events)
    client.publish(events_topic("S001", "S001-T02"), encode_batch(batch))


def _balance(till: Terminal) -> int:
    member = till.store.members.by_id(MEMBER)
    return -1 if member is None else member.points_balance


def _wait_balance(till: Terminal, expected: int, what: str) -> None:
    try:
        till.wait(lambda _: _balance(till) == expected, timeout=30)
    except AssertionError:
        raise AssertionError(f"{what}: balance {_balance(till)}, not {expected}") from None


def _product(till: Terminal) -> tuple[str, int]:
    row = till.store.db.row(
        "SELECT b.code, p.price_fen FROM product AS p JOIN barcode AS b ON b.sku = p.sku "
        "WHERE p.sold_by_weight = 0 AND p.tier_discount = 1 AND p.price_fen >= 10000 "
        "ORDER BY p.price_fen DESC LIMIT 1"
    )
    assert row is not None
    return str(row[0]), int(row[1])


def _sell(till: Terminal, redeem: int = 0) -> list[str]:
    """A gold member's sale of the till's dearest product, redeeming ``redeem`` points."""
    code, _ = _product(till)
    till.scan(code)
    till.send(ev.IdentifyMember("phone", PHONE))
    till.send(ev.Subtotal())
    errors: list[str] = []
    if redeem:
        view = till.send(ev.RedeemPoints(redeem))
        if view.notice is not None and view.notice.level == "error":
            errors.append(view.notice.text)
    view = till.send(ev.AddTender(TenderKind.CASH, 1_000_000))
    till.send(ev.SkipFeedback())
    return errors


def test_points_spent_at_one_till_cannot_be_spent_again_at_any(
    broker: Broker, chain: tuple[Terminal, Terminal, IngestWorker]
) -> None:
    t1, t2, _ = chain
    _history_from_another_till(broker)
    # Chain-wide: both stores' tills learn the member and the cloud's 1,000 points.
    _wait_balance(t1, 1000, "the member reaches store 1")
    _wait_balance(t2, 1000, "the member reaches store 2")
    t1.login_and_open()
    t2.login_and_open()

    _, price = _product(t1)
    paid = price - price * 2000 // 10_000 - 2000  # gold 8折, then 200 points = ¥20
    earned = paid // 1000
    assert _sell(t1, redeem=200) == []
    after = 1000 - 200 + earned
    assert _balance(t1) == after  # at once, before any ACK
    # The cloud counts the sale and pushes the member's facts to every till: store 2 sees the
    # redemption, and store 1 does not count its own sale a second time.
    _wait_balance(t2, after, "store 2 sees the redemption")
    t1.wait(lambda _: t1.store.db.row("SELECT rev FROM member WHERE member_id = ?",
                                      (MEMBER,))[0] >= 2, timeout=30)  # fmt: skip
    assert _balance(t1) == after
    # 900 points are no longer there, at either till (the refused sale then pays in cash and
    # earns its points like any other, which store 2 is told of before its own attempt).
    assert _sell(t1, redeem=900) == [f"only {after} points available"]
    earned_again = (price - price * 2000 // 10_000) // 1000  # all of it paid in money
    _wait_balance(t2, after + earned_again, "store 2 sees the second sale")
    assert _sell(t2, redeem=900) == [f"only {after + earned_again} points available"]
