"""Returns held because their sale was missing, judged again once the sale is stored (a job).

After a cloud restore, or whenever a return reaches the cloud before the sale it names (sold
at another till, or committing in another ingest worker at that moment), return_checks.judge
holds it: the sale is missing. The late_returns job (cloud.jobs.late_returns) finds the held
returns whose only reason is that and whose sale is stored now (``waiting``), and judges each
again by the same rules (``release``, return_checks.check_stored), in its own transaction:
within the sale, it is applied as HQ's accept would apply it (cloud.store.held_apply) and its
flag is marked accepted by the cloud; beyond it, or when the sale is itself held, its reason
becomes the real one and HQ decides.

The job reads only what is committed, so it needs no lock against ingest: a sale committing
while it runs is found by the next run. The flag row is locked before anything is judged, so
a run and HQ's accept cannot both apply one return: a flag no longer open is left alone.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Final

import peewee as pw

from cloud.domain.implausible import REASONS
from cloud.store import receipts, return_checks
from cloud.store.db import CloudDB
from cloud.store.effects import IngestRules, PendingDown
from cloud.store.held_apply import project_held, push_touched

#: Who the flag of a return released by its sale's arrival names as deciding (no HQ username
#: can be spelled so: cloud.store.hq_access.USERNAME).
RELEASED_BY: Final = "(cloud)"


@dataclass(frozen=True, slots=True)
class Released:
    """What judging one held return again did (or, in a dry run, would do).

    ``outcome``: "applied" (within its sale), "held" (its reason replaced by the real one),
    or "left" (decided meanwhile, held for more than its sale, or its sale not found).
    """

    outcome: str
    member_id: str = ""
    reasons: tuple[str, ...] = ()
    touched: tuple[str, ...] = ()
    down: tuple[PendingDown, ...] = ()


def _only_missing(reasons: Any) -> pw.Expression:
    """A flag's stored reasons (JSON text) are one missing sale: the message's English
    around its arguments (which hold neither % nor _), matched as the text it is stored as."""
    english = REASONS["implausible.return_sale_missing"]
    head, tail = english.partition("%(")[0], english.rpartition(")s")[2]
    pattern = '["' + json.dumps(head)[1:-1] + "%" + json.dumps(tail)[1:-1] + '"]'
    # ILIKE is LIKE on SQLite (peewee's LIKE there is GLOB); no converter: the column's
    # would encode the pattern as JSON.
    return pw.Expression(reasons, pw.OP.ILIKE, pw.Value(pattern, converter=False))


def waiting(cdb: CloudDB, limit: int) -> list[tuple[str, int]]:
    """(terminal, seq) of at most ``limit`` open flags, oldest first, of returns held only for
    a missing sale whose receipt number a stored sale now carries (release checks the rest).

    A return's units are in the ledger with the receipt it names; a return whose sale is
    still missing is never found, so the oldest of those cannot crowd out the rest.
    """
    f, r, e = cdb.models.EventFlag, cdb.remote.ReturnedUnits, cdb.models.Event
    held = (f.state == "open") & (f.type == "return") & _only_missing(f.reasons)
    recorded = (r.state == "recorded") & (r.receipt_no != "")
    sold = (e.type == "sale") & e.status.in_(("ok", "held"))
    query = (
        f.select(f.terminal_id, f.seq, f.flagged_at)
        .join(r, on=(r.terminal_id == f.terminal_id) & (r.seq == f.seq))
        .join(e, on=(e.receipt_no == r.receipt_no))
        .where(held & recorded & sold)
        .distinct()
        .order_by(f.flagged_at, f.terminal_id, f.seq)
        .limit(limit)
        .tuples()
    )
    return [(str(terminal), int(seq)) for terminal, seq, _ in query]


def _sale(cdb: CloudDB, sale_id: str, receipt: str) -> receipts.StoredSale | None:
    """The stored sale a return names; of one sale stored twice, the applied copy."""
    found = [s for s in receipts.sales_on(cdb, receipt) if s.sale_id == sale_id]
    return min(found, key=lambda s: s.status != "ok", default=None)


def _judge(cdb: CloudDB, flag: Any, event: Any) -> tuple[str, list[str]] | None:
    """("applied", []) or ("held", the real reasons) for a held return, or None to leave it."""
    body = event.body or {}
    named = str(body.get("original_sale_id") or ""), str(body.get("original_receipt_no") or "")
    if list(flag.reasons or ()) != [return_checks.sale_missing(*named)]:
        return None  # held for something else too: HQ decides
    sale = _sale(cdb, *named) if named[0] and named[1] else None
    if sale is None:
        return None
    if sale.terminal_id == event.terminal_id and sale.seq > int(event.seq):
        return None  # a till's sale comes before its returns: a later one is no sale to them
    if sale.status != "ok":
        return "held", [return_checks.sale_held(*named)]
    reasons = return_checks.check_stored(cdb, event.terminal_id, int(event.seq), body, sale.body)
    return ("held", reasons) if reasons else ("applied", [])


def release(
    cdb: CloudDB, terminal_id: str, seq: int, rules: IngestRules, now: dt.datetime,
    *, dry_run: bool = False,
) -> Released:  # fmt: skip
    """Judge the held return at (terminal, seq) again, inside the caller's write transaction:
    apply it if within its stored sale (its members' new facts logged to publish after the
    commit), else record the real reason. A dry run writes nothing. ``now`` is naive UTC."""
    m = cdb.models
    key = (m.EventFlag.terminal_id == terminal_id) & (m.EventFlag.seq == seq)
    flag = cdb.locking(m.EventFlag.select().where(key)).first()
    if flag is None or flag.state != "open":
        return Released("left")  # HQ (or another run) decided it meanwhile
    event = m.Event.get_or_none((m.Event.terminal_id == terminal_id) & (m.Event.seq == seq))
    if event is None or event.type != "return" or event.status != "held":
        return Released("left")
    judged = _judge(cdb, flag, event)
    member = str((event.body or {}).get("member_id") or "")
    if judged is None:
        return Released("left", member)
    outcome, reasons = judged
    if dry_run:
        return Released(outcome, member, tuple(reasons))
    if reasons:
        m.EventFlag.update(reasons=reasons).where(key).execute()
        return Released(outcome, member, tuple(reasons))
    touched = project_held(cdb, event, str(flag.rules_version or ""), rules, now)
    m.EventFlag.update(state="accepted", decided_by=RELEASED_BY, decided_at=now).where(
        key
    ).execute()
    down = push_touched(cdb, touched, event.store_id, rules, now) if touched else []
    return Released(outcome, member, (), tuple(touched), tuple(down))
