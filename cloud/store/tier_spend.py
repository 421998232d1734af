"""Each member's spend and visits per business day: the one measure tiers are earned and kept by.

Ingest adds every projected sale and return to its member's row for the event's store business
day (money paid less money refunded, and one visit per sale), in the batch's transaction. An
upgrade at ingest and the periodic review (cloud.jobs.downgrade) then read the same sums over
the same window (``cloud.domain.tier_review``), so a member the review lowered is never lifted
back by spend the review judged too old. A merge adds the duplicate's days into the survivor's.

The table is created on first open together with its history, re-projected from the events
already stored, under the schema lock so two processes starting at once cannot both fill it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import peewee as pw

from cloud.domain.errors import DomainError
from cloud.domain.projections import EventFacts, Projection, project
from cloud.domain.tier_review import TierPolicy
from cloud.store.bulk import add_rows
from cloud.store.models import JsonText

TABLE: Final = "member_spend_days"
#: Key of the PostgreSQL advisory lock taken while the table is created and filled.
LOCK_KEY: Final = 0x504F53_5350  # "POS" "SP"

#: (member, business day) -> (spend fen, visits)
Days = dict[tuple[str, dt.date], tuple[int, int]]


def add_event(days: Days, projection: Projection, kind: str, day: dt.date) -> None:
    """Count one projected event into ``days`` (a sale is a visit of its member)."""
    for member, fen in projection.spend.items():
        spend, visits = days.get((member, day), (0, 0))
        days[(member, day)] = (spend + fen, visits + (kind == "sale"))


def remapped(days: Mapping[tuple[str, dt.date], tuple[int, int]], mapping: Mapping[str, str]
             ) -> Days:  # fmt: skip
    """``days`` with merged-away members replaced by their survivors."""
    out: Days = {}
    for (member, day), (spend, visits) in days.items():
        key = (mapping.get(member, member), day)
        was = out.get(key, (0, 0))
        out[key] = (was[0] + spend, was[1] + visits)
    return out


def add(cdb: Any, days: Mapping[tuple[str, dt.date], tuple[int, int]]) -> None:
    """Add ``days`` to the stored rows (in key order, as every writer locks them)."""
    rows = [(m, d.isoformat(), s, v) for (m, d), (s, v) in sorted(days.items())]
    add_rows(cdb, TABLE, ("member_id", "day"), ("spend_fen", "visits"), rows)


def measures(
    cdb: Any, member_ids: Iterable[str], today: dt.date, policy: TierPolicy,
    start: dt.date | None = None,
) -> dict[str, int]:  # fmt: skip
    """Each member's spend (fen) or visits in the policy's window ending ``today`` (or, with
    ``start``, from that day on, for a window that starts earlier)."""
    ids = sorted(set(member_ids))
    out = dict.fromkeys(ids, 0)
    if not ids:
        return out
    model = cdb.jobs.MemberSpendDay
    column = model.visits if policy.basis == "visits" else model.spend_fen
    where = model.member_id.in_(ids)
    if policy.window_days:
        where &= model.day >= (policy.window_start(today) if start is None else start)
    rows = (
        model.select(model.member_id, pw.fn.SUM(column)).where(where).group_by(model.member_id)
    ).tuples()
    out.update({member: int(total or 0) for member, total in rows})
    return out


def move(cdb: Any, old_id: str, survivor_id: str) -> int:
    """Add ``old_id``'s days into ``survivor_id``'s and drop them; the days moved."""
    model = cdb.jobs.MemberSpendDay
    rows = list(
        model.select(model.day, model.spend_fen, model.visits)
        .where(model.member_id == old_id)
        .tuples()
    )
    if not rows:
        return 0
    add(cdb, {(survivor_id, _date(d)): (int(s), int(v)) for d, s, v in rows})
    model.delete().where(model.member_id == old_id).execute()
    return len(rows)


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _history(database: pw.Database) -> Days:
    """Every stored sale and return that was projected, counted for its member's day."""
    cursor = database.execute_sql(
        "SELECT terminal_id, store_id, seq, type, body, business_day, business_hour, member_id "
        "FROM events WHERE status = 'ok' AND type IN ('sale', 'return') "
        "AND member_id IS NOT NULL"
    )
    days: Days = {}
    for terminal, store, seq, kind, body, day, hour, member in cursor.fetchall():
        local = dt.datetime.combine(_date(day), dt.time(int(hour)))
        try:
            spent = project(
                EventFacts(terminal, store, seq, kind, JsonText().python_value(body) or {}, local)
            )
        except DomainError:
            continue  # projected at ingest, so never here; a body changed by hand counts 0
        fen = sum(spent.spend.values())
        was = days.get((member, _date(day)), (0, 0))
        days[(member, _date(day))] = (was[0] + fen, was[1] + (kind == "sale"))
    return days


def prepare(cdb: Any) -> None:
    """Create the table and fill it from the events already stored, once."""
    database = cdb.database
    if TABLE in database.get_tables():
        return
    # cdb.write(): on SQLite the write lock up front (BEGIN IMMEDIATE). A deferred transaction
    # that reads the table list and then creates would fail outright, not wait, when ingest,
    # the API and the jobs open a new database together (the demo's first start).
    with cdb.write():
        if isinstance(database, pw.PostgresqlDatabase):
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        if TABLE in database.get_tables():
            return
        database.create_tables([cdb.jobs.MemberSpendDay])
        add(cdb, _history(database))


def members_days(cdb: Any, member_ids: Sequence[str]) -> list[tuple[str, dt.date, int, int]]:
    """(member, day, spend, visits) of these members, in order (tests and the 360° view)."""
    model = cdb.jobs.MemberSpendDay
    rows = (
        model.select(model.member_id, model.day, model.spend_fen, model.visits)
        .where(model.member_id.in_(list(member_ids)))
        .order_by(model.member_id, model.day)
        .tuples()
    )
    return [(m, _date(d), int(s), int(v)) for m, d, s, v in rows]
