"""Group commit against a real Mosquitto: a backlog committed several messages a transaction.

Each test builds a backlog the way an outage does: the worker's first commit is held at the
database (another connection holds the write lock) while the rest of the stream arrives and
is prepared; released, the worker finds them waiting and groups them. The same stream
through a worker that commits one message per transaction (``group_max=1``) is the
reference: the two databases and every ACK must agree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import pytest

from cloud.ingest.worker import IngestWorker
from cloud.store.db import open_cloud_db
from protocol.codec import decode_ack, decode_down, encode_status
from protocol.envelope import Ack, DownChange, Envelope, Status
from protocol.topics import ack_topic, down_topic, events_topic, status_topic
from tests.broker import Broker, MqttClient
from tests.cloud.factories import batch_payload, envelope, sale_body, simple_sale
from tests.cloud.ingest.checks import assert_exact, stored_contents, two_databases
from tests.cloud.ingest.conftest import ingest_settings
from tests.cloud.ingest.workload import TERMINALS, build
from tests.faults.sync_helpers import wait_until

T1, T2, T3 = "S001-T01", "S001-T02", "S002-T01"
Message = tuple[str, bytes]  # (terminal, payload)


@contextmanager
def _writes_held(url: str) -> Iterator[None]:
    """Hold the database's write lock (SQLite) or the terminals table (PostgreSQL) from
    another connection: the worker's next commit waits, as on a busy database."""
    if url.startswith("sqlite:///"):
        lite = sqlite3.connect(url[len("sqlite:///") :], isolation_level=None)
        lite.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            lite.execute("ROLLBACK")
            lite.close()
        return
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("LOCK TABLE terminals IN EXCLUSIVE MODE")
        yield
    finally:
        conn.rollback()
        conn.close()


@dataclass
class Run:
    """What one worker did with a stream: its ACKs per terminal and the member changes."""

    acks: dict[str, list[Ack]] = field(default_factory=dict)
    members: list[DownChange] = field(default_factory=list)
    groups: int = 0
    batches: int = 0


def _ingest(
    broker: Broker, url: str, stream: Sequence[Message], *, group_max: int, tag: str,
    username: str = "ingest",
) -> Run:  # fmt: skip
    """Send ``stream`` as a backlog to one worker; return once every message is ACKed."""
    worker = IngestWorker(url, ingest_settings(broker, username), client_id=f"ingest-{tag}",
                          share_group=f"group-{tag}", group_max=group_max)  # fmt: skip
    worker.start()
    clients: dict[str, MqttClient] = {}
    try:
        for terminal in sorted({t for t, _ in stream}):
            c = broker.client(terminal, client_id=f"{terminal}-{tag}")
            c.subscribe(ack_topic(terminal.split("-")[0], terminal))
            c.subscribe(down_topic("all", "members"))
            clients[terminal] = c

        def send(terminal: str, payload: bytes) -> None:
            clients[terminal].publish(events_topic(terminal.split("-")[0], terminal), payload)

        with _writes_held(url):
            # A till's status goes first: never grouped, its write waits on the database
            # while the whole stream arrives behind it and is prepared.
            gate = stream[0][0]
            clients[gate].publish(status_topic(gate.split("-")[0], gate), _status(gate))
            for message in stream:
                send(*message)
            wait_until(
                lambda: worker._ready.qsize() == len(stream), 30, "the backlog to be prepared"
            )
        expected = {t: sum(1 for s, _ in stream if s == t) for t in clients}
        for terminal, c in clients.items():
            topic = ack_topic(terminal.split("-")[0], terminal)
            wait_until(
                lambda c=c, topic=topic, terminal=terminal: (  # type: ignore[misc]
                    len(c.received_on(topic)) >= expected[terminal]
                ),
                30,
                f"ACKs of {terminal}",
            )
        run = Run(groups=worker.groups_committed, batches=worker.batches_applied)
        for terminal, c in clients.items():
            topic = ack_topic(terminal.split("-")[0], terminal)
            run.acks[terminal] = [decode_ack(m.payload) for m in c.received_on(topic)]
        # Every client hears each member change once; the first client's copy is the list.
        any_client = clients[min(clients)]
        wait_until(lambda: worker.load()[1] == 0, 30, "the worker to be idle")
        run.members = [decode_down(m.payload)
                       for m in any_client.received_on(down_topic("all", "members"))]  # fmt: skip
        return run
    finally:
        for c in clients.values():
            c.close()
        worker.stop()


def _status(terminal: str) -> bytes:
    return encode_status(
        Status(
            terminal_id=terminal, store_id=terminal.split("-")[0], online=True, outbox_depth=9,
            oldest_unsynced_s=60.0, stream_versions={}, clock_synced=True, printer="ok",
            software_version="1.2.3", sent_at="2026-11-23T06:30:00Z", last_problem="",
        )
    )  # fmt: skip


def _ack_fields(acks: Sequence[Ack]) -> list[tuple[Any, ...]]:
    return [(a.acked_seq, a.acked_event_id, a.max_seq, a.epoch, a.dead_lettered, a.conflicts)
            for a in acks]  # fmt: skip


ENGINES = ["sqlite", pytest.param("pg", marks=pytest.mark.pg)]


def _mixed_stream() -> list[Message]:
    """Three tills' batches interleaved, with shared members, a duplicate resend, a conflict,
    a dead event, a held sale and a rejected message in the middle."""

    def sale(terminal: str, seq: int, member: str | None, net: int = 1500) -> Envelope:
        body = sale_body([(f"SKU{seq % 3}", 1, net)], member_id=member,
                         receipt_no=f"{terminal}-{seq}")  # fmt: skip
        return envelope(terminal, seq, body)

    t1 = [sale(T1, s, f"M{s % 3}") for s in range(1, 9)]
    t2 = [sale(T2, s, f"M{s % 2}") for s in range(1, 7)]
    t3 = [sale(T3, s, "M1" if s % 2 else None) for s in range(1, 8)]
    other = sale(T3, 3, "M2", 999)  # seq 3 again, another event: a conflict
    dead = envelope(T1, 9, {"total_fen": "lots"})  # breaks the sale schema: kept dead
    forged = envelope(T2, 7, sale_body([("SKU1", 1, 1500)], member_id="M1", earn=900,
                                       receipt_no=f"{T2}-7"))  # fmt: skip
    return [
        (T1, batch_payload(t1[0:3])),
        (T2, batch_payload(t2[0:3])),
        (T3, batch_payload(t3[0:3])),
        (T1, batch_payload(t1[3:6])),
        (T2, batch_payload(t2[0:3])),  # resent after a lost ACK: duplicates
        (T3, batch_payload([other, *t3[3:5]])),
        (T1, b"{not json"),  # rejected whole: ends the group, handled alone
        (T2, batch_payload(t2[3:6])),
        (T1, batch_payload([*t1[6:8], dead])),
        (T3, batch_payload(t3[5:7])),
        (T2, batch_payload([forged])),
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_grouped_backlog_leaves_what_one_message_per_transaction_leaves(
    broker: Broker, request: pytest.FixtureRequest, tmp_path: Any, engine: str
) -> None:
    grouped_url, alone_url = two_databases(request, tmp_path, engine)
    stream = _mixed_stream()
    grouped = _ingest(broker, grouped_url, stream, group_max=8, tag="grouped")
    alone = _ingest(broker, alone_url, stream, group_max=1, tag="alone", username="ingest-2")
    # The backlog really was grouped: two groups around the rejected message (it and the
    # messages of other topics are never grouped).
    assert grouped.groups == 2 and alone.groups == 0
    assert grouped.batches == alone.batches == len(stream) - 1
    assert {t: _ack_fields(a) for t, a in grouped.acks.items()} == {
        t: _ack_fields(a) for t, a in alone.acks.items()
    }
    final = {t: acks[-1] for t, acks in grouped.acks.items()}
    assert {t: a.acked_seq for t, a in final.items()} == {T1: 9, T2: 7, T3: 7}
    t3_acks = grouped.acks[T3]
    assert t3_acks[1].conflicts == [3]
    assert grouped.acks[T1][-1].dead_lettered == [9]
    dbs = [open_cloud_db(url) for url in (grouped_url, alone_url)]
    try:
        got, want = (stored_contents(cdb) for cdb in dbs)
        assert got["held"] == [(T2, "7")]
        assert len(got["events"]) == 9 + 7 + 7
        for table in want:
            assert got[table] == want[table], table
    finally:
        for cdb in dbs:
            cdb.close()
    # Member facts: one push per transaction that touched members, not one per batch.
    assert len(grouped.members) < len(alone.members)


@pytest.mark.parametrize("engine", ENGINES)
def test_members_are_pushed_once_per_group_with_every_tills_mark_after_it(
    broker: Broker, request: pytest.FixtureRequest, tmp_path: Any, engine: str
) -> None:
    url = two_databases(request, tmp_path, engine)[0]

    def sales(terminal: str, first: int, members: Sequence[str]) -> bytes:
        return batch_payload([
            envelope(terminal, first + i, sale_body([("A", 1, 2000)], member_id=member,
                                                    receipt_no=f"{terminal}-{first + i}"))
            for i, member in enumerate(members)
        ])  # fmt: skip

    stream = [
        (T1, sales(T1, 1, ["M1"])),
        (T1, sales(T1, 2, ["M1", "M2"])),
        (T2, sales(T2, 1, ["M2", "M1", "M2"])),
        (T3, sales(T3, 1, ["M1"])),
    ]
    run = _ingest(broker, url, stream, group_max=8, tag="facts")
    assert run.groups == 1
    # One push for the group of four (T1's two messages among them), not one per message.
    assert len(run.members) == 1
    last = {item["member_id"]: item for item in run.members[-1].items}
    assert sorted(last) == ["M1", "M2"]
    # Read after every mark of the group was written: each till's mark after the whole group.
    assert last["M1"]["asof"] == {T1: [3, []], T2: [3, []], T3: [1, []]}
    assert last["M2"]["asof"] == {T1: [3, []], T2: [3, []]}
    assert last["M1"]["points_balance"] == 2 * 4  # 1 point per ¥10 of four ¥20 sales


@pytest.mark.parametrize("engine", ENGINES)
def test_a_batch_the_database_refuses_does_not_sink_its_group(
    broker: Broker, request: pytest.FixtureRequest, tmp_path: Any, engine: str
) -> None:
    url = two_databases(request, tmp_path, engine)[0]
    cdb = open_cloud_db(url)
    try:
        # An operator's hand-made rule the protocol does not know about.
        if engine == "sqlite":
            cdb.database.execute_sql(
                "CREATE TRIGGER poison BEFORE INSERT ON events WHEN NEW.receipt_no = 'POISON' "
                "BEGIN SELECT RAISE(ABORT, 'poison refused'); END"
            )
        else:
            cdb.database.execute_sql(
                "ALTER TABLE events ADD CONSTRAINT poison CHECK (receipt_no <> 'POISON')"
            )
    finally:
        cdb.close()
    poison = envelope(T2, 2, sale_body([("A", 1, 700)], receipt_no="POISON"))
    stream = [
        (T1, batch_payload([simple_sale(T1, 1)])),
        (T1, batch_payload([simple_sale(T1, 2), simple_sale(T1, 3)])),
        (T2, batch_payload([simple_sale(T2, 1), poison, simple_sale(T2, 3)])),
        (T3, batch_payload([simple_sale(T3, 1)])),
    ]
    run = _ingest(broker, url, stream, group_max=8, tag="poison")
    assert run.groups == 0  # the group was refused, then committed message by message
    assert [a.acked_seq for a in run.acks[T1]] == [1, 3]
    assert [(a.acked_seq, a.dead_lettered) for a in run.acks[T2]] == [(3, [2])]
    assert [a.acked_seq for a in run.acks[T3]] == [1]
    cdb = open_cloud_db(url)
    try:
        m = cdb.models
        statuses = {(e.terminal_id, e.seq): e.status for e in m.Event.select()}
        assert statuses == {(T1, 1): "ok", (T1, 2): "ok", (T1, 3): "ok", (T2, 1): "ok",
                            (T2, 2): "dead", (T2, 3): "ok", (T3, 1): "ok"}  # fmt: skip
        assert "storage refused it" in m.DeadLetter.get().reason
    finally:
        cdb.close()


@pytest.mark.pg
def test_two_workers_commit_groups_of_one_backlog_exactly_once(
    broker: Broker, fresh_pg_url: str
) -> None:
    workload = build(messages_per_terminal=12, events_per_message=40)
    workers = [
        IngestWorker(fresh_pg_url, ingest_settings(broker, name), client_id=f"ingest-bl-{name}",
                     share_group="backlog")
        for name in ("ingest", "ingest-2")
    ]  # fmt: skip
    for w in workers:
        w.start()
    clients: dict[str, MqttClient] = {}
    try:
        for terminal in TERMINALS:
            c = broker.client(terminal, client_id=terminal)
            c.subscribe(ack_topic(terminal.split("-")[0], terminal))
            clients[terminal] = c
        total = 2 * sum(len(b) for b in workload.messages.values())
        with _writes_held(fresh_pg_url):
            for i in range(12):
                for terminal in TERMINALS:
                    payload = batch_payload(workload.messages[terminal][i])
                    for _ in range(2):  # each batch twice: duplicates race across the workers
                        clients[terminal].publish(
                            events_topic(terminal.split("-")[0], terminal), payload
                        )
            # Each worker's first message (or group) waits at the lock, and a backlog builds
            # behind it (as far as the broker's in-flight window lets it).
            wait_until(
                lambda: all(w.load()[1] >= 4 for w in workers), 30, "a backlog at each worker"
            )
        final = {t: sum(len(b) for b in workload.messages[t]) for t in TERMINALS}

        def acked() -> dict[str, int]:
            return {
                t: max((decode_ack(m.payload).acked_seq for m in c.messages), default=0)
                for t, c in clients.items()
            }

        wait_until(lambda: acked() == final, 120, "every till ACKed to its last seq")
        # Each message committed once (the duplicates as no-ops), some of them in groups.
        wait_until(lambda: sum(w.batches_applied for w in workers) == total, 30, "every message")
        assert all(w.groups_committed > 0 for w in workers)
    finally:
        for c in clients.values():
            c.close()
        for w in workers:
            w.stop()
    cdb = open_cloud_db(fresh_pg_url)
    try:
        assert_exact(cdb, workload)
        m = cdb.models
        # Every member push names the member's tills with marks that only ever rise.
        seen: dict[tuple[str, str], int] = {}
        changes = m.DownChange.select().where(m.DownChange.stream == "members")
        for row in changes.order_by(m.DownChange.version):
            for item in row.items:
                for till, (mark, _) in item["asof"].items():
                    key = (item["member_id"], till)
                    assert mark >= seen.get(key, 0)
                    seen[key] = mark
    finally:
        cdb.close()
