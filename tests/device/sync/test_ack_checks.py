"""A terminal applies an ACK only if it fits its own journal; the cloud's verdict stops it.

The attacker here publishes with ``mosquitto_pub`` as the one identity the broker lets send
ACKs: whoever holds it must still name the event this store file wrote at that seq, or the
terminal would delete unsynced sales on a word.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from device.store.db import open_database
from device.store.outbox import Outbox
from protocol import codec, topics
from protocol.envelope import Ack
from tests.broker import Broker
from tests.device.sync.fakecloud import FakeCloud
from tests.device.sync.harness import record_sales

ACK_TOPIC = topics.ack_topic("S001", "S001-T01")


def _pub(broker: Broker, ack: Ack) -> None:
    broker.mosquitto_pub("ingest", ACK_TOPIC, codec.encode_ack(ack))


def _outbox(path: Path) -> tuple[int, str | None]:
    db = open_database(path)
    try:
        box = Outbox(db)
        return box.depth(), box.event_id_at(5)
    finally:
        db.close()


def test_an_ack_naming_another_event_is_ignored_and_the_true_one_applies(
    broker: Broker, store_file: Path, make_service
) -> None:
    record_sales(store_file, 5)
    cloud = FakeCloud(broker, ack=False)  # answers the Hello (nothing held), never ACKs
    try:
        svc = make_service(store_file, resend_after_s=60)
        assert svc.wait(lambda s: s.verified and s.events_sent == 5, 15), svc.stats()
        depth, real_id = _outbox(store_file)
        assert depth == 5 and real_id is not None
        _pub(broker, Ack(terminal_id="S001-T01", acked_seq=5, acked_event_id=str(uuid.uuid4())))
        assert svc.wait(lambda s: s.rejected_messages == 1, 15), svc.stats()
        assert "not this store file's" in svc.stats().last_problem
        assert _outbox(store_file)[0] == 5  # nothing deleted
        assert not svc.stats().halted  # an ordinary ACK never stops sync on its own word
        _pub(broker, Ack(terminal_id="S001-T01", acked_seq=5, acked_event_id=real_id))
        assert svc.wait(lambda s: s.acked_seq == 5 and s.outbox_depth == 0, 15), svc.stats()
    finally:
        cloud.close()


def test_conflicts_named_by_the_cloud_stop_publishing(
    broker: Broker, store_file: Path, make_service
) -> None:
    record_sales(store_file, 3)
    cloud = FakeCloud(broker, ack=False)
    try:
        svc = make_service(store_file, resend_after_s=60)
        assert svc.wait(lambda s: s.verified and s.events_sent == 3, 15), svc.stats()
        _pub(broker, Ack(terminal_id="S001-T01", acked_seq=0, conflicts=[2]))
        assert svc.wait(lambda s: bool(s.halted), 15), svc.stats()
        assert "other events at seqs [2]" in svc.stats().halted
        record_sales(store_file, 2, start=3)
        svc.wake()
        assert not svc.wait(lambda s: s.events_sent > 3, 2)  # stopped: nothing more goes out
        assert _outbox(store_file)[0] == 5
    finally:
        cloud.close()
