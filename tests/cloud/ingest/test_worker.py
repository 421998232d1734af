"""The ingest worker against a real Mosquitto: ACK semantics, bad input, convergence, health."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from cloud.ingest.worker import IngestWorker
from cloud.store.db import open_cloud_db
from cloud.store.downstream import MAX_RAISE, append_change, current_version
from cloud.store.queries import terminals
from protocol.codec import decode_ack, decode_down, encode_catchup, encode_status
from protocol.envelope import Ack, CatchupRequest, Envelope, Status
from protocol.topics import (
    ack_topic,
    catchup_topic,
    events_topic,
    status_topic,
    terminal_down_filter,
    terminal_down_topic,
)
from tests.broker import Broker, MqttClient
from tests.cloud.factories import (
    batch_payload,
    envelope,
    registration_body,
    sale_body,
    simple_sale,
)


def _terminal(broker: Broker, terminal_id: str, **kwargs: object) -> MqttClient:
    client = broker.client(terminal_id, client_id=terminal_id, **kwargs)  # type: ignore[arg-type]
    store = terminal_id.split("-")[0]
    client.subscribe(ack_topic(store, terminal_id))
    return client


def _acks(client: MqttClient) -> list[Ack]:
    return [decode_ack(m.payload) for m in client.messages if m.topic.endswith("/ack")]


def _send(client: MqttClient, terminal_id: str, payload: bytes) -> Ack:
    """Publish one events message on the terminal's own topic and wait for the next ACK."""
    before = len(_acks(client))
    client.publish(events_topic(terminal_id.split("-")[0], terminal_id), payload)
    client.wait_for(lambda m: m.topic.endswith("/ack"), count=before + 1, timeout=15)
    return _acks(client)[before]


def _send_events(client: MqttClient, envs: Sequence[Envelope]) -> Ack:
    return _send(client, envs[0].terminal_id, batch_payload(envs))


def test_reordered_and_duplicated_delivery(broker: Broker, worker: IngestWorker) -> None:
    t01 = _terminal(broker, "S001-T01")
    sales = {seq: simple_sale("S001-T01", seq, net_fen=seq * 100) for seq in (1, 2, 3)}
    acked = [_send_events(t01, [sales[seq]]).acked_seq for seq in (3, 1, 2, 2)]
    assert acked == [0, 1, 3, 3]
    m = worker.db.models
    assert sorted(e.seq for e in m.Event.select()) == [1, 2, 3]
    totals = m.DailyTotals.get()
    assert (totals.sales_count, totals.sales_fen) == (3, 600)


def test_bad_payloads_are_dead_lettered_and_the_worker_carries_on(
    broker: Broker, worker: IngestWorker
) -> None:
    t01 = _terminal(broker, "S001-T01")
    assert _send_events(t01, [simple_sale("S001-T01", 1)]).acked_seq == 1
    good = json.loads(batch_payload([simple_sale("S001-T01", 2)]))
    wrong_version = {**good, "v": 2}
    impersonating = json.loads(batch_payload([simple_sale("S001-T02", 2)]))
    oversized = json.loads(batch_payload([simple_sale("S001-T01", 2)]))
    oversized["events"][0]["body"]["receipt_no"] = "x" * 300_000
    bad = [
        (b"\x00\xffnot json{", "MalformedPayload"),
        (json.dumps(wrong_version).encode(), "WrongVersion"),
        (json.dumps(impersonating).encode(), "arrived on the topic of S001/S001-T01"),
        (json.dumps(oversized).encode(), "Oversized"),
    ]
    acks = [_send(t01, "S001-T01", payload) for payload, _ in bad]
    # Nothing stored, nothing acknowledged past it...
    assert [ack.acked_seq for ack in acks[:3]] == [1, 1, 1]
    # ...except the event too large for any batch: the terminal sends it alone, and it is
    # kept dead in its place, so the terminal's later sales are not stuck behind it.
    assert (acks[3].acked_seq, acks[3].dead_lettered) == (2, [2])
    m = worker.db.models
    reasons = [d.reason for d in m.DeadLetter.select().order_by(m.DeadLetter.id)]
    for reason, (_, expected) in zip(reasons, bad, strict=True):
        assert expected in reason
    # Seqs are named where the payload was readable, so the terminal knows which were refused.
    assert acks[1].dead_lettered == [2]
    oversized_letter = m.DeadLetter.select().order_by(m.DeadLetter.id.desc()).get()
    assert oversized_letter.payload_size == len(bad[3][0]) == len(oversized_letter.payload)
    terminal = m.Terminal.get(m.Terminal.terminal_id == "S001-T01")
    assert terminal.flagged and "Oversized" in terminal.flag_reason
    dead = m.Event.get((m.Event.terminal_id == "S001-T01") & (m.Event.seq == 2))
    assert (dead.status, dead.dead, dead.amount_fen) == ("dead", True, 0)
    # The worker is still there for the next good batch.
    assert _send_events(t01, [simple_sale("S001-T01", 3)]).acked_seq == 3


def test_offline_redemption_at_two_stores_converges(broker: Broker, worker: IngestWorker) -> None:
    t01, s2 = _terminal(broker, "S001-T01"), _terminal(broker, "S002-T01")
    grant = envelope("S001-T01", 1, sale_body([("G", 1, 300_000)], member_id="M1"))
    _send_events(t01, [grant])
    # Both tills believed the member had 300 points; S002-T01 was offline when it sold.
    _send_events(t01, [envelope("S001-T01", 2, sale_body([("A", 1, 4000)], member_id="M1",
                                                         redeem=200))])  # fmt: skip
    _send_events(s2, [envelope("S002-T01", 1, sale_body([("B", 1, 4000)], member_id="M1",
                                                        redeem=200))])  # fmt: skip
    m = worker.db.models
    balance = sum(r.delta for r in m.PointsLedger.select().where(m.PointsLedger.member_id == "M1"))
    assert balance == 300 - 200 + 2 - 200 + 2
    over = list(m.OverRedemption.select())
    # S002's sale redeemed 200 of the 102 points left and earned 2: 96 short.
    assert [(o.member_id, o.amount, o.terminal_id) for o in over] == [("M1", 96, "S002-T01")]


def test_tier_upgrade_is_pushed_and_caught_up(broker: Broker, worker: IngestWorker) -> None:
    hq = broker.client("hq", client_id="hq-watch")
    hq.subscribe("pos/v1/down/+/members")
    s2 = _terminal(broker, "S002-T01")
    s2.subscribe(terminal_down_filter("S002", "S002-T01"))
    reg = envelope("S002-T01", 1, registration_body("M9", "13800135678", "Wang"),
                   event_type="member_registered")  # fmt: skip
    _send_events(s2, [reg])
    # 2,500 yuan paid in cash crosses the 2,000 yuan silver threshold.
    _send_events(s2, [envelope("S002-T01", 2, sale_body([("A", 1, 250_000)], member_id="M9"))])
    # Every member change goes chain-wide: the registration (v1), then the upgrade (v2).
    pushed = hq.wait_for(lambda m: m.topic == "pos/v1/down/all/members", count=2)
    changes = sorted((decode_down(p.payload) for p in pushed), key=lambda c: c.version)
    assert [(c.version, c.scope, c.kind) for c in changes] == [(1, "all", "upsert"),
                                                              (2, "all", "upsert")]  # fmt: skip
    assert changes[1].items[0]["member_id"] == "M9" and changes[1].items[0]["tier"] == "silver"
    # A terminal back from an outage asks for everything after version 0.
    request = CatchupRequest(terminal_id="S002-T01", store_id="S002", streams={"members": 0})
    s2.publish(catchup_topic("S002", "S002-T01"), encode_catchup(request))
    topic = terminal_down_topic("S002", "S002-T01", "members")
    replayed = s2.wait_for(lambda m: m.topic == topic, count=2)
    assert decode_down(replayed[-1].payload).items[0]["tier"] == "silver"


def test_catch_up_far_behind_gets_every_change(broker: Broker, worker: IngestWorker) -> None:
    # More changes than one page of the log (1,000): a long outage must not leave a tail behind.
    with worker.db.write():
        for n in range(1, 1201):
            scope = "S002" if n % 3 else "all"  # S001's changes are not for this terminal
            scope = "S001" if n % 10 == 0 else scope
            append_change(worker.db, "prices", scope, "upsert", [{"sku": f"P{n}", "n": n}],
                          dt.datetime(2026, 11, 23))  # fmt: skip
    expected = [n for n in range(1, 1201) if n % 10 != 0]
    s2 = _terminal(broker, "S002-T01")
    topic = terminal_down_topic("S002", "S002-T01", "prices")
    s2.subscribe(topic)
    request = CatchupRequest(terminal_id="S002-T01", store_id="S002", streams={"prices": 0})
    s2.publish(catchup_topic("S002", "S002-T01"), encode_catchup(request))
    got = s2.wait_for(lambda m: m.topic == topic, count=len(expected), timeout=30)
    assert [decode_down(m.payload).version for m in got] == expected


def _status(terminal_id: str, online: bool, depth: int) -> bytes:
    return encode_status(
        Status(
            terminal_id=terminal_id, store_id=terminal_id.split("-")[0], online=online,
            outbox_depth=depth, oldest_unsynced_s=95.5, stream_versions={"prices": 7},
            clock_synced=True, printer="paper_low", software_version="1.2.3",
            sent_at="2026-11-23T06:30:00Z", last_problem="ack: not JSON",
        )
    )  # fmt: skip


def _wait_db(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("database never reached the expected state")
        time.sleep(0.05)


def test_status_and_last_will_update_terminal_health(broker: Broker, db_url: str,
                                                     worker: IngestWorker) -> None:  # fmt: skip
    topic = status_topic("S001", "S001-T02")
    t02 = broker.client("S001-T02", client_id="S001-T02",
                        will=(topic, _status("S001-T02", False, 4), 1, True))  # fmt: skip
    t02.publish(topic, _status("S001-T02", True, 4), retain=True)
    reader = open_cloud_db(db_url)
    m = reader.models

    def terminal() -> Any:
        return m.Terminal.get_or_none(m.Terminal.terminal_id == "S001-T02")

    _wait_db(lambda: (row := terminal()) is not None and row.online)
    row = terminal()
    assert (row.outbox_depth, row.printer, row.software_version) == (4, "paper_low", "1.2.3")
    assert row.last_seen is not None
    [listed] = terminals(reader)  # what HQ's terminal list shows
    assert (listed["oldest_unsynced_s"], listed["stream_versions"], listed["problem"]) == (
        95.5, {"prices": 7}, "ack: not JSON",
    )  # fmt: skip
    t02.drop_socket()  # a pulled cable: the broker publishes the last will
    _wait_db(lambda: not terminal().online)
    reader.close()


def test_status_claiming_another_terminal_is_refused(broker: Broker, worker: IngestWorker) -> None:
    t01 = broker.client("S001-T01", client_id="S001-T01")
    t01.publish(status_topic("S001", "S001-T01"), _status("S001-T02", True, 0))
    m = worker.db.models
    _wait_db(lambda: m.DeadLetter.select().count() == 1)
    assert "claims S001/S001-T02" in m.DeadLetter.get().reason
    assert m.Terminal.get(m.Terminal.terminal_id == "S001-T01").flagged


def test_worker_reconnects_and_resubscribes_after_a_broker_crash(
    broker: Broker, worker: IngestWorker
) -> None:
    t01 = _terminal(broker, "S001-T01")
    assert _send_events(t01, [simple_sale("S001-T01", 1)]).acked_seq == 1
    t01.close()
    # kill -9: nothing was autosaved, so the worker's subscriptions die with the broker.
    broker.restart(hard=True)
    again = _terminal(broker, "S001-T01")
    deadline = time.monotonic() + 30
    while True:
        # Until the worker is back, a batch finds no subscriber; the terminal resends it. The
        # worker's client may also resend the ACK for seq 1 that the crash left unconfirmed
        # (QoS 1 after a reconnect): a terminal ignores such a repeat, and so does this wait.
        again.publish(events_topic("S001", "S001-T01"), batch_payload([simple_sale("S001-T01", 2)]))
        try:
            again.wait_for(
                lambda m: m.topic.endswith("/ack") and decode_ack(m.payload).acked_seq == 2,
                timeout=1,
            )
            break
        except TimeoutError:
            assert time.monotonic() < deadline, "worker never came back after the broker crash"
    assert {a.acked_seq for a in _acks(again)} <= {1, 2}
    m = worker.db.models
    assert m.Event.select().count() == 2


def test_a_cloud_behind_the_tills_numbers_its_next_changes_above_theirs(
    broker: Broker, worker: IngestWorker
) -> None:
    # The cloud's database was restored from a backup taken at members v2; the tills had
    # applied changes up to v50 since. A till skips any change at or below what it holds, so
    # the cloud's next change must be numbered above v50 or no till would ever apply it.
    s2 = _terminal(broker, "S002-T01")
    s2.subscribe("pos/v1/down/all/members")
    for seq, member in ((1, "M1"), (2, "M2")):
        reg = envelope("S002-T01", seq, registration_body(member, f"1380013{seq:04d}", "Li"),
                       event_type="member_registered")  # fmt: skip
        _send_events(s2, [reg])
    assert current_version(worker.db, "members") == 2
    request = CatchupRequest(terminal_id="S002-T01", store_id="S002", streams={"members": 50})
    s2.publish(catchup_topic("S002", "S002-T01"), encode_catchup(request))
    _wait_db(lambda: current_version(worker.db, "members") == 50)
    reg = envelope("S002-T01", 3, registration_body("M3", "13800130003", "Li"),
                   event_type="member_registered")  # fmt: skip
    _send_events(s2, [reg])
    pushed = s2.wait_for(lambda m: m.topic == "pos/v1/down/all/members", count=3)
    assert max(decode_down(m.payload).version for m in pushed) == 51
    # A forged request cannot run the counter to its limit: one raise is bounded.
    request = CatchupRequest(terminal_id="S002-T01", store_id="S002", streams={"members": 10**15})
    s2.publish(catchup_topic("S002", "S002-T01"), encode_catchup(request))
    _wait_db(lambda: current_version(worker.db, "members") > 51)
    assert current_version(worker.db, "members") == 51 + MAX_RAISE


def test_a_tills_status_alone_lifts_a_restored_change_log(
    broker: Broker, worker: IngestWorker
) -> None:
    # Right after a restore the tills' retained statuses arrive before any catch-up: a till
    # that holds prices v70 lifts the counter, so the next price change reaches every till.
    t01 = broker.client("S001-T01", client_id="S001-T01")
    status = msgspec.json.decode(_status("S001-T01", True, 0))
    status["stream_versions"] = {"prices": 70, "no-such-stream": 9}
    t01.publish(status_topic("S001", "S001-T01"), msgspec.json.encode(status))
    _wait_db(lambda: current_version(worker.db, "prices") == 70)
    assert current_version(worker.db, "no-such-stream") == 0
