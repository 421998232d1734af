"""Member figures: a sale's points reaching another store's till, and a till catching up.

All on loopback: one Mosquitto (the test fixture's config), the real cloud ingest worker in
this process on a SQLite file, terminals' SyncServices on real store files.

- member.push_apply_p50_ms / p99_ms: a member's sale is recorded at a till of store A; from the
  ingest commit that stored it to the member's new facts applied in the cache of a till of
  store B (rev moved, balance rebased). One sale at a time.
- member.raw_broker_p99_ms: the same members-change payload published by a bare client and
  received by a bare subscriber on the same broker, same run: the floor a push cannot beat.
- member.push_vs_raw_p99_ratio: the first p99 over the second.
- member.catchup_100k_changes_s: a till that missed 100,000 member changes (each a member's
  facts; quick: 10,000) is given them by the cloud's catch-up, paged and published by the
  ingest worker, applied by the till's sync thread: time from the till's connect to its
  members stream version reaching the last one.
- member.catchup_changes_per_s: the same as a rate.
- checkout.scan_to_screen_during_catchup_p99_ms: while that catch-up runs, the same till's
  runtime takes scans (a ScanEvent on its queue until the published view shows the line).
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks._scans import ScanTimer
from benchmarks._stats import percentile
from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings as IngestBrokerSettings
from cloud.store.db import open_cloud_db
from cloud.store.downstream import append_change
from device.checkout.records import Member, Tier
from device.config import BrokerSection
from device.store.db import DbOptions
from device.store.staff import PinPolicy
from device.store.store import Store, StoreConfig
from device.sync.client import BrokerSettings
from device.sync.service import SyncService, SyncSettings
from device.sync.storage import SyncStorage
from device.wiring import start_sync
from tests.broker import Broker
from tests.device.harness import start_terminal, terminal_config
from tests.device.store.builders import make_sale

MEMBER = "BENCH-M1"


def _worker(broker: Broker, url: str) -> IngestWorker:
    settings = IngestBrokerSettings(host=broker.host, port=broker.port, username="ingest",
                                    password=broker.password("ingest"))  # fmt: skip
    worker = IngestWorker(url, settings, client_id="ingest")
    worker.start()
    return worker


def _till(broker: Broker, path: Path, terminal: str) -> tuple[Store, SyncService]:
    store = Store.open(path, StoreConfig(terminal_id=terminal, pin_policy=PinPolicy.for_tests(),
                                         db=DbOptions(check="none")), create=True)  # fmt: skip
    settings = SyncSettings(broker=BrokerSettings(
        host=broker.host, port=broker.port, store_id=terminal.split("-")[0], terminal_id=terminal,
        password=broker.password(terminal), reconnect_max_s=1,
    ), poll_s=0.005)  # fmt: skip
    sync = SyncService(settings, open_store=lambda: SyncStorage.open(path))
    sync.start()
    return store, sync


def _rev(store: Store) -> int:
    row = store.db.row("SELECT rev FROM member WHERE member_id = ?", (MEMBER,))
    return int(row[0]) if row else -1


def _push_apply(root: Path, sales: int) -> dict[str, float]:
    broker = Broker(root / "broker")
    broker.start()
    worker = _worker(broker, f"sqlite:///{root}/cloud.db")
    a, sync_a = _till(broker, root / "a.db", "S001-T01")
    b, sync_b = _till(broker, root / "b.db", "S002-T01")
    try:
        a.record_member_registration(Member(MEMBER, "13900009999", "会员"), "2001",
                                     dt.datetime.now(dt.UTC))  # fmt: skip
        sync_a.wake()
        _wait(lambda: _rev(b) >= 1, 30, "the member reaching store B")
        samples = []
        for n in range(sales):
            before = _rev(b)
            # Regular, the tier the member registered at (a higher claim is held, not pushed).
            a.record_sale(make_sale(3, member_id=MEMBER, seed=n, when=dt.datetime.now(dt.UTC),
                                    tier=Tier.REGULAR))  # fmt: skip
            sync_a.wake()
            _wait(partial(_rev_above, b, before), 30, "the push reaching store B")
            applied = time.monotonic()
            committed = worker.last_commit_monotonic or applied
            samples.append((applied - committed) * 1000)
        raw = _raw_round_trip(broker, sales)
    finally:
        for sync in (sync_a, sync_b):
            sync.stop()
        a.close()
        b.close()
        worker.stop()
        broker.close()
    p99 = percentile(samples, 99)
    raw99 = percentile(raw, 99)
    return {
        "member.push_apply_p50_ms": statistics.median(samples),
        "member.push_apply_p99_ms": p99,
        "member.raw_broker_p99_ms": raw99,
        "member.push_vs_raw_p99_ratio": p99 / raw99 if raw99 else 0.0,
    }


def _raw_round_trip(broker: Broker, rounds: int) -> list[float]:
    """A members-change-sized message, bare publisher to bare subscriber, same broker."""
    topic = "pos/v1/S001/S001-T02/down/members"  # a till of its own, not one under test
    sub = broker.client("S001-T02")
    sub.subscribe(topic)
    pub = broker.client("hq")
    payload = b"x" * 900  # about one pushed member item
    samples = []
    for n in range(rounds):
        start = time.monotonic()
        pub.publish(topic, payload)
        sub.wait_for(partial(_holds_more, sub, topic, n), timeout=10)
        samples.append((time.monotonic() - start) * 1000)
    return samples


def _holds_more(sub: Any, topic: str, k: int, _message: Any) -> bool:
    return len(sub.received_on(topic)) > k


def _rev_above(store: Any, rev: int) -> bool:
    return _rev(store) > rev


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout}s")
        time.sleep(0.001)


def _log_changes(url: str, changes: int) -> int:
    """The cloud's member stream holds ``changes`` changes, one member's facts each."""
    cdb = open_cloud_db(url)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    version = 0
    try:
        for start in range(0, changes, 5000):
            with cdb.write():
                for i in range(start, min(start + 5000, changes)):
                    item = {"member_id": f"C{i:07d}", "phone": f"18{i:09d}", "rev": 1,
                            "tier": "regular", "points_balance": i % 5000,
                            "cumulative_spend_fen": i, "returns_30d": 0, "asof": {}}  # fmt: skip
                    version = append_change(cdb, "members", "all", "upsert", [item], now)
    finally:
        cdb.close()
    return version


def _catch_up(root: Path, changes: int, scans: int) -> dict[str, float]:
    broker = Broker(root / "broker2")
    broker.start()
    url = f"sqlite:///{root}/cloud2.db"
    last = _log_changes(url, changes)
    worker = _worker(broker, url)
    section = BrokerSection(host=broker.host, port=broker.port, username="S001-T01",
                            password=broker.password("S001-T01"))  # fmt: skip
    cfg = terminal_config(root / "till", section)
    term = start_terminal(root / "till", cfg=cfg, receipt_files=False)
    try:
        term.login_and_open()
        timer = ScanTimer(term)
        start = time.monotonic()
        sync = start_sync(cfg, term.runtime.paper_state)
        term.runtime.sync = sync
        finished: list[float] = []

        def caught_up() -> bool:
            if sync.stats().stream_versions.get("members", 0) >= last:
                finished.append(time.monotonic())
                return True
            if time.monotonic() - start > 900:
                raise RuntimeError("catch-up did not finish within 15 minutes")
            return False

        timer.scan_until(caught_up, scans)
        samples = timer.samples
        done_at = finished[0]
        elapsed = done_at - start
        sync.stop()
    finally:
        term.stop()
        worker.stop()
        broker.close()
    return {
        "member.catchup_100k_changes_s" if changes >= 100_000 else "member.catchup_changes_s":
            elapsed,
        "member.catchup_changes_per_s": changes / elapsed,
        "member.catchup_changes": float(changes),
        "checkout.scan_to_screen_during_catchup_p99_ms": percentile(samples, 99)
        if samples else 0.0,
        "checkout.scans_during_catchup": float(len(samples)),
    }  # fmt: skip


def run(quick: bool) -> dict[str, float]:
    """The member figures (quick: fewer sales, 10,000 changes)."""
    with tempfile.TemporaryDirectory(prefix="bench-member-") as tmp:
        root = Path(tmp)
        figures = _push_apply(root, 30 if quick else 200)
        figures.update(_catch_up(root, 10_000 if quick else 100_000, 200))
    return figures
