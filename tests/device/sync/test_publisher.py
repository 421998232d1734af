"""The outbox publisher against a real Mosquitto and a real SQLite store."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from pathlib import Path

import msgspec

from device.checkout.records import SaleRecord
from device.store.db import open_database
from device.store.journal import JournalWriter
from device.store.outbox import Outbox
from device.sync.publisher import OutboxPublisher
from device.sync.storage import SyncStorage
from protocol import codec, topics
from protocol.envelope import MAX_BATCH_BYTES, MAX_EVENTS_PER_BATCH, Ack
from tests.broker import Broker
from tests.device.sync.builders import sale
from tests.device.sync.fakecloud import FakeCloud
from tests.device.sync.harness import SHANGHAI, expected_total, record_sales


def big_sale(n: int, lines: int) -> SaleRecord:
    """Sale n with `lines` copies of its one line (numbered 1..lines)."""
    base = sale(n)
    line = base.lines[0]
    many = tuple(dataclasses.replace(line, line_no=i + 1) for i in range(lines))
    gross = line.gross_fen * lines
    return dataclasses.replace(
        base,
        lines=many,
        gross_fen=gross,
        total_fen=gross,
        tenders=(dataclasses.replace(base.tenders[0], amount_fen=gross, tendered_fen=gross),),
    )


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
        assert svc.wait(lambda s: s.outbox_depth == 0, 30)
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
        assert svc.wait(lambda s: s.resends >= 2, 30), svc.stats()
        assert cloud.deliveries >= 60
        assert cloud.count("S001-T01") == 30
        assert depth(store_file) == 30
        assert svc.stats().acked_seq == 0
    finally:
        cloud.close()


def test_in_flight_batches_are_bounded_by_the_window(
    broker: Broker, store_file: Path, make_service
) -> None:
    record_sales(store_file, 1000)
    cloud = FakeCloud(broker, ack=False)
    try:
        svc = make_service(store_file, batch_size=50, window=3, resend_after_s=60)
        assert svc.wait(lambda s: s.batches_sent == 3, 30), svc.stats()
        deadline = time.monotonic() + 30
        while cloud.batches < 3 and time.monotonic() < deadline:
            time.sleep(0.02)  # the broker's deliveries of what was sent
        time.sleep(0.5)  # an observation window: no ACK, so nothing more may go out meanwhile
        assert svc.stats().batches_sent == 3
        assert cloud.batches == 3 and cloud.deliveries == 150
        assert sorted(seq for _, seq in cloud.events) == list(range(1, 151))
    finally:
        cloud.close()


def test_a_batch_lost_before_the_cloud_is_resent_from_the_ack_gap(
    broker: Broker, store_file: Path, make_service
) -> None:
    record_sales(store_file, 500)
    cloud = FakeCloud(broker, drop_batches=1)  # batch 2 (seq 101-200) vanishes
    try:
        svc = make_service(store_file, batch_size=100, resend_after_s=0.5)
        assert svc.wait(lambda s: s.acked_seq == 500, 30), svc.stats()
        # Batches 3-5 arrived but the ACK stayed at 100 until the resend filled the gap.
        assert [a for _, a in cloud.acks_sent][:4] == [100, 100, 100, 100]
        assert svc.stats().resends >= 1
        assert cloud.count("S001-T01") == 500
        assert depth(store_file) == 0
    finally:
        cloud.close()


def test_batches_stay_within_the_protocol_limits_and_in_seq_order(store_file: Path) -> None:
    # Big sales (120 lines each) force the byte limit; small ones the event-count limit.
    db = open_database(store_file)
    writer = JournalWriter(db, "S001-T01", SHANGHAI)
    for n in range(40):
        writer.record_sale(big_sale(n, lines=120), dt.datetime.now(dt.UTC))
    db.close()
    record_sales(store_file, 1200, start=40)
    storage = SyncStorage.open(store_file)
    sent: list[bytes] = []
    try:
        pub = OutboxPublisher(
            storage, lambda _t, p: sent.append(p) is None, "S001", "S001-T01", batch_size=500
        )
        pub.on_connected(0.0)
        while pub.tick(0.0):
            pub.on_ack(pub.stats().sent_seq, 0.0)
    finally:
        storage.close()
    seqs: list[int] = []
    for payload in sent:
        assert len(payload) <= MAX_BATCH_BYTES
        batch = codec.decode_batch(payload)  # the cloud's own validation
        assert 1 <= len(batch.events) <= MAX_EVENTS_PER_BATCH
        seqs.extend(e.seq for e in batch.events)
    assert seqs == list(range(1, 1241))
    assert any(len(p) > MAX_BATCH_BYTES // 2 for p in sent)  # the big sales were packed tight


def test_duplicated_and_reordered_acks_only_ever_move_forward(
    broker: Broker, store_file: Path, make_service
) -> None:
    record_sales(store_file, 60)
    cloud = FakeCloud(broker, ack=False)
    acker = broker.client("ingest-2", client_id="late-acker")  # FakeCloud is "ingest"
    try:
        svc = make_service(store_file, resend_after_s=60)
        assert svc.wait(lambda s: s.events_sent == 60, 30), svc.stats()
        topic = topics.ack_topic("S001", "S001-T01")
        for seq in (40, 40, 10, 25, 40):  # a late, older ACK must not matter
            acker.publish(topic, codec.encode_ack(Ack(terminal_id="S001-T01", acked_seq=seq)))
        # Six: the answer to the terminal's Hello, then the five above.
        assert svc.wait(lambda s: s.acks == 6, 30), svc.stats()
        assert svc.stats().acked_seq == 40
        assert depth(store_file) == 20
    finally:
        acker.close()
        cloud.close()
