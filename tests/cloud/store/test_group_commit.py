"""commit_group on PostgreSQL: two groups naming the same members in crossing orders."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import psycopg2
import pytest

from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store.apply import (
    GroupOutcome,
    IngestRules,
    PreparedBatch,
    apply_batch,
    commit_group,
    prepare_batch,
)
from cloud.store.db import open_cloud_db
from protocol.topics import events_topic
from tests.cloud.factories import batch_payload, envelope, sale_body
from tests.faults.sync_helpers import wait_until

RULES = IngestRules()


def _prepared(terminal: str, member: str, sku: str) -> PreparedBatch:
    topic = events_topic("S001", terminal)
    body = sale_body([(sku, 1, 2000)], member_id=member, receipt_no=f"{terminal}-1")
    decoded = decode_events_message(topic, batch_payload([envelope(terminal, 1, body)]))
    assert isinstance(decoded, DecodedBatch)
    return prepare_batch(store_id="S001", terminal_id=terminal, events=decoded.events,
                         topic=topic, rules=RULES, now_aware=dt.datetime.now(dt.UTC),
                         copy_text=True)  # fmt: skip


def _waiting_on_locks(url: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        (n,) = cur.fetchone()  # type: ignore[misc]
    conn.close()
    return int(n)


@pytest.mark.pg
def test_groups_naming_members_in_crossing_orders_wait_instead_of_deadlocking(
    fresh_pg_url: str,
) -> None:
    seed = open_cloud_db(fresh_pg_url)
    try:
        # M1, M2 and the figures row of SKU A exist (a till that sold them before).
        for member in ("M1", "M2"):
            decoded = decode_events_message(
                events_topic("S001", f"S001-T9{member[-1]}"),
                batch_payload([envelope(f"S001-T9{member[-1]}", 1,
                                        sale_body([("A", 1, 2000)], member_id=member))]),
            )  # fmt: skip
            assert isinstance(decoded, DecodedBatch)
            apply_batch(seed, store_id="S001", terminal_id=decoded.terminal_id,
                        events=decoded.events, topic="t", rules=RULES)  # fmt: skip
    finally:
        seed.close()
    # Each group's first batch names one member and SKU A, its second the other member: a
    # group that locked members batch by batch would hold M1 wanting M2 while the other
    # held M2 wanting M1.
    groups = {
        "a": [_prepared("S001-T01", "M1", "A"), _prepared("S001-T02", "M2", "B")],
        "b": [_prepared("S001-T03", "M2", "A"), _prepared("S001-T04", "M1", "B")],
    }
    results: dict[str, GroupOutcome | BaseException] = {}

    def commit(name: str) -> None:
        cdb = open_cloud_db(fresh_pg_url)
        try:
            results[name] = commit_group(cdb, groups[name], RULES)
        except BaseException as err:  # reported below
            results[name] = err
        finally:
            cdb.close()

    # Another transaction holds SKU A's figures row, which a group writes after all its
    # batches: the first group to lock its members stops there, the other waits on a member.
    holder: Any = psycopg2.connect(fresh_pg_url)
    threads = [threading.Thread(target=commit, args=(name,)) for name in groups]
    try:
        with holder.cursor() as cur:
            cur.execute("SELECT 1 FROM sku_sales WHERE sku = 'A' FOR UPDATE")
        for t in threads:
            t.start()
        wait_until(lambda: _waiting_on_locks(fresh_pg_url) >= 2, 30,
                   "both groups waiting on a lock")  # fmt: skip
    finally:
        holder.rollback()
        holder.close()
    for t in threads:
        t.join(timeout=60)
    assert not any(isinstance(r, BaseException) for r in results.values()), results
    for name in groups:
        outcome = results[name]
        assert isinstance(outcome, GroupOutcome)
        assert [o.high_water for o in outcome.outcomes] == [1, 1]
    cdb = open_cloud_db(fresh_pg_url)
    try:
        m = cdb.models
        spend = {r.member_id: r.cumulative_spend_fen for r in m.Member.select()}
        assert spend == {"M1": 6000, "M2": 6000}
    finally:
        cdb.close()
