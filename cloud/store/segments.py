"""RFM scoring in the database, segment sizes and movements, dormant members, purchase behaviour.

Scoring is one ``INSERT ... SELECT``: the member aggregates (visits, spend less refunds, first
and last purchase day) and the window ranks that cut them into scores are computed by the
database over every member at once, so a chain of a million members is scored without a
row crossing into Python. The rules it applies are ``cloud.domain.rfm``'s.

Only sales and returns projected normally (event status ``ok``) count; members merged into
another (``duplicate_of``) are left out, their sales counting under the member they became
once the merge re-points them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import peewee as pw

from cloud.domain import rfm
from cloud.store.db import CloudDB

#: Members listed per page of a segment, at most.
MAX_LIST = 5000


def _days(cdb: CloudDB, later: str, earlier: str) -> str:
    """SQL for whole days from ``earlier`` to ``later`` (both DATE expressions)."""
    if cdb.is_postgres:
        return f"({later} - {earlier})"
    return f"CAST(julianday({later}) - julianday({earlier}) AS INTEGER)"


def _as_of(cdb: CloudDB) -> str:
    return "CAST(%s AS DATE)" if cdb.is_postgres else "?"


def _score(policy: rfm.RfmPolicy, column: str, edges: tuple[int, ...], lower: bool) -> str:
    if policy.method == "quintiles":
        order = f"{column} DESC" if lower else column
        return f"1 + (RANK() OVER (ORDER BY {order}) - 1) * 5 / COUNT(*) OVER ()"
    op = "<=" if lower else ">="
    return "1" + "".join(f" + CASE WHEN {column} {op} {int(e)} THEN 1 ELSE 0 END" for e in edges)


def scoring_sql(cdb: CloudDB, policy: rfm.RfmPolicy) -> str:
    """The SELECT producing one scored row per member (parameters: as-of day x2, run id)."""
    t = policy.thresholds
    as_of = _as_of(cdb)
    label = (
        f"CASE WHEN first_days < {policy.new_days} THEN '{rfm.NEW}' "
        f"WHEN visits <= 1 THEN '{rfm.ONE_OFF}' "
        f"WHEN r <= {policy.at_risk_r} THEN '{rfm.AT_RISK}' "
        f"WHEN f >= {policy.high_value_fm} AND m >= {policy.high_value_fm} "
        f"THEN '{rfm.HIGH_VALUE}' ELSE '{rfm.REGULAR}' END"
    )
    return f"""
WITH s AS (
  SELECT e.member_id AS member_id,
         SUM(CASE WHEN e.type = 'sale' THEN 1 ELSE 0 END) AS visits,
         SUM(CASE WHEN e.type = 'sale' THEN e.amount_fen ELSE -e.amount_fen END) AS spend,
         MIN(CASE WHEN e.type = 'sale' THEN e.business_day END) AS first_day,
         MAX(CASE WHEN e.type = 'sale' THEN e.business_day END) AS last_day
  FROM events e
  WHERE e.member_id IS NOT NULL AND e.status = 'ok' AND e.type IN ('sale', 'return')
  GROUP BY e.member_id
), a AS (
  SELECT s.member_id, s.visits, s.spend, s.first_day, s.last_day,
         {_days(cdb, as_of, "s.last_day")} AS recency_days,
         {_days(cdb, as_of, "s.first_day")} AS first_days,
         {_days(cdb, "s.last_day", "s.first_day")} AS span_days
  FROM s JOIN members mb ON mb.member_id = s.member_id
  WHERE s.visits > 0 AND mb.duplicate_of IS NULL
), sc AS (
  SELECT a.*,
         {_score(policy, "recency_days", t.recency_days, True)} AS r,
         {_score(policy, "visits", t.visits, False)} AS f,
         {_score(policy, "spend", t.spend_fen, False)} AS m
  FROM a
)
SELECT {cdb.database.param}, member_id, visits, spend, first_day, last_day, recency_days,
       first_days,
       CASE WHEN visits > 1 THEN span_days * 1.0 / (visits - 1) END,
       r, f, m, {label}
FROM sc"""


def score(cdb: CloudDB, run_id: int, as_of: dt.date, policy: rfm.RfmPolicy) -> dict[str, int]:
    """Score every member as of ``as_of`` under run ``run_id``; sizes and movements recorded.

    Run inside a write transaction. The previous run's rows stay (they are the "from" side
    of the next movement table); older runs' member rows are dropped.
    """
    sg = cdb.segments
    previous = (
        sg.SegmentRun.select(sg.SegmentRun.run_id)
        .where(sg.SegmentRun.run_id < run_id)
        .order_by(sg.SegmentRun.run_id.desc())
        .scalar()
    )
    db, p = cdb.database, cdb.database.param
    db.execute_sql(
        "INSERT INTO crm_member_rfm (run_id, member_id, visits, spend_fen, first_day, last_day, "
        "recency_days, first_days, cycle_days, r, f, m, label) " + scoring_sql(cdb, policy),
        (as_of.isoformat(), as_of.isoformat(), run_id),
    )
    db.execute_sql(
        "INSERT INTO crm_segment_sizes (run_id, label, members, spend_fen, visits) "
        f"SELECT run_id, label, COUNT(*), SUM(spend_fen), SUM(visits) FROM crm_member_rfm "
        f"WHERE run_id = {p} GROUP BY run_id, label",
        (run_id,),
    )
    db.execute_sql(
        "INSERT INTO crm_segment_moves (run_id, from_label, to_label, members) "
        f"SELECT n.run_id, COALESCE(o.label, '{rfm.UNSCORED}'), n.label, COUNT(*) "
        f"FROM crm_member_rfm n LEFT JOIN crm_member_rfm o "
        f"ON o.member_id = n.member_id AND o.run_id = {p} "
        f"WHERE n.run_id = {p} GROUP BY n.run_id, COALESCE(o.label, '{rfm.UNSCORED}'), n.label",
        (previous if previous is not None else -1, run_id),
    )
    members = int(
        sg.MemberRfm.select().where(sg.MemberRfm.run_id == run_id).count()  # type: ignore[no-any-return]
    )
    sg.SegmentRun.create(
        run_id=run_id,
        as_of=as_of,
        computed_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
        policy=policy.describe(),
        members=members,
        previous_run=previous,
    )
    if previous is not None:
        sg.MemberRfm.delete().where(sg.MemberRfm.run_id < previous).execute()
    return {"members_scored": members}


def count_scorable(cdb: CloudDB) -> int:
    """How many members a run would score (a dry run's answer)."""
    cursor = cdb.database.execute_sql(
        "SELECT COUNT(DISTINCT e.member_id) FROM events e JOIN members mb "
        "ON mb.member_id = e.member_id WHERE e.status = 'ok' AND e.type = 'sale' "
        "AND mb.duplicate_of IS NULL"
    )
    return int(cursor.fetchone()[0])


def latest_run(cdb: CloudDB) -> Any:
    """The newest scoring run (None before the first)."""
    sr = cdb.segments.SegmentRun
    return sr.select().order_by(sr.run_id.desc()).first()


def overview(cdb: CloudDB) -> dict[str, Any]:
    """The newest run: its method, each segment's size and value, movements, size history."""
    sg = cdb.segments
    run = latest_run(cdb)
    if run is None:
        return {"run": None, "segments": [], "moves": [], "history": []}
    sizes = {s.label: s for s in sg.SegmentSize.select().where(sg.SegmentSize.run_id == run.run_id)}
    segments = []
    for name in rfm.LABELS:
        s = sizes.get(name)
        members, spend, visits = (s.members, s.spend_fen, s.visits) if s else (0, 0, 0)
        segments.append({
            "label": name, "members": members, "spend_fen": spend, "visits": visits,
            "avg_basket_fen": spend // visits if visits else 0,
            "spend_per_member_fen": spend // members if members else 0,
            "visits_per_member": round(visits / members, 2) if members else 0,
        })  # fmt: skip
    moves = [
        {"from": mv.from_label, "to": mv.to_label, "members": mv.members}
        for mv in sg.SegmentMove.select()
        .where(sg.SegmentMove.run_id == run.run_id)
        .order_by(sg.SegmentMove.from_label, sg.SegmentMove.to_label)
    ]
    runs = list(sg.SegmentRun.select().order_by(sg.SegmentRun.run_id.desc()).limit(30))
    by_run: dict[int, dict[str, int]] = {}
    for s in sg.SegmentSize.select().where(sg.SegmentSize.run_id.in_([r.run_id for r in runs])):
        by_run.setdefault(int(s.run_id), {})[s.label] = int(s.members)
    history = [
        {"run_id": r.run_id, "as_of": str(r.as_of), "sizes": by_run.get(int(r.run_id), {})}
        for r in reversed(runs)
    ]
    return {
        "run": {"run_id": run.run_id, "as_of": str(run.as_of), "computed_at": run.computed_at,
                "members": run.members, "previous_run": run.previous_run, "policy": run.policy},
        "segments": segments, "moves": moves, "history": history,
    }  # fmt: skip


def _row(r: Any) -> dict[str, Any]:
    return {
        "member_id": r.member_id, "label": r.label, "r": r.r, "f": r.f, "m": r.m,
        "visits": r.visits, "spend_fen": r.spend_fen,
        "avg_basket_fen": r.spend_fen // r.visits if r.visits else 0,
        "first_day": str(r.first_day), "last_day": str(r.last_day),
        "recency_days": r.recency_days,
        "cycle_days": None if r.cycle_days is None else round(float(r.cycle_days), 1),
    }  # fmt: skip


def members_in(
    cdb: CloudDB, label: str | None, limit: int, stores: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """Scored members of the newest run (of one segment), best spenders first."""
    run = latest_run(cdb)
    if run is None:
        return []
    mr, mb = cdb.segments.MemberRfm, cdb.models.Member
    query = (
        mr.select(mr, mb.home_store, mb.phone, mb.name)
        .join(mb, on=(mb.member_id == mr.member_id))
        .where(mr.run_id == run.run_id)
        .order_by(mr.spend_fen.desc(), mr.member_id)
        .limit(min(limit, MAX_LIST))
    )
    if label:
        query = query.where(mr.label == label)
    if stores is not None:
        query = query.where(mb.home_store.in_(sorted(stores)))
    return [
        {**_row(r), "home_store": r.member.home_store, "phone": r.member.phone,
         "name": r.member.name}
        for r in query
    ]  # fmt: skip


def last_sales(cdb: CloudDB, member_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each member's newest sale: store, day, receipt, amount, items."""
    if not member_ids:
        return {}
    e = cdb.models.Event
    out: dict[str, dict[str, Any]] = {}
    query = (
        e.select(e.member_id, e.store_id, e.business_day, e.receipt_no, e.amount_fen, e.body,
                 e.received_at)
        .where(e.member_id.in_(member_ids) & (e.type == "sale") & (e.status == "ok"))
        .order_by(e.business_day, e.received_at)
    )  # fmt: skip
    for row in query:  # later rows win: the newest sale per member is kept
        out[row.member_id] = {
            "store_id": row.store_id, "day": str(row.business_day),
            "receipt_no": row.receipt_no, "amount_fen": row.amount_fen,
            "items": [ln.get("name_zh") or ln.get("sku") for ln in row.body.get("lines", [])][:10],
        }  # fmt: skip
    return out


def dormant(
    cdb: CloudDB, policy: rfm.RfmPolicy, multiple: float, limit: int,
    stores: frozenset[str] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """High-value members past ``multiple`` times their own purchase cycle (newest run)."""
    run = latest_run(cdb)
    if run is None:
        return []
    mr, mb = cdb.segments.MemberRfm, cdb.models.Member
    query = (
        mr.select(mr, mb.home_store, mb.phone, mb.name)
        .join(mb, on=(mb.member_id == mr.member_id))
        .where(
            (mr.run_id == run.run_id) & (mr.m >= policy.dormant_m) & mr.cycle_days.is_null(False)
        )
        .order_by(mr.spend_fen.desc(), mr.member_id)
    )
    if stores is not None:
        query = query.where(mb.home_store.in_(sorted(stores)))
    # The rule of rfm.is_dormant, in SQL so a chain's many big spenders are not read one by
    # one: past ``multiple`` x the cycle, a cycle under a day counting as one day.
    cycle = pw.Case(None, [(mr.cycle_days < 1.0, 1.0)], mr.cycle_days)
    query = query.where(mr.recency_days > cycle * float(multiple)).limit(limit)
    found = [
        {**_row(r), "home_store": r.member.home_store, "phone": r.member.phone,
         "name": r.member.name,
         "overdue_days": round(r.recency_days - multiple * max(float(r.cycle_days), 1.0), 1)}
        for r in query
    ]  # fmt: skip
    last = last_sales(cdb, [x["member_id"] for x in found])
    for x in found:
        x["last_sale"] = last.get(x["member_id"])
    return found


def behaviour(cdb: CloudDB, member_id: str) -> dict[str, Any]:
    """One member's purchase cycle, favourite categories, products and hour (their sales)."""
    e = cdb.models.Event
    categories: Counter[str] = Counter()
    products: Counter[str] = Counter()
    names: dict[str, str] = {}
    hours: Counter[int] = Counter()
    days: list[dt.date] = []
    query = e.select(e.body, e.business_day, e.business_hour).where(
        (e.member_id == member_id) & (e.type == "sale") & (e.status == "ok")
    )
    for row in query.iterator():
        hours[int(row.business_hour)] += 1
        day = row.business_day
        days.append(day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)))
        for line in row.body.get("lines", []):
            net = int(line.get("net_fen") or 0)
            categories[str(line.get("category") or "")] += net
            products[str(line.get("sku"))] += net
            names[str(line.get("sku"))] = str(line.get("name_zh") or line.get("sku"))
    cycle = rfm.purchase_cycle_days(min(days), max(days), len(days)) if days else None
    fav_hour = min(hours, key=lambda h: (-hours[h], h)) if hours else None
    return {
        "member_id": member_id,
        "visits": len(days),
        "cycle_days": None if cycle is None else round(cycle, 1),
        "favourite_categories": [
            {"category": c, "net_fen": v} for c, v in categories.most_common(3) if c
        ],
        "favourite_products": [
            {"sku": s, "name": names[s], "net_fen": v} for s, v in products.most_common(5)
        ],
        "favourite_hour": fav_hour,
        "hours": {f"{h:02d}": n for h, n in sorted(hours.items())},
    }
