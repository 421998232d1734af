"""Builders for the job tests: a member's history through the real ingest, runs with a set clock,
and a till's member cache fed what the cloud logged for the tills."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cloud.domain.rulesets import rule_sets
from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.jobs.config import JobsConfig
from cloud.jobs.registry import run_job
from cloud.jobs.runs import RunResult
from cloud.store import rules as rules_store
from cloud.store.apply import BatchOutcome, IngestRules, apply_batch
from cloud.store.db import CloudDB
from cloud.store.effects import PendingDown
from device.store.db import open_database
from device.sync.storage import SyncStorage
from protocol.envelope import Envelope, utc_iso
from protocol.rules import default_rules
from protocol.rules_check import decode_body, to_plain
from protocol.topics import events_topic
from tests.cloud.factories import batch_payload, envelope, registration_body, sale_body

T0 = dt.datetime(2025, 3, 1, 4, 0, tzinfo=dt.UTC)  # noon in Shanghai


def day(n: float) -> dt.datetime:
    """T0 plus n days (aware UTC)."""
    return T0 + dt.timedelta(days=n)


def naive(at: dt.datetime) -> dt.datetime:
    """As the cloud stores time: naive UTC."""
    return at.astimezone(dt.UTC).replace(tzinfo=None)


def publish_rules(
    cdb: CloudDB,
    at: dt.datetime,
    *,
    basis: str = "spend",
    window_days: int = 0,
    silver: int = 200_000,
    gold: int = 500_000,
    expiry_days: int = 365,
) -> tuple[str, IngestRules]:
    """HQ publishes chain rules with these tier and expiry figures (the rest the defaults);
    returns the version and ingest's rules knowing it."""
    plain = to_plain(default_rules())
    plain["tiers"].update(basis=basis, window_days=window_days)
    plain["tiers"]["levels"][1]["threshold"] = silver
    plain["tiers"]["levels"][2]["threshold"] = gold
    plain["loyalty"]["expiry_days"] = expiry_days
    with cdb.write():
        published, _ = rules_store.publish_rules(cdb, decode_body(plain), "all", "hq", naive(at))
    known = [rules_store.by_version(cdb, f"r{n}") for n in range(1, 100)]
    rules = IngestRules(
        rule_sets=rule_sets([r for r in known if r]), chain_version=published.version
    )
    return published.version, rules


def ingest(
    cdb: CloudDB, envs: Sequence[Envelope], at: dt.datetime, rules: IngestRules | None = None
) -> BatchOutcome:
    """Store one terminal's events through the real decode and apply, received at ``at``."""
    first = envs[0]
    topic = events_topic(first.store_id, first.terminal_id)
    decoded = decode_events_message(topic, batch_payload(envs))
    assert isinstance(decoded, DecodedBatch)
    outcome = apply_batch(
        cdb,
        store_id=first.store_id,
        terminal_id=first.terminal_id,
        events=decoded.events,
        topic=topic,
        rules=rules or IngestRules(),
        clock=lambda: at,
    )
    assert not outcome.held and not outcome.dead_lettered, outcome
    return outcome


class Till:
    """One terminal's events, numbered in order, each received when it is made; its sales name
    rules ``version`` (published with ``publish_rules``), else the built-in defaults."""

    def __init__(
        self, cdb: CloudDB, terminal_id: str, rules: tuple[str, IngestRules] | None = None
    ) -> None:
        self.cdb, self.terminal_id, self.seq = cdb, terminal_id, 0
        self.version, self.rules = rules or ("", IngestRules())

    def send(self, body: dict[str, Any], at: dt.datetime, event_type: str = "sale") -> int:
        self.seq += 1
        if event_type == "sale" and self.version:
            body = {**body, "rules_version": self.version}
        ingest(
            self.cdb,
            [envelope(self.terminal_id, self.seq, body, event_type=event_type, time=at)],
            at,
            self.rules,
        )
        return self.seq

    def sale(self, member_id: str, yuan: int, at: dt.datetime, redeem: int = 0) -> dict[str, Any]:
        body = sale_body(
            [("SKU-1", 1, yuan * 100)],
            member_id=member_id,
            redeem=redeem,
            time=at,
            receipt_no=f"{self.terminal_id}-{self.seq + 1:04d}",
        )
        self.send(body, at)
        return body

    def refund(self, sale: dict[str, Any], yuan: int, points: int, at: dt.datetime) -> None:
        """Return ¥``yuan`` of ``sale`` in cash, reversing ``points`` it earned."""
        fen = yuan * 100
        member = sale["member_id"]
        body = {
            "return_id": str(uuid.uuid4()),
            "original_sale_id": sale["sale_id"],
            "original_receipt_no": sale["receipt_no"],
            "cashier_id": "C02",
            "shift_id": "SH1",
            "member_id": member,
            "lines": [
                {
                    "original_line_no": 1,
                    "sku": "SKU-1",
                    "quantity": 1,
                    "weight_g": None,
                    "refund_fen": fen,
                }
            ],
            "refund_fen": fen,
            "refunds": [
                {
                    "kind": "cash",
                    "amount_fen": fen,
                    "tendered_fen": 0,
                    "approval_code": "",
                    "reference": "",
                }
            ],
            "points": [
                {
                    "member_id": member,
                    "delta": -points,
                    "reason": "return_reversal",
                    "origin_sale_id": sale["sale_id"],
                }
            ]
            if points
            else [],
            "authorised_by": None,
            "device_time": utc_iso(at),
            "clock_synced": True,
            "reason": "",
            "receipt_no": f"{self.terminal_id}-R{self.seq + 1:04d}",
        }
        self.send(body, at, "return")

    def register(self, member_id: str, phone: str, at: dt.datetime, name: str = "") -> None:
        self.send(registration_body(member_id, phone, name), at, "member_registered")


def run(
    cdb: CloudDB,
    job: str,
    now: dt.datetime,
    config: JobsConfig | None = None,
    dry_run: bool = False,
) -> tuple[RunResult, list[PendingDown]]:
    """Run a job at ``now``; returns the run and the changes it handed over to publish."""
    sent: list[PendingDown] = []
    result = run_job(
        cdb,
        job,
        config=config or JobsConfig(),
        trigger="cli",
        actor="tests",
        publish=sent.extend,
        clock=lambda: naive(now),
        dry_run=dry_run,
    )
    return result, sent


def member_changes(cdb: CloudDB) -> list[tuple[str, list[dict[str, Any]]]]:
    """Every change on the members stream: (kind, items), oldest first."""
    d = cdb.models.DownChange
    rows = d.select().where(d.stream == "members").order_by(d.version)
    return [(r.kind, r.items) for r in rows]


def ledger(cdb: CloudDB, member_id: str) -> list[tuple[int, str, str, int]]:
    """(delta, reason, origin terminal, origin seq) of a member's ledger, in order."""
    p = cdb.models.PointsLedger
    rows = p.select().where(p.member_id == member_id).order_by(p.id)
    return [(r.delta, r.reason, r.origin_terminal, r.origin_seq) for r in rows]


class TillCache:
    """A till's member cache (a real SQLite file) fed every members change the cloud logged."""

    def __init__(self, path: Path) -> None:
        open_database(path, create=True).close()
        self.storage = SyncStorage.open(path)
        self.version = 0

    def catch_up(self, cdb: CloudDB) -> None:
        d = cdb.models.DownChange
        query = d.select().where((d.stream == "members") & (d.version > self.version))
        for row in query.order_by(d.version):
            self.storage.apply("members", row.version, row.kind, row.items)
            self.version = row.version

    def close(self) -> None:
        self.storage.close()
