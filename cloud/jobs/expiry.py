"""The points-expiry job: earned points older than the period and never spent expire, oldest first.

The period is ``loyalty.expiry_days`` of the chain's rules in force (the figure HQ publishes to
the tills). For every member holding a lot recorded before the cutoff, the member's whole
ledger is replayed (``cloud.domain.expiry``) under the member's row lock, and each lot that
still holds points gets one ``expiry`` row naming it: origin ``hq:expiry``, origin seq the
lot's ledger id, origin sale the sale that earned it. That key is unique in the ledger, so a
lot expires at most once even if two runs race, and a second run finds every expired lot
empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Final

from cloud.domain.expiry import EXPIRY, Entry, Expiry, cutoff, due
from cloud.jobs.config import JobsConfig
from cloud.jobs.runs import CHUNK, JobContext, Tally, in_chunk, lock_members
from cloud.store import rules as rules_store
from cloud.store.bulk import insert_rows
from cloud.store.db import CloudDB
from cloud.store.effects import LEDGER_COLUMNS
from protocol.rules import DEFAULT_VERSION, default_rules

NAME: Final = "points_expiry"
ORIGIN: Final = "hq:expiry"


def after_days(cdb: CloudDB) -> tuple[int, str]:
    """The expiry period of the chain's rules in force, and their version ("": defaults)."""
    chain, _ = rules_store.in_force(cdb, "all")
    body = chain if chain is not None else default_rules()
    return body.loyalty.expiry_days, chain.version if chain is not None else DEFAULT_VERSION


def params(cdb: CloudDB, config: JobsConfig) -> dict[str, Any]:
    """What a run records of its settings: the period and the rules version it came from."""
    days, version = after_days(cdb)
    return {"after_days": days, "rules_version": version}


def _candidates(ctx: JobContext, before: Any) -> Iterator[list[str]]:
    """Members holding a lot recorded at or before the cutoff, in member order, by chunk."""
    ledger = ctx.cdb.models.PointsLedger
    after = ""
    while True:
        ids = [
            member
            for (member,) in ledger.select(ledger.member_id)
            .where(
                (ledger.delta > 0)
                & (ledger.reason != EXPIRY)
                & (ledger.created_at <= before)
                & (ledger.member_id > after)
            )
            .group_by(ledger.member_id)
            .order_by(ledger.member_id)
            .limit(CHUNK)
            .tuples()
        ]
        if not ids:
            return
        yield ids
        after = ids[-1]


def _time(value: Any) -> dt.datetime:
    # SQLite hands back the text peewee stored; PostgreSQL a datetime.
    return value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))


def entries_of(ctx: JobContext, member_ids: list[str]) -> dict[str, list[Entry]]:
    """Each member's ledger as the expiry reads it (plain SQL: a chain's ledger is long)."""
    out: dict[str, list[Entry]] = {m: [] for m in member_ids}
    marks = ", ".join([ctx.cdb.database.param] * len(member_ids))
    cursor = ctx.cdb.database.execute_sql(
        "SELECT id, member_id, created_at, delta, reason, origin_sale_id, origin_terminal, "
        f"origin_seq FROM points_ledger WHERE member_id IN ({marks}) ORDER BY id",
        list(member_ids),
    )
    for row_id, member, at, delta, reason, origin, terminal, seq in cursor.fetchall():
        lot = int(seq) if terminal == ORIGIN else None
        out[member].append(Entry(int(row_id), _time(at), int(delta), reason, origin or "", lot))
    return out


def run(ctx: JobContext, tally: Tally) -> None:
    """Expire, member chunk by member chunk, what is due at the job's clock."""
    before = cutoff(ctx.now, after_days(ctx.cdb)[0])
    for ids in _candidates(ctx, before):

        def work(ids: list[str] = ids) -> list[str]:
            lock_members(ctx.cdb, ids, ctx.cdb.models.Member.member_id)
            due_now: dict[str, list[Expiry]] = {}
            for member, entries in entries_of(ctx, ids).items():
                tally.add("members_checked")
                if expiring := due(entries, before):
                    due_now[member] = expiring
            rows = [
                (member, -e.points, EXPIRY, e.origin[:64], ORIGIN, e.lot, 0, str(ctx.now))
                for member, expiring in due_now.items()
                for e in expiring
            ]
            if ctx.dry_run:
                written = {(r[0], r[5]) for r in rows}
            else:  # a lot some other run expired meanwhile is left out by the unique key
                returned = insert_rows(
                    ctx.cdb,
                    "points_ledger",
                    LEDGER_COLUMNS,
                    rows,
                    on_conflict="ON CONFLICT DO NOTHING",
                    returning=("member_id", "origin_seq"),
                )
                written = {(str(m), int(lot)) for m, lot in returned}
            changed = []
            for member, expiring in due_now.items():
                lots = sorted(e.lot for e in expiring if (member, e.lot) in written)
                points = sum(e.points for e in expiring if (member, e.lot) in written)
                if points:
                    tally.add("points_expired", points)
                    tally.add("lots_expired", len(lots))
                    tally.note(member, points_expired=points, lots=lots)
                    changed.append(member)
            return changed

        in_chunk(ctx, work)
