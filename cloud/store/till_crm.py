"""Notes and complaints a till sends, kept in the CRM tables HQ reads and follows up (ingest).

Called once per batch by cloud.store.apply.commit_batch with the events it stored for the
first time, so a batch delivered again (or an event a repair carried again) adds nothing.
A complaint's id is its key as well: one HQ already copied in to handle it stays as HQ left it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from cloud.domain.crm import ERASED_TEXT
from cloud.store import aliases
from cloud.store.bulk import insert_rows
from cloud.store.db import CloudDB


def _utc(when: dt.datetime) -> dt.datetime:
    """Naive UTC, as the CRM tables store times."""
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def apply(cdb: CloudDB, fresh: Sequence[Any]) -> tuple[int, int]:
    """Store the notes and complaints among ``fresh`` events; returns how many of each it saw."""
    wanted = [e for e in fresh if e.dead_reason is None and e.device_time is not None
              and e.type in ("member_note", "complaint")]  # fmt: skip
    if not wanted:
        return 0, 0
    ids = {str(e.body["member_id"]) for e in wanted if e.body.get("member_id")}
    now_known = aliases.survivors(cdb, ids)  # a member merged away since the till wrote
    erased_model = cdb.crm.MemberErasure
    erased = {
        r.member_id
        for r in erased_model.select(erased_model.member_id).where(
            erased_model.member_id.in_(sorted({now_known.get(i, i) for i in ids}))
        )
    }
    notes: list[dict[str, Any]] = []
    complaints: list[dict[str, Any]] = []
    for e in wanted:
        body = e.body
        raw = body.get("member_id")
        member_id = now_known.get(raw, raw) if raw else None
        if e.type == "member_note":
            if member_id in erased or not str(body["text"]).strip():
                continue  # nothing more is recorded about an erased member; blank is nothing
            notes.append({"member_id": member_id, "role": str(body.get("role", ""))[:16],
                          "author": f"till:{e.terminal_id}:{body.get('staff_id', '')}"[:64],
                          "text": str(body["text"]).strip(),
                          "created_at": _utc(e.device_time)})  # fmt: skip
        else:
            complaints.append({"complaint_id": body["complaint_id"], "member_id": member_id,
                               "sale_id": body.get("sale_id") or "", "store_id": e.store_id,
                               "origin": f"till:{e.terminal_id}:{e.seq}",
                               # its workflow goes on; what was said is not kept
                               "text": ERASED_TEXT if member_id in erased else body["text"],
                               "status": body.get("status", "open"),
                               "opened_by": body.get("staff_id", ""),
                               "opened_at": _utc(e.device_time)})  # fmt: skip
    # Raw multi-row INSERTs that ride with the next statement: ingest's transaction is
    # the hot path, and peewee's insert_many costs more building than the database does.
    if notes:
        n = cdb.crm.GuideNote
        cols = ("member_id", "author", "role", "text", "created_at")
        insert_rows(cdb, n._meta.table_name, cols,
                    [tuple(_db(n, c, row[c]) for c in cols) for row in notes])  # fmt: skip
    if complaints:
        c = cdb.crm.Complaint
        cols = ("complaint_id", "member_id", "sale_id", "store_id", "origin", "text", "status",
                "opened_by", "opened_at", "handled_by", "resolution")  # fmt: skip
        rows = [tuple(_db(c, col, {"handled_by": "", "resolution": "", **row}[col])
                      for col in cols) for row in complaints]  # fmt: skip
        # One HQ already copied in to handle stays as HQ left it.
        insert_rows(cdb, c._meta.table_name, cols, rows,
                    on_conflict="ON CONFLICT (complaint_id) DO NOTHING")  # fmt: skip
    return len(notes), len(complaints)


def _db(model: Any, column: str, value: Any) -> Any:
    """``value`` as ``model``'s field stores it on this database (times as the ORM writes them)."""
    return getattr(model, column).db_value(value)
