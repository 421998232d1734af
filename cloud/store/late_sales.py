"""Returns held because their sale was missing, judged again when that sale arrives (ingest).

After a cloud restore, or whenever a return reaches the cloud before the sale it names (sold
at another till), return_checks.judge holds it: the sale is missing. When ingest stores that
sale, each held return whose only reason was that, and that names this sale (id and receipt),
is judged again in the same transaction by the same rules (return_checks.check_stored).
Within the sale, it is applied as HQ's accept would apply it (cloud.store.held_apply) and its
flag is marked accepted by the cloud; beyond it, its reason becomes the real one.

A held return's units are in the ledger under the sale id it names (an indexed column), so
one lookup per batch of new sales, joined to the open flags, finds them; nothing else runs
unless one is there. On PostgreSQL a lock makes the two meet (return_checks.LATE_SALE_LOCK,
shared by sales, taken alone before a return is held as missing): the return is judged after
the sale is committed, or the sale's lookup runs after the held return is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Final

from cloud.store import return_checks
from cloud.store.db import CloudDB
from cloud.store.effects import IngestRules
from cloud.store.held_apply import project_held
from cloud.store.remote_models import UUID_CHARS

#: Who the flag of a return released by its sale's arrival names as deciding (no HQ username
#: can be spelled so: cloud.store.hq_access.USERNAME).
RELEASED_BY: Final = "(cloud)"


def _sales(fresh: Sequence[Any]) -> dict[tuple[str, str], Any]:
    """The batch's new sales by (sale id, receipt number), as a return names them."""
    out: dict[tuple[str, str], Any] = {}
    for e in fresh:
        if e.type == "sale" and e.dead_reason is None:
            sale_id, receipt = e.body.get("sale_id"), e.body.get("receipt_no")
            if isinstance(sale_id, str) and sale_id:
                out.setdefault((sale_id, receipt if isinstance(receipt, str) else ""), e)
    return out


def _held_naming(cdb: CloudDB, sale_ids: list[str]) -> list[tuple[str, int]]:
    """(terminal, seq) of the returns with units of these sales whose flag is open.

    Plain SQL: it runs for every batch with a sale, and building it with peewee costs more
    than PostgreSQL takes to answer it (an index lookup that finds nothing).
    """
    db = cdb.database
    if cdb.is_postgres:  # sent with the lookup: no round trip of its own
        cdb.defer("SELECT pg_advisory_xact_lock_shared(%s)", (return_checks.LATE_SALE_LOCK,))
    ledger = cdb.remote.ReturnedUnits._meta.table_name
    flags = cdb.models.EventFlag._meta.table_name
    marks = ", ".join([db.param] * len(sale_ids))
    rows = db.execute_sql(
        f"SELECT DISTINCT r.terminal_id, r.seq FROM {ledger} r JOIN {flags} f "
        "ON f.terminal_id = r.terminal_id AND f.seq = r.seq "
        f"WHERE r.sale_id IN ({marks}) AND r.state = 'recorded' AND f.state = 'open'",
        sale_ids,
    ).fetchall()
    return sorted((str(terminal), int(seq)) for terminal, seq in rows)


def _named(body: Mapping[str, Any]) -> tuple[str, str]:
    return str(body.get("original_sale_id") or ""), str(body.get("original_receipt_no") or "")


def release(cdb: CloudDB, fresh: Sequence[Any], rules: IngestRules, now: dt.datetime) -> list[str]:
    """Judge again the held returns naming the newly stored sales among ``fresh`` (ingest's
    events, stored in this transaction); apply those within their sale. Returns the members
    they touched, whose new facts the caller pushes. ``now`` is naive UTC."""
    sales = _sales(fresh)
    if not sales:
        return []
    found = _held_naming(cdb, sorted({sale_id[:UUID_CHARS] for sale_id, _ in sales}))
    m = cdb.models
    touched: set[str] = set()
    for terminal_id, seq in found:
        key = (m.EventFlag.terminal_id == terminal_id) & (m.EventFlag.seq == seq)
        flag = cdb.locking(m.EventFlag.select().where(key)).first()
        event = m.Event.get_or_none((m.Event.terminal_id == terminal_id) & (m.Event.seq == seq))
        if flag is None or event is None or event.type != "return" or event.status != "held":
            continue
        body = event.body or {}
        named = _named(body)
        sale = sales.get(named)
        if sale is None or flag.state != "open":
            continue
        if sale.terminal_id == terminal_id and sale.seq > seq:
            continue  # a till's sale comes before its returns: a later one is no sale to them
        if list(flag.reasons or ()) != [return_checks.sale_missing(*named)]:
            continue  # held for something else too: HQ decides
        if sale.hold_reasons:
            reasons = [return_checks.sale_held(*named)]
        else:
            reasons = return_checks.check_stored(cdb, terminal_id, seq, body, sale.body)
        if reasons:
            m.EventFlag.update(reasons=reasons).where(key).execute()
            continue
        touched.update(project_held(cdb, event, str(flag.rules_version or ""), rules, now))
        m.EventFlag.update(state="accepted", decided_by=RELEASED_BY, decided_at=now).where(
            key
        ).execute()
    return sorted(touched)
