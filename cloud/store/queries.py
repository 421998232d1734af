"""Read-side queries for HQ: terminal health and backlog, sales, member points, dead letters."""

from __future__ import annotations

import datetime as dt
from typing import Any

import peewee as pw

from cloud.domain.contiguity import gaps_above
from cloud.domain.points import balance
from cloud.store.db import CloudDB

TOTAL_FIELDS = ("sales_count", "returns_count", "gross_fen", "discount_fen", "sales_fen",
                "refund_fen", "points_earned", "points_redeemed")  # fmt: skip


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.replace(tzinfo=dt.UTC).isoformat()


def terminals(cdb: CloudDB) -> list[dict[str, Any]]:
    """Every terminal with health and backlog.

    Backlog has two halves: what the terminal says is still in its outbox (its last status),
    and what the cloud holds above a gap (stored, but not acknowledged until the gap fills).
    """
    m = cdb.models
    out = []
    for t in m.Terminal.select().order_by(m.Terminal.store_id, m.Terminal.terminal_id):
        status = t.status if isinstance(t.status, dict) else {}  # the last status as sent
        above = [
            seq
            for (seq,) in m.Event.select(m.Event.seq)
            .where((m.Event.terminal_id == t.terminal_id) & (m.Event.seq > t.high_water))
            .tuples()
        ]
        out.append(
            {
                "terminal_id": t.terminal_id,
                "store_id": t.store_id,
                "online": t.online,
                "last_seen": _iso(t.last_seen),
                "status_at": _iso(t.status_at),
                "outbox_depth": t.outbox_depth,
                "printer": t.printer,
                "software_version": t.software_version,
                "clock_synced": t.clock_synced,
                "oldest_unsynced_s": status.get("oldest_unsynced_s"),
                "stream_versions": status.get("stream_versions", {}),
                "problem": status.get("last_problem", ""),
                # The same as a message id with arguments (None from a till that predates it):
                # the page says it in its reader's language (cloud.api.problems).
                "problem_message": status.get("problem"),
                "cert_not_after": status.get("cert_not_after"),
                "acked_seq": t.high_water,
                "stored_above_gap": len(above),
                "gaps": [list(g) for g in gaps_above(t.high_water, above)],
                "flagged": t.flagged,
                "flag_reason": t.flag_reason,
                "flag_message": t.flag_message,  # said in the page's language (cloud.api.problems)
            }
        )
    return out


def sales(
    cdb: CloudDB,
    *,
    store: str | None = None,
    terminal: str | None = None,
    day: dt.date | None = None,
    limit: int = 200,
) -> dict[str, Any]:
    """Totals (from the aggregates) and the latest sales and returns (from the events)."""
    m = cdb.models
    t = m.DailyTotals
    cond: Any = True
    if store:
        cond &= t.store_id == store
    if terminal:
        cond &= t.terminal_id == terminal
    if day:
        cond &= t.day == day
    sums = t.select(*(pw.fn.COALESCE(pw.fn.SUM(getattr(t, f)), 0).alias(f) for f in TOTAL_FIELDS))
    row = sums.where(cond).dicts().get()
    totals = {f: int(row[f]) for f in TOTAL_FIELDS}
    totals["net_fen"] = totals["sales_fen"] - totals["refund_fen"]
    e = m.Event
    econd: Any = e.type.in_(["sale", "return"]) & (e.dead == False)  # noqa: E712
    if store:
        econd &= e.store_id == store
    if terminal:
        econd &= e.terminal_id == terminal
    if day:
        econd &= e.business_day == day
    listing = [
        {
            "terminal_id": ev.terminal_id, "store_id": ev.store_id, "seq": ev.seq,
            "type": ev.type, "receipt_no": ev.receipt_no, "amount_fen": ev.amount_fen,
            "business_day": ev.business_day.isoformat()
            if isinstance(ev.business_day, dt.date) else str(ev.business_day),
            "device_time": ev.device_time, "received_at": _iso(ev.received_at),
            "member_id": ev.body.get("member_id"),
        }
        for ev in e.select()
        .where(econd)
        .order_by(e.received_at.desc(), e.terminal_id, e.seq.desc())
        .limit(limit)
    ]  # fmt: skip
    return {"totals": totals, "sales": listing}


def tills_elsewhere(cdb: CloudDB, stores: frozenset[str]) -> Any:
    """The ids of the tills of every store but ``stores``, as a subquery: what was recorded
    there is those stores' data (HQ's own origins, ``hq:...``, belong to no store)."""
    t = cdb.models.Terminal
    return t.select(t.terminal_id).where(t.store_id.not_in(sorted(stores)))


def member_points(
    cdb: CloudDB, member_id: str, stores: frozenset[str] | None = None
) -> dict[str, Any] | None:
    """Ledger, balance (a sum, never stored) and over-redemptions; None for an unknown member.

    With ``stores`` (a store manager's), the ledger rows and over-redemptions recorded at
    other stores' tills are left out; the balance stays the member's, chain-wide, as every
    till shows it.
    """
    m = cdb.models
    member = m.Member.get_or_none(m.Member.member_id == member_id)
    rows = list(
        m.PointsLedger.select()
        .where(m.PointsLedger.member_id == member_id)
        .order_by(m.PointsLedger.id)
    )
    if member is None and not rows:
        return None
    over = m.OverRedemption
    overs = list(over.select().where(over.member_id == member_id).order_by(over.id))
    elsewhere = set() if stores is None else {r.terminal_id for r in tills_elsewhere(cdb, stores)}
    return {
        "member_id": member_id,
        "tier": member.tier if member else "regular",
        "cumulative_spend_fen": member.cumulative_spend_fen if member else 0,
        "balance": balance(r.delta for r in rows),
        "ledger": [
            {"delta": r.delta, "reason": r.reason, "origin_sale_id": r.origin_sale_id,
             "origin_terminal": r.origin_terminal, "origin_seq": r.origin_seq,
             "created_at": _iso(r.created_at)}
            for r in rows
            if r.origin_terminal not in elsewhere
        ],
        "over_redemptions": [
            {"amount": o.amount, "balance_after": o.balance_after, "terminal_id": o.terminal_id,
             "seq": o.seq, "sale_id": o.sale_id, "detected_at": _iso(o.detected_at)}
            for o in overs
            if o.terminal_id not in elsewhere
        ],
    }  # fmt: skip


def dead_letters(cdb: CloudDB, limit: int = 100) -> list[dict[str, Any]]:
    """The newest dead letters, each with a readable preview of what was sent."""
    m = cdb.models
    query = m.DeadLetter.select().order_by(m.DeadLetter.id.desc()).limit(limit)
    return [
        {"id": d.id, "received_at": _iso(d.received_at), "topic": d.topic,
         "terminal_id": d.terminal_id, "claimed_terminal_id": d.claimed_terminal_id,
         "reason": d.reason, "seqs": d.seqs, "payload_size": d.payload_size,
         "payload_preview": d.payload[:500].decode("utf-8", errors="replace")}
        for d in query
    ]  # fmt: skip
