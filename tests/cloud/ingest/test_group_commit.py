"""Group commit against a real Mosquitto: a backlog committed several messages a transaction.

Each test builds a backlog the way an outage does: the worker's first commit is held at the
database (another connection holds the write lock) while the rest of the stream arrives and
is prepared; released, the worker finds them waiting and groups them. The same stream
through a worker that commits one message per transaction (``group_max=1``) is the
reference: the two databases and every ACK must agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from cloud.ingest.worker import IngestWorker
from cloud.store.db import open_cloud_db
from protocol.codec import decode_ack
from protocol.topics import ack_topic, events_topic
from tests.broker import Broker, MqttClient
from tests.cloud.factories import batch_payload, envelope, sale_body, simple_sale
from tests.cloud.ingest.backlog import (
    ENGINES,
    T1,
    T2,
    T3,
    ack_fields,
    ingest_backlog,
    mixed_stream,
    writes_held,
)
from tests.cloud.ingest.checks import assert_exact, assert_same_contents, opened, two_databases
from tests.cloud.ingest.conftest import ingest_settings
from tests.cloud.ingest.workload import TERMINALS, build
from tests.faults.sync_helpers import wait_until


@pytest.mark.parametrize("engine", ENGINES)
def test_a_grouped_backlog_leaves_what_one_message_per_transaction_leaves(
    broker: Broker, request: pytest.FixtureRequest, tmp_path: Any, engine: str
) -> None:
    grouped_url, alone_url = two_databases(request, tmp_path, engine)
    stream = mixed_stream()
    grouped = ingest_backlog(broker, grouped_url, stream, group_max=8, tag="grouped")
    alone = ingest_backlog(broker, alone_url, stream, group_max=1, tag="alone", username="ingest-2")
    # The backlog really was grouped: two groups around the rejected message (it and the
    # messages of other topics are never grouped).
    assert grouped.groups == 2 and alone.groups == 0
    assert grouped.batches == alone.batches == len(stream) - 1
    assert {t: ack_fields(a) for t, a in grouped.acks.items()} == {
        t: ack_fields(a) for t, a in alone.acks.items()
    }
    final = {t: acks[-1] for t, acks in grouped.acks.items()}
    assert {t: a.acked_seq for t, a in final.items()} == {T1: 9, T2: 7, T3: 7}
    t3_acks = grouped.acks[T3]
    assert t3_acks[1].conflicts == [3]
    assert grouped.acks[T1][-1].dead_lettered == [9]
    with opened(grouped_url, alone_url) as (got_db, want_db):
        got = assert_same_contents(got_db, want_db)
    assert got["held"] == [(T2, "7")]
    assert len(got["events"]) == 9 + 7 + 7
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
    run = ingest_backlog(broker, url, stream, group_max=8, tag="facts")
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
    run = ingest_backlog(broker, url, stream, group_max=8, tag="poison")
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
        with writes_held(fresh_pg_url):
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
