"""Corrupt ACKs and downstream payloads: each is refused with a reason, and sync carries on."""

from __future__ import annotations

from pathlib import Path

from cloud.ingest.worker import IngestWorker
from protocol import codec, topics
from protocol.envelope import Ack, DownChange
from tests.broker import Broker
from tests.device.sync.harness import expected_total, make_service, record_sales, store_file
from tests.faults.sync_helpers import cloud_sales, ingest, outbox_depth

__all__ = ["ingest", "make_service", "store_file"]

ACK = topics.ack_topic("S001", "S001-T01")
MEMBERS = topics.down_topic("S001", "members")

BAD_ACKS = [
    b"",
    b"\xff\xfe not json",
    b'{"v":1,"terminal_id":"S001-T01"}',  # no acked_seq
    b'{"v":9,"terminal_id":"S001-T01","acked_seq":5}',  # a protocol version we do not speak
    b'{"v":1,"terminal_id":"S001-T01","acked_seq":-3}',
    b'{"v":1,"terminal_id":"S001-T01","acked_seq":"7"}',
    codec.encode_ack(Ack(terminal_id="S001-T02", acked_seq=40)),  # someone else's ACK
    # Beyond anything this terminal wrote: the store refuses it rather than drop rows.
    codec.encode_ack(Ack(terminal_id="S001-T01", acked_seq=10_000_000)),
    b"[" * 100_000,
]

BAD_DOWN = [
    b"",
    b"garbage",
    b'{"v":1,"stream":"members"}',
    b'{"v":1,"stream":"members","version":0,"scope":"S001","kind":"upsert","items":[]}',
    b'{"v":1,"stream":"members","version":3,"scope":"S001","kind":"explode","items":[]}',
    # A change for prices on the members topic.
    codec.encode_down(
        DownChange(stream="prices", version=2, scope="S001", kind="upsert", items=[])
    ),
    # Readable, but the member in it is not: nothing of it is applied.
    codec.encode_down(
        DownChange(
            stream="members",
            version=1,
            scope="S001",
            kind="upsert",
            items=[{"member_id": "M1", "phone": "12"}],
        )
    ),
]


def test_corrupt_acks_and_downstream_payloads_never_stop_sync(
    broker: Broker, ingest: IngestWorker, store_file: Path, make_service, tmp_path: Path
) -> None:
    svc = make_service(store_file)
    assert svc.wait(lambda s: s.connected, 30)
    cloud = broker.client("ingest-2", client_id="rogue-cloud")  # "ingest" is the worker's
    hq = broker.client("hq", client_id="rogue-hq")
    for payload in BAD_ACKS:
        cloud.publish(ACK, payload)
    for payload in BAD_DOWN:
        hq.publish(MEMBERS, payload)
    bad = len(BAD_ACKS) + len(BAD_DOWN)
    assert svc.wait(lambda s: s.rejected_messages == bad, 30), svc.stats()
    stats = svc.stats()
    assert stats.acked_seq == 0 and stats.stream_versions["members"] == 0
    assert stats.last_problem  # the last reason is kept for the status/diagnostics
    # Still alive: sales recorded now drain through the real cloud, and a good change applies.
    record_sales(store_file, 25)
    svc.wake()
    good = DownChange(
        stream="members", version=1, scope="S001", kind="upsert",
        items=[{"member_id": "M1", "phone": "13800001111", "name": "Li"}],
    )  # fmt: skip
    hq.publish(MEMBERS, codec.encode_down(good))
    assert svc.wait(lambda s: s.acked_seq == 25 and s.stream_versions["members"] == 1, 30), (
        svc.stats()
    )
    assert cloud_sales(tmp_path, "S001-T01") == (25, 25, expected_total(25))
    assert outbox_depth(store_file) == 0
    cloud.close()
    hq.close()
