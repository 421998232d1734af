"""Downstream changes from HQ through a real Mosquitto into the terminal's real SQLite caches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from device.store import bulk
from device.store.db import open_database
from device.store.members import MemberCache
from protocol import codec, topics
from protocol.envelope import CatchupRequest, DownChange
from tests.broker import Broker, MqttClient


def member(n: int, points: int = 0, tier: str = "regular") -> dict[str, Any]:
    return {
        "member_id": f"M{n:04d}",
        "phone": f"1380000{n:04d}",
        "name": f"Member {n}",
        "tier": tier,
        "points_balance": points,
        "cumulative_spend_fen": 0,
        "birthday": None,
        "opt_out_sms": False,
        "member_code": f"QR{n:04d}",
        "cards": [f"CARD{n:04d}"],
    }


def change(version: int, items: list[dict[str, Any]], **kw: Any) -> bytes:
    fields: dict[str, Any] = {"stream": "members", "scope": "S001", "kind": "upsert"}
    fields.update(kw)
    return codec.encode_down(DownChange(version=version, items=items, **fields))


def cache(path: Path) -> tuple[dict[str, tuple[str, int]], int]:
    """{member_id: (tier, points)} and the members stream version, read from the store file."""
    db = open_database(path)
    try:
        members = {
            r[0]: (r[1], r[2])
            for r in db.query("SELECT member_id, tier, points_balance FROM member")
        }
        assert MemberCache(db).count() == len(members)
        return members, bulk.stream_version(db.conn(), "members")
    finally:
        db.close()


def hq(broker: Broker) -> MqttClient:
    c = broker.client("hq", client_id="hq-test")
    c.subscribe(topics.ALL_CATCHUP)
    return c


def listening(h: MqttClient, svc: Any) -> None:
    """Wait until the terminal is connected and subscribed. Its on-connect catch-up request
    follows its SUBSCRIBE on the same connection, so once HQ has seen the request, what HQ
    publishes reaches the terminal (a change sent before that would find no subscriber)."""
    assert svc.wait(lambda s: s.connected, 30)
    h.wait_for(lambda m: m.topic.endswith("/catchup"), timeout=30)


def catchups(client: MqttClient) -> list[CatchupRequest]:
    return [codec.decode_catchup(m.payload) for m in client.received_on(
        topics.catchup_topic("S001", "S001-T01"))]  # fmt: skip


STORE_TOPIC = topics.down_topic("S001", "members")
ALL_TOPIC = topics.down_topic("all", "members")
OWN_TOPIC = topics.terminal_down_topic("S001", "S001-T01", "members")


def test_member_change_is_applied_once_even_when_delivered_twice(
    broker: Broker, store_file: Path, make_service
) -> None:
    h = hq(broker)
    svc = make_service(store_file)
    listening(h, svc)
    h.publish(STORE_TOPIC, change(1, [member(1, points=100)]))
    h.publish(STORE_TOPIC, change(1, [member(1, points=100)]))  # redelivered
    h.publish(STORE_TOPIC, change(2, [member(1, points=250, tier="silver")]))
    # A stale copy of version 1 arriving late must not undo version 2.
    h.publish(STORE_TOPIC, change(1, [member(1, points=100)]))
    assert svc.wait(lambda s: s.down_applied + s.down_skipped == 4, 30), svc.stats()
    assert cache(store_file) == ({"M0001": ("silver", 250)}, 2)
    stats = svc.stats()
    assert (stats.down_applied, stats.down_skipped) == (2, 2)
    assert stats.stream_versions["members"] == 2


def test_changes_for_all_stores_and_for_this_terminal_both_apply(
    broker: Broker, store_file: Path, make_service
) -> None:
    h = hq(broker)
    svc = make_service(store_file)
    listening(h, svc)
    h.publish(ALL_TOPIC, change(1, [member(1)], scope="all"))
    h.publish(OWN_TOPIC, change(2, [member(2)]))
    # Meant for another store: the broker's ACL never shows it to S001 at all.
    h.publish(topics.down_topic("S002", "members"), change(3, [member(3)], scope="S002"))
    assert svc.wait(lambda s: s.down_applied == 2, 30), svc.stats()
    members, version = cache(store_file)
    assert sorted(members) == ["M0001", "M0002"] and version == 2


def test_version_gap_asks_for_catch_up_and_the_reply_fills_it(
    broker: Broker, store_file: Path, make_service
) -> None:
    h = hq(broker)
    svc = make_service(store_file, catchup_wait_s=30)
    # On connect the terminal asks for everything after what it holds (nothing yet).
    h.wait_for(lambda m: m.topic.endswith("/catchup"))
    first = catchups(h)[0]
    assert first.streams == {s: 0 for s in topics.STREAMS}
    h.publish(STORE_TOPIC, change(1, [member(1)]))
    assert svc.wait(lambda s: s.stream_versions.get("members") == 1, 30)
    h.publish(STORE_TOPIC, change(4, [member(4)]))  # versions 2 and 3 never arrived
    h.wait_for(lambda m: m.topic.endswith("/catchup"), count=2)
    assert catchups(h)[1].streams == {"members": 1}
    assert cache(store_file) == ({"M0001": ("regular", 0)}, 1)  # 4 is held back, not applied
    # HQ answers on the terminal's own topic, in order, from version 2.
    for v in (2, 3, 4):
        h.publish(OWN_TOPIC, change(v, [member(v)]))
    assert svc.wait(lambda s: s.stream_versions.get("members") == 4, 30), svc.stats()
    members, version = cache(store_file)
    assert sorted(members) == ["M0001", "M0002", "M0003", "M0004"] and version == 4


def test_gap_with_no_catch_up_reply_applies_the_held_change_after_the_wait(
    broker: Broker, store_file: Path, make_service
) -> None:
    h = hq(broker)
    svc = make_service(store_file, catchup_wait_s=1.0)
    listening(h, svc)
    h.publish(STORE_TOPIC, change(1, [member(1)]))
    # Version 2 went to another store; nobody answers the catch-up.
    h.publish(STORE_TOPIC, change(3, [member(3)]))
    assert svc.wait(lambda s: s.stream_versions.get("members") == 3, 30), svc.stats()
    assert sorted(cache(store_file)[0]) == ["M0001", "M0003"]


def snapshot(version: int, chunks: list[list[dict[str, Any]]], sid: str = "snap-1") -> list[bytes]:
    return [
        change(version, items, kind="snapshot_chunk", snapshot_id=sid, chunk=i, chunks=len(chunks))
        for i, items in enumerate(chunks)
    ]


def seed(h: MqttClient, svc: Any) -> None:
    h.publish(STORE_TOPIC, change(1, [member(1, points=10)]))
    assert svc.wait(lambda s: s.stream_versions.get("members") == 1, 30)


def test_snapshot_in_chunks_replaces_the_cache(
    broker: Broker, store_file: Path, make_service
) -> None:
    h = hq(broker)
    svc = make_service(store_file)
    listening(h, svc)
    seed(h, svc)
    parts = snapshot(7, [[member(2), member(3)], [member(4)], [member(5), member(6)]])
    for payload in (parts[2], parts[0], parts[1]):  # chunks may arrive in any order
        h.publish(OWN_TOPIC, payload)
    assert svc.wait(lambda s: s.snapshots_loaded == 1, 30), svc.stats()
    members, version = cache(store_file)
    assert sorted(members) == ["M0002", "M0003", "M0004", "M0005", "M0006"]
    assert version == 7


def test_snapshot_missing_a_chunk_leaves_the_old_cache(
    broker: Broker, store_file: Path, make_service
) -> None:
    h = hq(broker)
    svc = make_service(store_file, snapshot_timeout_s=1.0)
    listening(h, svc)
    seed(h, svc)
    parts = snapshot(7, [[member(2)], [member(3)], [member(4)]])
    h.publish(OWN_TOPIC, parts[0])
    h.publish(OWN_TOPIC, parts[2])
    assert svc.wait(lambda s: s.snapshots_failed == 1, 30), svc.stats()
    assert cache(store_file) == ({"M0001": ("regular", 10)}, 1)
    assert "never arrived" in svc.stats().last_problem


def test_snapshot_with_a_corrupt_chunk_leaves_the_old_cache(
    broker: Broker, store_file: Path, make_service
) -> None:
    h = hq(broker)
    svc = make_service(store_file, snapshot_timeout_s=1.0)
    listening(h, svc)
    seed(h, svc)
    bad = dict(member(3), phone="x")  # not a phone number: the store refuses the row
    parts = snapshot(7, [[member(2)], [bad], [member(4)]])
    for payload in parts:
        h.publish(OWN_TOPIC, payload)
    # A second snapshot whose middle chunk is unreadable bytes never completes.
    parts2 = snapshot(8, [[member(5)], [member(6)]], sid="snap-2")
    h.publish(OWN_TOPIC, parts2[0])
    h.publish(OWN_TOPIC, parts2[1][: len(parts2[1]) // 2])
    assert svc.wait(lambda s: s.snapshots_failed == 2, 30), svc.stats()
    assert cache(store_file) == ({"M0001": ("regular", 10)}, 1)
    assert svc.stats().rejected_messages >= 1


def test_after_a_restart_the_terminal_asks_to_catch_up_from_what_it_holds(
    broker: Broker, store_file: Path, make_service
) -> None:
    h = hq(broker)
    svc = make_service(store_file, catchup_wait_s=0.5)
    listening(h, svc)
    h.publish(STORE_TOPIC, change(5, [member(1)]))  # a first change may carry any version
    h.publish(topics.down_topic("all", "prices"), change(1, [], stream="prices", scope="all"))
    assert svc.wait(lambda s: s.stream_versions.get("members") == 5, 30), svc.stats()
    svc.stop()
    h.messages.clear()
    make_service(store_file)
    h.wait_for(lambda m: m.topic.endswith("/catchup"))
    request = catchups(h)[0]
    assert request.streams["members"] == 5 and request.streams["prices"] == 1
    assert request.terminal_id == "S001-T01" and request.store_id == "S001"


def test_another_stores_change_is_not_taken_for_a_gap_but_a_lost_one_is(
    broker: Broker, store_file: Path, make_service
) -> None:
    # The cloud's versions of the members stream, S001 and S002 interleaved (by hand):
    # 1 all, 2 S002, 3 S001, 4 S002, 5 all, 6 S001 (lost on the way), 7 all.
    # A long wait: a change taken for a gap would sit held back for the whole test.
    h = hq(broker)
    svc = make_service(store_file, catchup_wait_s=600)
    listening(h, svc)
    h.publish(ALL_TOPIC, change(1, [member(1)], scope="all", previous={"all": 0}))
    h.publish(STORE_TOPIC, change(3, [member(3)], previous={"all": 1, "S001": 0}))
    # Version 5 names S002's 4 as well: not this store's, so nothing is missing here.
    h.publish(ALL_TOPIC, change(5, [member(5)], scope="all",
                                previous={"all": 1, "S001": 3, "S002": 4}))  # fmt: skip
    assert svc.wait(lambda s: s.stream_versions.get("members") == 5, 30), svc.stats()
    assert svc.stats().catchups_requested == 1  # only the one every connect sends
    assert sorted(cache(store_file)[0]) == ["M0001", "M0003", "M0005"]
    # 7 says S001 had 6 before it: that one was lost, so 7 waits and a catch-up asks from 5.
    h.publish(ALL_TOPIC, change(7, [member(7)], scope="all", previous={"all": 5, "S001": 6}))
    h.wait_for(lambda m: m.topic.endswith("/catchup"), count=2, timeout=30)
    assert catchups(h)[-1].streams == {"members": 5}
    assert cache(store_file)[1] == 5
    h.publish(OWN_TOPIC, change(6, [member(6)]))  # the reply: in order, from version 6
    assert svc.wait(lambda s: s.stream_versions.get("members") == 7, 30), svc.stats()
    assert sorted(cache(store_file)[0]) == ["M0001", "M0003", "M0005", "M0006", "M0007"]


def test_a_lost_change_is_waited_for_not_skipped_when_no_reply_comes(
    broker: Broker, store_file: Path, make_service
) -> None:
    h = hq(broker)
    svc = make_service(store_file, catchup_wait_s=0.5)
    listening(h, svc)
    h.publish(STORE_TOPIC, change(1, [member(1)], previous={"all": 0, "S001": 0}))
    assert svc.wait(lambda s: s.stream_versions.get("members") == 1, 30)
    h.publish(STORE_TOPIC, change(3, [member(3)], previous={"all": 0, "S001": 2}))
    # Nobody answers: the terminal asks again rather than applying 3 over the lost 2.
    h.wait_for(lambda m: m.topic.endswith("/catchup"), count=3, timeout=30)
    assert [c.streams for c in catchups(h)[1:3]] == [{"members": 1}, {"members": 1}]
    assert cache(store_file) == ({"M0001": ("regular", 0)}, 1)
    h.publish(OWN_TOPIC, change(2, [member(2)]))
    assert svc.wait(lambda s: s.stream_versions.get("members") == 3, 30), svc.stats()
