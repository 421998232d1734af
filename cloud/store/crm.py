"""The member 360 and member search, read from the cloud's authoritative member data.

Everything a member is known by comes back unmasked here; the API masks per role. Each part
is one indexed query keyed by the member (or by the tills and seqs of its sales), so the view
costs the same for a member of a 1M-member chain as for one of ten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import peewee as pw

from cloud.domain.crm import SearchTerm, clean_tags, purchase, return_of
from cloud.store import coupons
from cloud.store.db import CloudDB
from cloud.store.queries import tills_elsewhere

#: Rows of each history the 360 shows (the newest); the totals always count everything.
HISTORY_LIMIT: Final = 100
#: A till records a rating after its sale, with at most this many events in between.
FEEDBACK_WINDOW: Final = 20
#: Members a search lists; the rest are counted for "N more, narrow the search".
SEARCH_LIMIT: Final = 50
#: Matches one lookup of a search reads at most (the count of the rest stops here).
COUNT_CAP: Final = 1000


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def members_with_tags(cdb: CloudDB, tags: Iterable[str], *, match_all: bool = True) -> Any:
    """The ids of members carrying the tags, as a query (use as a subquery or iterate it).

    ``match_all``: every tag (the default), else any of them. Tags are compared as stored
    (``cloud.domain.crm.clean_tag``). A segment filters with
    ``Member.member_id.in_(members_with_tags(cdb, ["vip"]))``.
    """
    wanted = clean_tags(tags)
    t = cdb.crm.MemberTag
    query = t.select(t.member_id).where(t.tag.in_(wanted)).group_by(t.member_id)
    if match_all:
        query = query.having(pw.fn.COUNT(t.tag) == len(wanted))
    return query


def _profile(member: Any) -> dict[str, Any]:
    return {
        "member_id": member.member_id, "phone": member.phone or "", "name": member.name or "",
        "birthday": _iso(member.birthday), "gender": member.gender or "",
        "opt_out_sms": bool(member.opt_out_sms), "member_code": member.member_code or "",
        "cards": list(member.cards or []), "home_store": member.home_store or "",
        "tier": member.tier, "cumulative_spend_fen": int(member.cumulative_spend_fen),
        "registered_at": _iso(member.registered_at), "duplicate_of": member.duplicate_of,
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Found:
    """A search's first ``limit`` members, and how many more matched (counted up to a cap)."""

    members: list[dict[str, Any]]
    more: int
    more_capped: bool  # the count stopped at the cap: at least ``more`` more


def _phone_parts(cdb: CloudDB, m: Any, term: SearchTerm) -> list[Any]:
    """Conditions for the start and end of a phone, each answered by an index.

    The end: the last four digits through an index on them (``right(phone, 4)`` on
    PostgreSQL, ``substr(phone, -4)`` on SQLite, the same expression as the index so the
    planner uses it), then the rest of the digits checked on those few rows. The start: a
    prefix LIKE over ``text_pattern_ops`` on PostgreSQL, a range over the plain phone
    index on SQLite (whose LIKE is case-folding and never uses an index).
    """
    mark = "%s" if cdb.is_postgres else "?"
    last4 = "right(phone, 4)" if cdb.is_postgres else "substr(phone, -4)"
    start, end = term.phone_start, term.phone_end

    def by_end(pattern: str) -> Any:
        return pw.SQL(f"{last4} = {mark}", (end[-4:],)) & pw.SQL(f"phone LIKE {mark}", (pattern,))

    if term.masked:
        return [by_end(start + "%" + end)]
    parts = [by_end("%" + end)] if end else []
    if start and cdb.is_postgres:
        parts.append(pw.SQL(f"phone LIKE {mark}", (start + "%",)))
    elif start:  # digits sort before ':' in SQLite's byte order
        parts.append((m.phone >= start) & (m.phone < start[:-1] + chr(ord(start[-1]) + 1)))
    return parts


def search(
    cdb: CloudDB, term: SearchTerm, stores: frozenset[str] | None, limit: int = SEARCH_LIMIT
) -> Found:
    """Members matching by id, phone (whole, its end, its start, or masked), member code, card
    or name prefix (unmasked), exact keys first; each lookup stops at ``COUNT_CAP``."""
    m = cdb.models.Member
    text = term.text
    order: dict[str, None] = {}

    def take(where: Any, exact_card: bool = False, by: Any = None) -> None:
        query = m.select(m.member_id, m.cards).where(where)
        if stores is not None:
            query = query.where(m.home_store.in_(sorted(stores)))
        if by is not None:
            query = query.order_by(by, m.member_id)
        for row in query.limit(COUNT_CAP).tuples():
            if not exact_card or text in (row[1] or []):
                order.setdefault(row[0], None)

    take(m.member_id == text)
    if term.phone:
        take(m.phone == term.phone)
    for part in _phone_parts(cdb, m, term):
        take(part, by=m.phone)
    take(m.member_code == text)
    if cdb.is_postgres:  # the GIN index on the cards as JSON answers containment
        take(pw.SQL("cards::jsonb @> %s::jsonb", (json.dumps([text]),)))
    else:  # a superset by LIKE (every odd character a wildcard), checked exactly
        pattern = "%" + re.sub(r"[^0-9A-Za-z]+", "%", text) + "%"
        take(m.cards.cast("text") ** pattern, exact_card=True)
    if term.name_prefix:
        escaped = re.sub(r"([\\%_])", r"\\\1", term.name_prefix)
        mark = "%s" if cdb.is_postgres else "?"
        take(pw.SQL(f"lower(name) LIKE {mark} ESCAPE '\\'", (escaped + "%",)), by=m.name)
    ids = list(order)
    rows = {r.member_id: r for r in m.select().where(m.member_id.in_(ids[:limit]))}
    members = [
        {"member_id": r.member_id, "phone": r.phone or "", "name": r.name or "",
         "home_store": r.home_store or "", "tier": r.tier,
         "cumulative_spend_fen": int(r.cumulative_spend_fen),
         "matched_card": text in (r.cards or [])}
        for r in (rows[i] for i in ids[:limit] if i in rows)
    ]  # fmt: skip
    more = len(ids) - len(members)
    return Found(members, more, more_capped=len(ids) >= COUNT_CAP)


def _events(
    cdb: CloudDB, member_id: str, stores: frozenset[str] | None
) -> tuple[list[Any], dict[str, int]]:
    """The member's newest sales, returns and complaints (at ``stores``, when given), and the
    totals over all of them."""
    e = cdb.models.Event
    where = (e.member_id == member_id) & e.type.in_(["sale", "return", "complaint"])
    if stores is not None:
        where &= e.store_id.in_(sorted(stores))
    windows = {  # over every event of the member (a window is taken before the limit)
        name: pw.fn.COALESCE(pw.fn.SUM(pw.Case(None, [(
            (e.type == kind) & (e.status == "ok"), value)], 0)).over(), 0).alias(name)
        for name, kind, value in (("sales", "sale", 1), ("sales_fen", "sale", e.amount_fen),
                                  ("returns", "return", 1),
                                  ("refund_fen", "return", e.amount_fen))
    }  # fmt: skip
    rows = list(
        e.select(e.terminal_id, e.seq, e.store_id, e.type, e.device_time, e.received_at,
                 e.business_day, e.amount_fen, e.receipt_no, e.status, e.body, *windows.values())
        .where(where)
        .order_by(e.received_at.desc(), e.terminal_id, e.seq.desc())
        .limit(HISTORY_LIMIT * 3)
    )  # fmt: skip
    totals = {name: int(getattr(rows[0], name) or 0) if rows else 0 for name in windows}
    return rows, totals


def _ratings(cdb: CloudDB, sales: list[Any]) -> dict[str, dict[str, Any]]:
    """Ratings of these sales: a till records one right after its sale, on the same till."""
    if not sales:
        return {}
    e = cdb.models.Event
    near: Any = None
    for s in sales:
        cond = (e.terminal_id == s.terminal_id) & e.seq.between(s.seq + 1, s.seq + FEEDBACK_WINDOW)
        near = cond if near is None else near | cond
    wanted = {s.body.get("sale_id") for s in sales}
    out = {}
    for row in e.select(e.body, e.device_time).where((e.type == "feedback") & near):
        body = row.body or {}
        if body.get("sale_id") in wanted:
            out[body["sale_id"]] = {
                "rating": int(body.get("rating") or 0),
                "comment": body.get("comment", ""),
                "at": row.device_time,
            }
    return out


def _head(ev: Any) -> dict[str, Any]:
    return {"terminal_id": ev.terminal_id, "seq": int(ev.seq), "store_id": ev.store_id,
            "receipt_no": ev.receipt_no, "device_time": ev.device_time,
            "received_at": _iso(ev.received_at), "business_day": _iso(ev.business_day),
            "status": ev.status}  # fmt: skip


def _complaints(
    cdb: CloudDB, ids: Sequence[str], events: list[Any], stores: frozenset[str] | None
) -> list[dict[str, Any]]:
    c = cdb.crm.Complaint
    rows = {r.complaint_id: r for r in c.select().where(c.member_id.in_(list(ids)))}
    out = [complaint_row(r) for r in rows.values() if stores is None or r.store_id in stores]
    for ev in events:  # a till's complaint HQ has not handled yet
        body = ev.body or {}
        if ev.type == "complaint" and body.get("complaint_id") not in rows:
            out.append({"complaint_id": body.get("complaint_id", ""),
                        "member_id": body.get("member_id"), "sale_id": body.get("sale_id") or "",
                        "store_id": ev.store_id, "origin": f"till:{ev.terminal_id}:{ev.seq}",
                        "text": body.get("text", ""), "status": body.get("status", "open"),
                        "opened_by": body.get("staff_id", ""), "opened_at": ev.device_time,
                        "handled_by": "", "resolved_at": None, "resolution": ""})  # fmt: skip
    return sorted(out, key=lambda r: str(r["opened_at"]), reverse=True)


def complaint_row(r: Any) -> dict[str, Any]:
    """A stored complaint as the API shows it."""
    return {"complaint_id": r.complaint_id, "member_id": r.member_id, "sale_id": r.sale_id,
            "store_id": r.store_id, "origin": r.origin, "text": r.text, "status": r.status,
            "opened_by": r.opened_by, "opened_at": _iso(r.opened_at),
            "handled_by": r.handled_by, "resolved_at": _iso(r.resolved_at),
            "resolution": r.resolution}  # fmt: skip


def _coupon_use(r: Any) -> dict[str, Any]:
    return {"code": r.code, "terminal_id": r.terminal_id, "seq": int(r.seq),
            "store_id": r.store_id, "receipt_no": r.receipt_no, "amount_fen": int(r.amount_fen),
            "business_day": _iso(r.business_day), "problem": r.problem}  # fmt: skip


def _ledger(
    cdb: CloudDB, member_id: str, stores: frozenset[str] | None
) -> tuple[int, int, list[dict[str, Any]]]:
    p = cdb.models.PointsLedger
    where = p.member_id == member_id
    if stores is not None:
        where &= p.origin_terminal.not_in(tills_elsewhere(cdb, stores))
    rows = list(
        p.select(p, pw.fn.SUM(p.delta).over().alias("total"),
                 pw.fn.COUNT(p.id).over().alias("n"))
        .where(where).order_by(p.id.desc()).limit(HISTORY_LIMIT)
    )  # fmt: skip
    hq = [int(r.origin_seq) for r in rows if r.origin_terminal.startswith("hq:")]
    why = {}
    if hq:
        a = cdb.jobs.PointsAdjustment
        why = {r.id: (r.reason, r.actor) for r in a.select().where(a.id.in_(hq))}
    ledger = []
    for r in rows:
        own = r.origin_terminal.startswith("hq:")
        note, actor = why.get(int(r.origin_seq), ("", "")) if own else ("", "")
        ledger.append({"delta": int(r.delta), "reason": r.reason, "note": note, "actor": actor,
                       "origin_terminal": r.origin_terminal, "origin_seq": int(r.origin_seq),
                       "origin_sale_id": r.origin_sale_id,
                       "created_at": _iso(r.created_at)})  # fmt: skip
    if stores is not None:  # the balance is the member's, chain-wide, as every till shows it
        total = p.select(pw.fn.COALESCE(pw.fn.SUM(p.delta), 0)).where(p.member_id == member_id)
        return int(total.scalar() or 0), int(rows[0].n or 0) if rows else 0, ledger
    if not rows:
        return 0, 0, []
    return int(rows[0].total or 0), int(rows[0].n or 0), ledger


#: One round trip for the member's small records (each row tagged with its kind).
_RECORDS: Final = """
SELECT 'tag', tag, added_by, '', added_at, 0, 0 FROM member_tags WHERE member_id = {p}
UNION ALL
SELECT 'pref', key, value, set_by, set_at, 0, 0 FROM member_preferences WHERE member_id = {p}
UNION ALL
SELECT * FROM (SELECT 'note', author, role, text, created_at, id, 0 FROM member_notes
               WHERE member_id = {p} ORDER BY id DESC LIMIT {limit}) AS notes
UNION ALL
SELECT 'tier', old_tier, new_tier, origin_terminal, changed_at, spend_fen, origin_seq
FROM tier_changes WHERE member_id = {p}
UNION ALL
SELECT 'alias', old_id, '', '', merged_at, 0, 0 FROM member_aliases WHERE new_id = {p}
UNION ALL
SELECT 'erased', erased_by, '', '', erased_at, 0, 0 FROM member_erasures WHERE member_id = {p}
"""


def _when(value: Any) -> str | None:
    """A time from a raw query as ISO text (SQLite hands back its stored text)."""
    if isinstance(value, str):
        return value.replace(" ", "T", 1)
    return _iso(value)


def _tier_history(
    cdb: CloudDB, rows: list[tuple[Any, ...]], stores: frozenset[str] | None
) -> list[dict[str, Any]]:
    """The member's tier changes, newest first. With ``stores``, a change another store's till
    made keeps its tiers, spend and time (the tier is the member's across the chain, and every
    till holds it) but not which till and sale made it: that sale is the other store's."""
    elsewhere: set[str] = set()
    if stores is not None and rows:
        t = cdb.models.Terminal
        origins = sorted({str(row[2]) for row in rows})
        query = tills_elsewhere(cdb, stores).where(t.terminal_id.in_(origins))
        elsewhere = {r.terminal_id for r in query}
    out = []
    for old, new, origin, at, spend, seq in rows:
        hidden = origin in elsewhere
        out.append({"old_tier": old, "new_tier": new, "spend_fen": int(spend),
                    "changed_at": _when(at), "origin_terminal": "" if hidden else origin,
                    "origin_seq": 0 if hidden else int(seq),
                    "origin_elsewhere": hidden})  # fmt: skip
    return sorted(out, key=lambda t: str(t["changed_at"]), reverse=True)


def _records(cdb: CloudDB, member_id: str) -> dict[str, list[tuple[Any, ...]]]:
    sql = _RECORDS.format(p=cdb.database.param, limit=HISTORY_LIMIT)
    out: dict[str, list[tuple[Any, ...]]] = {}
    for kind, *row in cdb.database.execute_sql(sql, (member_id,) * 6).fetchall():
        out.setdefault(kind, []).append(tuple(row))
    return out


def member_360(
    cdb: CloudDB, member_id: str, stores: frozenset[str] | None = None
) -> dict[str, Any] | None:
    """Everything HQ knows of one member, unmasked; None when there is no such member.

    Eight round trips at most (two more for a user kept to some stores), each on an index by
    member (a loaded database answers each in a millisecond or two: their number, not their
    work, sets the time). With ``stores`` (a
    store manager's or sales guide's), what was recorded at other stores' tills is left out:
    purchases and their ratings, returns, complaints, coupon uses, points-ledger rows, the
    totals over them, and which till made a tier change. The member's own facts (profile,
    tier and its history, points balance, spend, tags, preferences, notes) stay whole: every
    till of the chain holds them too.
    """
    m = cdb.models
    member = m.Member.get_or_none(m.Member.member_id == member_id)
    if member is None:
        return None
    rec = _records(cdb, member_id)
    events, totals = _events(cdb, member_id, stores)
    sales = [ev for ev in events if ev.type == "sale"][:HISTORY_LIMIT]
    ratings = _ratings(cdb, sales)
    points, ledger_rows, ledger = _ledger(cdb, member_id, stores)
    u = cdb.remote.CouponUse
    uses = u.member_id == member_id
    if stores is not None:
        uses &= u.store_id.in_(sorted(stores))
    erased = rec.get("erased")
    return {
        "profile": _profile(member),
        "stores_shown": None if stores is None else sorted(stores),
        "merged_ids": sorted(r[0] for r in rec.get("alias", [])),
        "erased": None if not erased else {"erased_at": _when(erased[0][3]),
                                           "erased_by": erased[0][0]},
        "tags": sorted(({"tag": t, "added_by": by, "added_at": _when(at)}
                        for t, by, _, at, *_ in rec.get("tag", [])), key=lambda t: t["tag"]),
        "preferences": {k: v for k, v, *_ in rec.get("pref", [])},
        "tier_history": _tier_history(cdb, rec.get("tier", []), stores),
        "points": {"balance": points, "rows": ledger_rows, "ledger": ledger},
        "totals": totals,
        "purchases": [{**_head(ev), **purchase(ev.body or {}),
                       "rating": ratings.get((ev.body or {}).get("sale_id", ""))}
                      for ev in sales],
        "returns": [{**_head(ev), **return_of(ev.body or {})}
                    for ev in events if ev.type == "return"][:HISTORY_LIMIT],
        "complaints": _complaints(cdb, [member_id], events, stores),
        "notes": sorted(({"id": int(n_id), "author": author, "role": role, "text": text,
                          "created_at": _when(at)}
                         for author, role, text, at, n_id, _ in rec.get("note", [])),
                        key=lambda n: -n["id"]),
        "coupons": {
            "held": coupons.listing(cdb, member_id=member_id, limit=HISTORY_LIMIT),
            "used": [_coupon_use(r) for r in u.select().where(uses)
                     .order_by(u.id.desc()).limit(HISTORY_LIMIT)],
        },
    }  # fmt: skip
