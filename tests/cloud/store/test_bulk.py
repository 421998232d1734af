"""Bulk writes on both engines: COPY-fed inserts keep every character and skip stored keys."""

from __future__ import annotations

import json

from cloud.store.bulk import copy_insert_rows
from cloud.store.db import CloudDB
from cloud.store.seqs import EVENT_COLUMNS

# Characters that delimit COPY text (tab, newline, CR, backslash) and the \N null marker.
NASTY = 'a\tb\nc\rd\\e \\N 北京 "q" \\\\t 🧾'


def _row(seq: int, receipt: str, body: dict[str, object]) -> tuple[object, ...]:
    values = {
        "terminal_id": "S001-T01", "seq": seq, "event_id": f"id-{seq}", "store_id": "S001",
        "type": "sale", "device_time": "2026-11-20T08:00:00Z", "clock_synced": seq % 2 == 0,
        "received_at": "2026-11-20 08:00:01.5", "business_day": "2026-11-20",
        "business_hour": 16, "amount_fen": -seq if seq % 3 == 0 else seq * 100,
        "receipt_no": receipt, "dead": False, "body": json.dumps(body, ensure_ascii=False),
        "epoch": "", "status": "ok", "member_id": None,
    }  # fmt: skip
    return tuple(values[c] for c in EVENT_COLUMNS)


def _insert(cdb: CloudDB, rows: list[tuple[object, ...]]) -> set[int]:
    with cdb.write():
        got = copy_insert_rows(
            cdb, "events", EVENT_COLUMNS, rows, conflict=("terminal_id", "seq"), returning=("seq",)
        )
    return {int(seq) for (seq,) in got}


def test_text_survives_the_copy_path_exactly(cloud_db: CloudDB) -> None:
    body = {"name": NASTY, "lines": [{"sku": "x\ty"}]}
    assert _insert(cloud_db, [_row(1, NASTY, body), _row(2, "", {"empty": ""})]) == {1, 2}
    m = cloud_db.models
    first = m.Event.get((m.Event.terminal_id == "S001-T01") & (m.Event.seq == 1))
    assert first.receipt_no == NASTY
    assert first.body == body
    assert (first.amount_fen, first.clock_synced, first.business_hour) == (100, False, 16)
    second = m.Event.get((m.Event.terminal_id == "S001-T01") & (m.Event.seq == 2))
    assert second.receipt_no == ""  # an empty string, not NULL
    assert second.clock_synced is True


def test_stored_keys_are_skipped_and_only_new_seqs_returned(cloud_db: CloudDB) -> None:
    assert _insert(cloud_db, [_row(1, "r1", {}), _row(2, "r2", {})]) == {1, 2}
    # Twice in a row on one connection: the staging table is reused and was emptied by commit.
    assert _insert(cloud_db, [_row(2, "other", {}), _row(3, "r3", {})]) == {3}
    m = cloud_db.models
    rows = [(e.seq, e.receipt_no, e.amount_fen) for e in m.Event.select().order_by(m.Event.seq)]
    assert rows == [(1, "r1", 100), (2, "r2", 200), (3, "r3", -3)]


def test_a_rolled_back_copy_leaves_nothing(cloud_db: CloudDB) -> None:
    try:
        with cloud_db.write():
            copy_insert_rows(
                cloud_db, "events", EVENT_COLUMNS, [_row(1, "r1", {})],
                conflict=("terminal_id", "seq"), returning=("seq",),
            )  # fmt: skip
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    assert cloud_db.models.Event.select().count() == 0
    assert _insert(cloud_db, [_row(1, "r1", {})]) == {1}
