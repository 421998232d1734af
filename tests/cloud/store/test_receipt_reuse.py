"""Receipt numbers a till printed again are reported to HQ; a till counting up costs no lookup.

Each test runs on SQLite and PostgreSQL (``cloud_db``), through ingest's decoder and its
transaction (one message, or a group of several).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg2
import pytest

from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store import receipts
from cloud.store.apply import IngestRules, PreparedBatch, apply_batch, commit_group, prepare_batch
from cloud.store.db import CloudDB, open_cloud_db
from protocol.envelope import Envelope
from protocol.topics import events_topic
from tests.cloud.factories import batch_payload, envelope, sale_body

RULES = IngestRules()
T1, T2 = "S001-T01", "S001-T02"


def _no(n: int, day: str = "20261123", terminal: str = T1) -> str:
    return f"{terminal}-{day}-{n:04d}"


def _sales(terminal: str, numbered: Sequence[tuple[int, str]]) -> list[Envelope]:
    """A sale envelope for each (seq, receipt number)."""
    return [envelope(terminal, seq, sale_body([("A", 1, 500)], receipt_no=number))
            for seq, number in numbered]  # fmt: skip


def _decoded(envs: Sequence[Envelope]) -> tuple[str, DecodedBatch]:
    topic = events_topic("S001", envs[0].terminal_id)
    decoded = decode_events_message(topic, batch_payload(envs))
    assert isinstance(decoded, DecodedBatch), decoded
    return topic, decoded


def _send(cdb: CloudDB, terminal: str, numbered: Sequence[tuple[int, str]]) -> None:
    topic, decoded = _decoded(_sales(terminal, numbered))
    apply_batch(cdb, store_id="S001", terminal_id=terminal, events=decoded.events, topic=topic,
                rules=RULES)  # fmt: skip


def _prepared(cdb: CloudDB, terminal: str, numbered: Sequence[tuple[int, str]]) -> PreparedBatch:
    topic, decoded = _decoded(_sales(terminal, numbered))
    return prepare_batch(store_id="S001", terminal_id=terminal, events=decoded.events,
                         topic=topic, rules=RULES, now_aware=dt.datetime.now(dt.UTC),
                         clocks={}, copy_text=cdb.is_postgres)  # fmt: skip


def _reused(cdb: CloudDB) -> list[tuple[str, int, str]]:
    """(terminal, seq, receipt number) of every sale reported as a reused number."""
    problems = receipts.over_returns(cdb)
    return sorted((p["terminal_id"], p["seq"], p["receipt_no"])
                  for p in problems if p["reason"] == "receipt_reused")  # fmt: skip


@pytest.fixture
def lookups(cloud_db: CloudDB, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The receipt-number lookups ingest sends the database (statements, as sent)."""
    sent: list[str] = []
    real: Callable[..., Any] = cloud_db.database.execute_sql

    def spy(sql: str, params: Any = None, *args: Any, **kw: Any) -> Any:
        if '"receipt_no" IN' in sql and "HAVING" in sql:
            sent.append(sql)
        return real(sql, params, *args, **kw)

    monkeypatch.setattr(cloud_db.database, "execute_sql", spy)
    yield sent


def test_a_number_printed_again_in_a_later_message_is_reported(cloud_db: CloudDB) -> None:
    _send(cloud_db, T1, [(1, _no(1)), (2, _no(2))])
    _send(cloud_db, T2, [(1, _no(2, terminal=T1))])  # another till: not this till's reuse
    _send(cloud_db, T1, [(3, _no(3)), (4, _no(2))])
    assert _reused(cloud_db) == [(T1, 4, _no(2))]


def test_a_number_printed_twice_in_one_message_is_reported_for_both_sales(
    cloud_db: CloudDB,
) -> None:
    _send(cloud_db, T1, [(1, _no(1))])
    _send(cloud_db, T1, [(2, _no(2)), (3, _no(3)), (4, _no(2)), (5, _no(4))])  # all above 0001
    assert _reused(cloud_db) == [(T1, 2, _no(2)), (T1, 4, _no(2))]


def test_a_restored_till_counting_up_again_below_the_mark_is_reported_each_time(
    cloud_db: CloudDB,
) -> None:
    _send(cloud_db, T1, [(n, _no(n)) for n in range(1, 6)])
    # Restored from a copy taken after receipt 0002: 0003, 0004... again, each above the
    # sale before it, one message each (a till that keeps up).
    for seq, n in ((6, 3), (7, 4), (8, 5)):
        _send(cloud_db, T1, [(seq, _no(n))])
    _send(cloud_db, T1, [(9, _no(6))])  # above everything: a new number
    assert _reused(cloud_db) == [(T1, 6, _no(3)), (T1, 7, _no(4)), (T1, 8, _no(5))]


def test_a_sale_filling_a_gap_is_looked_up_and_not_taken_for_a_reuse(
    cloud_db: CloudDB, lookups: list[str]
) -> None:
    _send(cloud_db, T1, [(1, _no(1))])
    before = len(lookups)
    _send(cloud_db, T1, [(3, _no(3))])  # seq 2 lost on the way, resent after
    assert len(lookups) == before  # above the mark: nothing to look up
    _send(cloud_db, T1, [(2, _no(2))])
    assert len(lookups) == before + 1  # below the mark: looked up, and found alone
    assert _reused(cloud_db) == []
    _send(cloud_db, T1, [(4, _no(3))])  # the mark is still 0003: a repeat of it is found
    assert _reused(cloud_db) == [(T1, 4, _no(3))]


def test_a_number_in_another_form_is_always_looked_up(
    cloud_db: CloudDB, lookups: list[str]
) -> None:
    _send(cloud_db, T1, [(1, "R-7"), (2, _no(1))])
    _send(cloud_db, T1, [(3, _no(2)), (4, "R-7")])
    assert _reused(cloud_db) == [(T1, 4, "R-7")]
    assert len(lookups) == 2


def test_a_till_counting_up_is_never_looked_up_past_9999_nor_across_days(
    cloud_db: CloudDB, lookups: list[str]
) -> None:
    _send(cloud_db, T1, [(1, _no(9998)), (2, _no(9999))])
    first = len(lookups)  # a till the cloud knew nothing of: its stored sales were read
    _send(cloud_db, T1, [(3, _no(10_000)), (4, _no(10_001))])
    _send(cloud_db, T1, [(5, _no(1, day="20261124")), (6, _no(2, day="20261124"))])
    assert len(lookups) == first
    _send(cloud_db, T1, [(7, _no(10_000))])  # 10000 is below 10001, though not as text
    assert _reused(cloud_db) == [(T1, 7, _no(10_000))]


def test_a_held_sale_holds_its_number(cloud_db: CloudDB) -> None:
    _send(cloud_db, T1, [(1, _no(1))])
    implausible = sale_body([("A", 1, 500)], receipt_no=_no(5))
    implausible["total_fen"] += 1  # its lines do not add up to it: held for HQ
    topic, decoded = _decoded([envelope(T1, 2, implausible)])
    held = apply_batch(cloud_db, store_id="S001", terminal_id=T1, events=decoded.events,
                       topic=topic, rules=RULES)  # fmt: skip
    assert held.held == [2]
    _send(cloud_db, T1, [(3, _no(5))])
    assert _reused(cloud_db) == [(T1, 3, _no(5))]


def test_a_group_of_messages_sees_each_others_numbers(cloud_db: CloudDB) -> None:
    _send(cloud_db, T1, [(1, _no(1))])
    # A backlog committed in one transaction: T1's second message repeats a number of its
    # first (the restore happened in between), with another till's message between them.
    group = [
        _prepared(cloud_db, T1, [(2, _no(2)), (3, _no(3)), (4, _no(4))]),
        _prepared(cloud_db, T2, [(1, _no(1, terminal=T2))]),
        _prepared(cloud_db, T1, [(5, _no(3)), (6, _no(5))]),
        _prepared(cloud_db, T2, [(2, _no(1, terminal=T2))]),
    ]
    commit_group(cloud_db, group, RULES)
    assert _reused(cloud_db) == [(T1, 5, _no(3)), (T2, 2, _no(1, terminal=T2))]
    _send(cloud_db, T1, [(7, _no(4))])  # the group left T1's mark at 0005
    assert (T1, 7, _no(4)) in _reused(cloud_db)


def _as_v4(cdb: CloudDB) -> None:
    """Make ``cdb`` what schema v4 left: no receipt mark."""
    if cdb.is_postgres:
        conn = psycopg2.connect(cdb.url)
        with conn, conn.cursor() as cur:
            cur.execute("ALTER TABLE terminals DROP COLUMN receipt_mark")
            cur.execute("UPDATE schema_meta SET value = '4' WHERE key = 'version'")
        conn.close()
        return
    conn = sqlite3.connect(cdb.url[len("sqlite:///") :])
    with conn:
        conn.execute("ALTER TABLE terminals DROP COLUMN receipt_mark")
        conn.execute("UPDATE schema_meta SET value = '4' WHERE key = 'version'")
    conn.close()


def test_a_database_from_before_the_mark_keeps_reporting(cloud_url: str) -> None:
    old = open_cloud_db(cloud_url)
    try:
        _send(old, T1, [(n, _no(n)) for n in range(1, 6)])
    finally:
        old.close()
    _as_v4(old)
    cdb = open_cloud_db(cloud_url)
    try:
        assert cdb.models.SchemaMeta.get().value == "5"
        # A till restored after 0001: each message above the one before, all below 0005.
        _send(cdb, T1, [(6, _no(2))])
        _send(cdb, T1, [(7, _no(3))])
        _send(cdb, T1, [(8, _no(4)), (9, _no(6))])
        assert _reused(cdb) == [(T1, 6, _no(2)), (T1, 7, _no(3)), (T1, 8, _no(4))]
    finally:
        cdb.close()
