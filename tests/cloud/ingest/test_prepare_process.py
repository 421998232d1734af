"""A worker that prepares in a child process stores exactly what a worker preparing in a thread
stores, and loses nothing when the child dies mid-backlog (it starts another).

The child hands back lean batches (no per-event projections); a resend, a conflict or a dead
event makes the commit rebuild a batch whole from its payload, and the mixed stream has each.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest

from cloud.ingest.worker import PREPARE_HERE_BYTES, IngestWorker
from protocol.codec import decode_ack
from protocol.topics import ack_topic, events_topic
from tests.broker import Broker
from tests.cloud.factories import batch_payload, simple_sale
from tests.cloud.ingest.backlog import ENGINES, T1, T2, T3, ack_fields, ingest_backlog, mixed_stream
from tests.cloud.ingest.checks import assert_same_contents, opened, two_databases
from tests.cloud.ingest.conftest import ingest_settings
from tests.faults.sync_helpers import wait_until


def _compare(got_url: str, want_url: str) -> dict[str, Any]:
    with opened(got_url, want_url) as (got, want):
        return assert_same_contents(got, want)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_worker_preparing_in_a_child_process_stores_what_a_thread_stores(
    broker: Broker, request: pytest.FixtureRequest, tmp_path: Any, engine: str
) -> None:
    child_url, thread_url = two_databases(request, tmp_path, engine)
    children: set[int] = set()

    def note_child(worker: IngestWorker, _sent: int) -> None:
        assert worker._child is not None and worker._child.pid is not None
        os.kill(worker._child.pid, 0)  # alive while the backlog goes through it
        children.add(worker._child.pid)

    stream = mixed_stream()
    child = ingest_backlog(broker, child_url, stream, group_max=8, tag="child",
                           prepare_process=True, after_each=note_child)  # fmt: skip
    thread = ingest_backlog(broker, thread_url, stream, group_max=1, tag="thread",
                            username="ingest-2")  # fmt: skip
    # Every events message went through the child (the rejected one too: it is decoded there).
    assert len(children) == 1 and child.groups == 2 and child.to_child == len(stream)
    assert {t: ack_fields(a) for t, a in child.acks.items()} == {
        t: ack_fields(a) for t, a in thread.acks.items()
    }
    assert {t: acks[-1].acked_seq for t, acks in child.acks.items()} == {T1: 9, T2: 7, T3: 7}
    got = _compare(child_url, thread_url)
    # Pinned, so that two equally wrong databases cannot pass: the resend stored nothing
    # twice, the conflict and the forged sale were kept aside.
    assert len(got["events"]) == 9 + 7 + 7
    assert got["held"] == [(T2, "7")] and len(got["conflicts"]) == 1
    with opened(child_url) as (cdb,):
        terminal = cdb.models.Terminal
        flag = terminal.get(terminal.terminal_id == T2).flag_message
    # The forged sale's reason came back from the child as a message for HQ's page, not only
    # as its English.
    assert flag["args"]["reason"]["id"] == "implausible.points_earned", flag


@pytest.mark.parametrize("engine", ENGINES)
def test_a_prepare_process_killed_mid_backlog_loses_nothing_and_doubles_nothing(
    broker: Broker, request: pytest.FixtureRequest, tmp_path: Any, engine: str
) -> None:
    child_url, thread_url = two_databases(request, tmp_path, engine)
    killed: list[int] = []

    def kill_child(worker: IngestWorker, sent: int) -> None:
        child = worker._child
        assert child is not None and child.pid is not None
        if sent == 1:  # stopped: what is sent from now on waits in the pipe, unanswered
            os.kill(child.pid, signal.SIGSTOP)
        if sent == 4:  # killed with messages in flight; the later ones find it gone
            wait_until(lambda: worker._to_child == 4, 30, "four messages sent to the child")
            os.kill(child.pid, signal.SIGKILL)
            killed.append(child.pid)
            wait_until(lambda: child.exitcode is not None, 30, "the prepare process to die")

    stream = mixed_stream()
    child = ingest_backlog(broker, child_url, stream, group_max=8, tag="killed",
                           prepare_process=True, after_each=kill_child,
                           child_restart_s=0)  # fmt: skip
    thread = ingest_backlog(broker, thread_url, stream, group_max=1, tag="reference",
                            username="ingest-2")  # fmt: skip
    # Results that never came back were prepared in the worker; the next message found the
    # child gone and started another, which prepared the rest.
    assert killed and child.unanswered > 0 and child.to_child > 4
    assert child.from_child + child.unanswered == child.to_child
    assert child.child_pid is not None and child.child_pid not in killed
    assert {t: ack_fields(a) for t, a in child.acks.items()} == {
        t: ack_fields(a) for t, a in thread.acks.items()
    }
    got = _compare(child_url, thread_url)
    assert len(got["events"]) == 9 + 7 + 7


def test_a_small_message_to_an_idle_worker_is_prepared_there_and_a_large_one_by_the_child(
    broker: Broker, tmp_path: Any
) -> None:
    worker = IngestWorker(f"sqlite:///{tmp_path}/cloud.db", ingest_settings(broker, "ingest"),
                          client_id="ingest-small", share_group="group-small",
                          prepare_process=True)  # fmt: skip
    worker.start()
    till = broker.client(T1, client_id=f"{T1}-small")
    try:
        till.subscribe(ack_topic("S001", T1))

        def send(first: int, last: int) -> int:
            payload = batch_payload([simple_sale(T1, seq) for seq in range(first, last + 1)])
            till.publish(events_topic("S001", T1), payload)
            wait_until(lambda: any(decode_ack(m.payload).acked_seq == last
                                   for m in till.received_on(ack_topic("S001", T1))),
                       30, f"the ACK of seq {last}")  # fmt: skip
            return len(payload)

        # One sale: a till that keeps up. Its ACK should not wait on two more hand-overs.
        assert send(1, 1) <= PREPARE_HERE_BYTES and worker._to_child == 0
        assert send(2, 61) > PREPARE_HERE_BYTES and worker._to_child == 1
    finally:
        till.close()
        worker.stop()
