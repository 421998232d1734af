"""The terminal's retained status and its last will, seen by a late subscriber on a real broker."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

from protocol import codec, topics
from protocol.envelope import Status
from tests.broker import Broker
from tests.device.sync.harness import record_sales
from tests.faults.sync_helpers import sync_child

STATUS = topics.status_topic("S001", "S001-T01")


def retained_status(
    broker: Broker, until: Callable[[Status], bool] = lambda _s: True, timeout: float = 30
) -> Status:
    """What a dashboard connecting now would be told (the retained message), once it shows
    ``until``. A status the sync thread has handed to its client may not be at the broker
    yet (and a live copy reaches a subscriber without the retain flag), so each try is a
    fresh subscription, as a dashboard's would be."""
    deadline = time.monotonic() + timeout
    while True:
        c = broker.client("hq")
        try:
            c.subscribe(STATUS)
            try:
                got = c.wait_for(lambda m: m.topic == STATUS and m.retain, timeout=1)
            except TimeoutError:
                got = []
            if got and until(status := codec.decode_status(got[-1].payload)):
                return status
        finally:
            c.close()
        assert time.monotonic() < deadline, f"no retained status as expected in {timeout} s"


def test_status_is_retained_with_outbox_depth_versions_printer_and_version(
    broker: Broker, store_file: Path, make_service
) -> None:
    record_sales(store_file, 7)  # nobody ACKs: all 7 stay unsynced
    svc = make_service(store_file, software_version="1.4.2", status_check_s=0.1, resend_after_s=60)
    assert svc.wait(lambda s: s.statuses_sent >= 1 and s.outbox_depth == 7, 30)
    status = retained_status(broker, lambda s: s.outbox_depth == 7)
    assert status.online is True
    assert (status.terminal_id, status.store_id) == ("S001-T01", "S001")
    assert status.outbox_depth == 7
    assert status.oldest_unsynced_s is not None and status.oldest_unsynced_s >= 0
    assert set(status.stream_versions) == set(topics.STREAMS)
    assert status.software_version == "1.4.2"
    assert status.printer == "unknown" and status.clock_synced is False


def test_clean_stop_leaves_a_retained_offline_status(
    broker: Broker, store_file: Path, make_service
) -> None:
    svc = make_service(store_file)
    assert svc.wait(lambda s: s.statuses_sent >= 1, 30)
    assert retained_status(broker, lambda s: s.online).online is True
    svc.stop()
    assert retained_status(broker, lambda s: not s.online).online is False


def test_last_will_marks_a_killed_terminal_offline(broker: Broker, store_file: Path) -> None:
    child = sync_child(broker, store_file)
    try:
        c = broker.client("hq")
        c.subscribe(STATUS)
        c.wait_for(lambda m: codec.decode_status(m.payload).online, timeout=15)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        # The broker notices the dead socket and publishes the will, retained.
        c.wait_for(lambda m: not codec.decode_status(m.payload).online, timeout=15)
        c.close()
    finally:
        if child.poll() is None:
            child.kill()
    assert retained_status(broker, lambda s: not s.online).online is False


def test_printer_and_clock_come_from_the_runtime_and_odd_states_read_as_error(
    broker: Broker, store_file: Path, make_service
) -> None:
    paper = ["paper_out"]
    svc = make_service(
        store_file, printer=lambda: paper[0], clock_synced=lambda: True, status_check_s=0.1,
        status_interval_s=0.2,
    )  # fmt: skip
    assert svc.wait(lambda s: s.statuses_sent >= 1, 30)
    status = retained_status(broker, lambda s: s.printer == "paper_out")
    assert status.printer == "paper_out" and status.clock_synced is True
    paper[0] = "on fire"  # not a state HQ knows: shown as an error, not passed through
    sent = svc.stats().statuses_sent
    assert svc.wait(lambda s: s.statuses_sent >= sent + 2, 30)
    assert retained_status(broker, lambda s: s.printer == "error").printer == "error"


def test_a_refused_message_shows_in_the_retained_status(
    broker: Broker, store_file: Path, make_service
) -> None:
    svc = make_service(store_file, status_check_s=0.1)
    assert svc.wait(lambda s: s.statuses_sent >= 1, 30)
    assert retained_status(broker).last_problem == ""
    rogue = broker.client("ingest-2", client_id="rogue-cloud")
    rogue.publish(topics.ack_topic("S001", "S001-T01"), b"\xff not an ack")
    assert svc.wait(lambda s: s.rejected_messages == 1, 30)
    # A changed problem is news: it goes out without waiting for the 30 s heartbeat.
    c = broker.client("hq")
    c.subscribe(STATUS)
    got = c.wait_for(lambda m: "ack" in codec.decode_status(m.payload).last_problem, timeout=10)
    assert "not JSON" in codec.decode_status(got[-1].payload).last_problem
    rogue.close()
    c.close()
