"""The outbox publisher against a real Mosquitto and a real SQLite store."""

from __future__ import annotations

from pathlib import Path

import msgspec

from device.store.db import open_database
from device.store.outbox import Outbox
from tests.broker import Broker
from tests.device.sync.fakecloud import FakeCloud
from tests.device.sync.harness import expected_total, record_sales


def depth(path: Path) -> int:
    db = open_database(path)
    try:
        return Outbox(db).depth()
    finally:
        db.close()


def test_outbox_drains_in_seq_order_and_rows_go_only_after_ack(
    broker: Broker, store_file: Path, make_service
) -> None:
    record_sales(store_file, 450)
    cloud = FakeCloud(broker)
    try:
        svc = make_service(store_file, batch_size=100)
        assert svc.wait(lambda s: s.acked_seq == 450, 30), svc.stats()
        assert svc.wait(lambda s: s.outbox_depth == 0, 5)
        assert depth(store_file) == 0
        assert cloud.count("S001-T01") == 450
        assert sorted(seq for _, seq in cloud.events) == list(range(1, 451))
        totals = sum(msgspec.convert(env.body, dict)["total_fen"] for env in cloud.events.values())
        assert totals == expected_total(450)
        # Several events per message: 450 events at 100 per batch is 5 messages, not 450.
        assert cloud.batches <= 10
        assert not cloud.bad_batches
    finally:
        cloud.close()


def test_puback_alone_deletes_nothing_and_unacked_rows_are_resent(
    broker: Broker, store_file: Path, make_service
) -> None:
    record_sales(store_file, 30)
    cloud = FakeCloud(broker, ack=False)
    try:
        svc = make_service(store_file, resend_after_s=0.5)
        # The broker PUBACKs every batch, the cloud never ACKs: after a few resend rounds
        # every event has arrived more than once, and the outbox still holds all 30.
        assert svc.wait(lambda s: s.resends >= 2, 20), svc.stats()
        assert cloud.deliveries >= 60
        assert cloud.count("S001-T01") == 30
        assert depth(store_file) == 30
        assert svc.stats().acked_seq == 0
    finally:
        cloud.close()
