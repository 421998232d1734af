"""Kill -9 a process recording sales, 200 times; after every restart the journal is whole."""

# Checks after each kill: SQLite's integrity check passes; every sale and return is complete
# (lines, tenders, ledger rows, exactly one outbox event) or absent; outbox seq and per-day
# receipt numbers have no gaps; no event exists without its record; every receipt the child
# reported (only ever after its commit) is in the journal; and each member's cached spend
# equals the money of their recorded sales less refunds. The child is forked from the test
# process (no interpreter start-up), and opens its own connection after the fork.

from __future__ import annotations

import os
import random
import signal
import time
from collections import defaultdict
from pathlib import Path

import pytest

from device.store.store import Store
from tests.device.store.builders import FakeClock, store_config
from tests.faults import sale_loop

KILLS = 200
# Events as the sync layer reads them: a sale's event body is kept on its sale row.
EVENTS = (
    "(SELECT o.seq AS seq, o.type AS type, coalesce(o.body, s.body) AS body FROM outbox AS o "
    "LEFT JOIN sale AS s ON o.body IS NULL AND s.seq = o.seq)"
)

_MONEY = (
    "SELECT r.member_id, sum(t.amount_fen) FROM {record} AS r JOIN {parts} AS t ON t.seq = r.seq "
    "WHERE r.member_id IS NOT NULL AND t.kind NOT IN ('points', 'coupon') GROUP BY r.member_id"
)


def _one(store: Store, sql: str) -> int:
    return int(store.db.query(sql)[0][0])


def check_journal(path: Path, reported: set[str], since_seq: int = 0) -> int:
    """Assert every invariant; return the number of events recorded so far.

    Records up to ``since_seq`` were verified after an earlier kill and the journal is
    append-only here, so the per-record checks look only at newer ones (keeps the loop linear).
    """
    store = Store.open(path, store_config(), clock=FakeClock())
    try:
        assert store.db.integrity_check() == []
        # Exactly one event per sale/return, with the same seq and id; no event without one.
        assert _one(store, "SELECT count(*) FROM outbox WHERE type NOT IN ('sale', 'return')") == 0
        for table, key, kind in (
            ("sale", "sale_id", "sale"),
            ("sale_return", "return_id", "return"),
        ):
            missing = (
                f"SELECT count(*) FROM {table} AS r WHERE r.seq > {since_seq} "
                f"AND (SELECT count(*) FROM {EVENTS} AS o "
                f"WHERE o.seq = r.seq AND o.type = '{kind}' "
                f"AND json_extract(o.body, '$.{key}') = r.{key}) <> 1"
            )
            assert _one(store, missing) == 0, f"{table} without its outbox event"
            orphans = (
                f"SELECT count(*) FROM {EVENTS} AS o WHERE o.seq > {since_seq} "
                f"AND o.type = '{kind}' AND NOT EXISTS "
                f"(SELECT 1 FROM {table} AS r WHERE r.seq = o.seq "
                f"AND r.{key} = json_extract(o.body, '$.{key}'))"
            )
            assert _one(store, orphans) == 0, f"outbox {kind} event without its record"
        # Completeness: row counts match what the event says the record contains.
        incomplete_sales = (
            f"SELECT count(*) FROM sale AS s JOIN {EVENTS} AS o ON o.seq = s.seq "
            f"WHERE s.seq > {since_seq} AND ("
            "(SELECT count(*) FROM sale_line WHERE seq = s.seq) "
            "  <> json_array_length(o.body, '$.lines') "
            "OR (SELECT count(*) FROM sale_tender WHERE seq = s.seq) "
            "  <> json_array_length(o.body, '$.tenders') "
            "OR (SELECT count(*) FROM points_ledger WHERE seq = s.seq) "
            "  <> json_array_length(o.body, '$.points'))"
        )
        assert _one(store, incomplete_sales) == 0
        incomplete_returns = (
            f"SELECT count(*) FROM sale_return AS r JOIN {EVENTS} AS o ON o.seq = r.seq "
            f"WHERE r.seq > {since_seq} AND ("
            "(SELECT count(*) FROM return_line WHERE seq = r.seq) "
            "  <> json_array_length(o.body, '$.lines') "
            "OR (SELECT count(*) FROM points_ledger WHERE seq = r.seq) "
            "  <> json_array_length(o.body, '$.points'))"
        )
        assert _one(store, incomplete_returns) == 0
        assert (
            _one(store, "SELECT count(*) FROM points_ledger WHERE seq NOT IN "
                 "(SELECT seq FROM sale UNION ALL SELECT seq FROM sale_return) "
                 f"AND seq > {since_seq}") == 0
        )  # fmt: skip
        # Gapless seq: 1..N, matching the counter.
        last = store.outbox.last_seq()
        lo, hi, n = store.db.query("SELECT min(seq), max(seq), count(*) FROM outbox")[0]
        assert n == last and (n == 0 or (lo, hi) == (1, last))
        # Gapless receipts per business day over sales and returns together.
        per_day: dict[str, list[int]] = defaultdict(list)
        receipts = set()
        for (receipt,) in store.db.query(
            "SELECT receipt_no FROM sale UNION ALL SELECT receipt_no FROM sale_return"
        ):
            receipts.add(receipt)
            day, number = receipt.rsplit("-", 2)[1:]
            per_day[day].append(int(number))
        for day, numbers in per_day.items():
            assert sorted(numbers) == list(range(1, len(numbers) + 1)), day
            counted = _one(store, f"SELECT value FROM counter WHERE name = 'receipt:{day}'")
            assert counted == len(numbers), day
        assert reported <= receipts, "a receipt reported after commit is missing"
        # The cached member's spend moved in the same transactions: it equals the money of
        # the member's recorded sales minus the money refunded by their recorded returns.
        paid = dict(store.db.query(_MONEY.format(record="sale", parts="sale_tender")))
        refunded = dict(store.db.query(_MONEY.format(record="sale_return", parts="return_refund")))
        spend = dict(store.db.query("SELECT member_id, cumulative_spend_fen FROM member"))
        for member_id, fen in spend.items():
            assert fen == paid.get(member_id, 0) - refunded.get(member_id, 0), member_id
        return n
    finally:
        store.close()


def _run_child(path: Path, seed: int) -> tuple[int, int]:
    """Fork a child that records sales into ``path``; return (pid, read end of its output)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_fd)
        try:
            sale_loop.main(str(path), seed, write_fd)
        finally:
            os._exit(1)
    os.close(write_fd)
    return pid, read_fd


def _read_until_ready(fd: int) -> bytes:
    data = b""
    while b"ready\n" not in data:
        chunk = os.read(fd, 4096)
        if not chunk:
            raise AssertionError(f"child died before opening the store: {data!r}")
        data += chunk
    return data


def _read_all(fd: int, data: bytes) -> list[str]:
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    # A line cut off by the kill was never completely reported: ignore it.
    complete = data.decode().split("\n")[:-1]
    return [line for line in complete if line and line != "ready"]


def test_the_first_childs_sales_keep_every_members_spend_exact(tmp_path: Path) -> None:
    """The crash loop's first child (seed 0), run without kills: every invariant holds.

    Its 89th record returns M0014's first sale, one line paid 20.00 in points and the rest in
    cash. A return that paid the whole line back in cash refunded 20.00 more money than the
    sale took, and the member's cached spend, which cannot go below zero, parted from the
    journal's paid-minus-refunded for good (``0 == 25295 - 27295``).
    """
    path = tmp_path / "terminal.db"
    store = Store.open(path, store_config(), create=True, clock=FakeClock())
    store.members.upsert(
        [{"member_id": f"M{i:04d}", "phone": f"1380000{i:04d}"} for i in range(50)]
    )
    store.close()
    out = tmp_path / "receipts.txt"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT)
    try:
        sale_loop.main(str(path), 0, fd, records=300)
    finally:
        os.close(fd)
    reported = set(out.read_text().split()) - {"ready"}
    assert len(reported) == 300
    assert check_journal(path, reported) == 300


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_a_partial_sale(tmp_path: Path) -> None:
    path = tmp_path / "terminal.db"
    store = Store.open(path, store_config(), create=True, clock=FakeClock())
    store.members.upsert(
        [{"member_id": f"M{i:04d}", "phone": f"1380000{i:04d}"} for i in range(50)]
    )  # the members the child sells to, so their cached spend is checked too
    store.close()
    rng = random.Random(20261123)
    reported: set[str] = set()
    recorded = 0
    killed_mid_run = 0
    for i in range(KILLS):
        pid, fd = _run_child(path, i)
        data = b""
        if i % 10 == 9:
            time.sleep(rng.uniform(0.0, 0.01))  # now and then, kill it while it is opening
        else:
            data = _read_until_ready(fd)
            time.sleep(rng.uniform(0.005, 0.060))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        lines = _read_all(fd, data)
        reported.update(lines)
        before = recorded
        recorded = check_journal(path, reported, since_seq=max(0, before - 1))
        assert recorded >= before + len(lines)
        killed_mid_run += recorded > before
    assert check_journal(path, reported) == recorded  # and once over the whole journal
    assert recorded > KILLS  # the loop really was recording between kills
    assert killed_mid_run > KILLS // 2
