"""A backlog sent to one ingest worker the way an outage builds it, and what the worker did.

The worker's first commit is held at the database (another connection holds the write lock)
while the rest of the stream arrives and is prepared; released, the worker finds it all
waiting. Shared by the group commit and prepare process tests.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg2
import pytest

from cloud.ingest.worker import IngestWorker
from protocol.codec import decode_ack, decode_down, encode_status
from protocol.envelope import Ack, DownChange, Envelope, Status
from protocol.topics import ack_topic, down_topic, events_topic, status_topic
from tests.broker import Broker, MqttClient
from tests.cloud.factories import batch_payload, envelope, sale_body
from tests.cloud.ingest.conftest import ingest_settings
from tests.faults.sync_helpers import wait_until

T1, T2, T3 = "S001-T01", "S001-T02", "S002-T01"
Message = tuple[str, bytes]  # (terminal, payload)


@contextmanager
def writes_held(url: str) -> Iterator[None]:
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
    to_child: int = 0  # events messages sent to the prepare process
    from_child: int = 0  # and its results received
    unanswered: int = 0  # sent to a child that died before answering
    child_pid: int | None = None  # the prepare process at the end


def ingest_backlog(
    broker: Broker, url: str, stream: Sequence[Message], *, group_max: int, tag: str,
    username: str = "ingest", prepare_process: bool = False, child_restart_s: float = 30.0,
    after_each: Callable[[IngestWorker, int], None] = lambda worker, sent: None,
) -> Run:  # fmt: skip
    """Send ``stream`` as a backlog to one worker; return once every message is ACKed.

    ``after_each`` is called with the worker and the count sent after each message.
    """
    worker = IngestWorker(url, ingest_settings(broker, username), client_id=f"ingest-{tag}",
                          share_group=f"group-{tag}", group_max=group_max,
                          prepare_process=prepare_process,
                          prepare_here_bytes=0, child_restart_s=child_restart_s)  # fmt: skip
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

        with writes_held(url):
            # A till's status goes first: never grouped, its write waits on the database
            # while the whole stream arrives behind it and is prepared.
            gate = stream[0][0]
            clients[gate].publish(status_topic(gate.split("-")[0], gate), status_payload(gate))
            for i, message in enumerate(stream):
                send(*message)
                after_each(worker, i + 1)
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
        run = Run(groups=worker.groups_committed, batches=worker.batches_applied,
                  to_child=worker._to_child, from_child=worker._from_child,
                  unanswered=worker._unanswered,
                  child_pid=worker._child.pid if worker._child else None)  # fmt: skip
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


def status_payload(terminal: str) -> bytes:
    return encode_status(
        Status(
            terminal_id=terminal, store_id=terminal.split("-")[0], online=True, outbox_depth=9,
            oldest_unsynced_s=60.0, stream_versions={}, clock_synced=True, printer="ok",
            software_version="1.2.3", sent_at="2026-11-23T06:30:00Z", last_problem="",
        )
    )  # fmt: skip


def ack_fields(acks: Sequence[Ack]) -> list[tuple[Any, ...]]:
    return [(a.acked_seq, a.acked_event_id, a.max_seq, a.epoch, a.dead_lettered, a.conflicts)
            for a in acks]  # fmt: skip


ENGINES = ["sqlite", pytest.param("pg", marks=pytest.mark.pg)]  # parametrize("engine", ...)


def mixed_stream() -> list[Message]:
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
