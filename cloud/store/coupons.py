"""Coupons in the cloud: issue, check and hold a use for a till, count uses from sales, report.

The cloud is the authority: a till asks before a coupon pays (``check``), which holds one use
for that till until its sale arrives (``record_uses``, inside the ingest transaction) or the
till gives it back (``release``) or the hold lapses. Every change of a coupon (issued, used,
revoked) is pushed on the ``coupons`` stream with the uses counted so far, so a till that
must decide offline knows as much as the cloud did. A use that should not have happened (a
double use taken offline, an expired coupon on a till with a wrong clock) is kept and
reported with its problem, never hidden.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from cloud.domain.coupons import CouponFacts, UseRequest, Verdict, check, use_problems
from cloud.store import aliases
from cloud.store.db import CloudDB
from cloud.store.effects import PendingDown, logged_change
from protocol.topics import ALL_STORES

#: How long a use confirmed to a till is held for it (its sale normally arrives in seconds).
HOLD_S: Final = 15 * 60
#: Coupons per pushed change (one message stays well inside the downstream size limit).
ITEMS_PER_CHANGE: Final = 500


class CouponError(Exception):
    """An issue HQ cannot make (a code taken, a bad value); the message says why."""


def _date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def facts(row: Any) -> CouponFacts:
    """The domain's view of a stored coupon."""
    return CouponFacts(
        code=row.code, kind=row.kind, value=int(row.value), min_spend_fen=int(row.min_spend_fen),
        member_id=row.member_id or None, valid_from=_date(row.valid_from),
        valid_until=_date(row.valid_until), stores=tuple(row.stores or ()),
        max_uses=int(row.max_uses), revoked=bool(row.revoked),
    )  # fmt: skip


def item(row: Any) -> dict[str, Any]:
    """A coupon as the ``coupons`` stream carries it (protocol.items.CouponItem)."""
    out: dict[str, Any] = {
        "code": row.code, "kind": row.kind, "value": int(row.value),
        "min_spend_fen": int(row.min_spend_fen), "max_uses": int(row.max_uses),
        "uses": int(row.uses), "revoked": bool(row.revoked), "stores": list(row.stores or []),
    }  # fmt: skip
    if row.member_id:
        out["member_id"] = row.member_id
    for name in ("valid_from", "valid_until"):
        day = _date(getattr(row, name))
        if day is not None:
            out[name] = day.isoformat()
    return out


def push(cdb: CloudDB, codes: Iterable[str], now: dt.datetime) -> list[PendingDown]:
    """Log the coupons' current facts as coupons changes (to publish once committed)."""
    c = cdb.remote.Coupon
    rows = [item(row) for row in c.select().where(c.code.in_(sorted(set(codes)))).order_by(c.code)]
    down = []
    for start in range(0, len(rows), ITEMS_PER_CHANGE):
        chunk = rows[start : start + ITEMS_PER_CHANGE]
        down.append(logged_change(cdb, "coupons", ALL_STORES, "upsert", chunk, now))
    return down


def issue(
    cdb: CloudDB, coupons: Sequence[Mapping[str, Any]], source: str, now: dt.datetime,
    *, replace: bool = False, announce: bool = True,
) -> list[PendingDown]:  # fmt: skip
    """Store new coupons (each a protocol CouponItem as a dict) and log their push.

    Run inside a write transaction. A code already issued is refused unless ``replace``
    (HQ's generic coupons push changes a coupon it pushed before); a replacement never
    resets the uses counted so far. ``announce=False``: the caller pushes them itself.
    """
    c = cdb.remote.Coupon
    codes = [str(x["code"]) for x in coupons]
    taken = {r.code for r in c.select(c.code).where(c.code.in_(codes))}
    if taken and not replace:
        raise CouponError(f"coupon code(s) already issued: {', '.join(sorted(taken)[:10])}")
    for x in coupons:
        fields_ = {
            "kind": x["kind"], "value": int(x["value"]),
            "min_spend_fen": int(x.get("min_spend_fen") or 0),
            "member_id": x.get("member_id") or None,
            "valid_from": _date(x.get("valid_from")), "valid_until": _date(x.get("valid_until")),
            "stores": sorted(set(x.get("stores") or [])), "max_uses": int(x.get("max_uses") or 1),
            "revoked": bool(x.get("revoked", False)), "updated_at": now,
        }  # fmt: skip
        c.insert(code=x["code"], source=source[:64], note=str(x.get("note") or ""),
                 issued_at=now, **fields_).on_conflict(
            conflict_target=[c.code], update={getattr(c, k): v for k, v in fields_.items()},
        ).execute()  # fmt: skip
    return push(cdb, codes, now) if announce else []


def absorb_push(
    cdb: CloudDB, items: Sequence[Mapping[str, Any]], scope: str, username: str, now: dt.datetime
) -> None:
    """Take coupons HQ pushed on the raw coupons stream into the cloud's records.

    Pushed to one store, a coupon without ``stores`` is valid in that store only, which is
    where its tills will have it. Uses counted so far are kept.
    """
    taken = [{**x, "stores": x.get("stores") or ([] if scope == ALL_STORES else [scope])}
             for x in items]  # fmt: skip
    issue(cdb, taken, f"push:{username}", now, replace=True, announce=False)


def revoke(cdb: CloudDB, code: str, now: dt.datetime) -> list[PendingDown]:
    """Withdraw a coupon: tills refuse it from their next update on. Raises CouponError."""
    c = cdb.remote.Coupon
    if c.update(revoked=True, updated_at=now).where(c.code == code).execute() == 0:
        raise CouponError(f"no coupon {code!r}")
    c_hold = cdb.remote.CouponHold
    c_hold.delete().where(c_hold.code == code).execute()
    return push(cdb, [code], now)


def _locked(cdb: CloudDB, code: str) -> Any:
    c = cdb.remote.Coupon
    return cdb.locking(c.select().where(c.code == code)).first()


def _taken(cdb: CloudDB, row: Any, terminal_id: str, now: dt.datetime) -> int:
    """Uses gone: recorded from sales, plus live holds of other tills (its own is replaced)."""
    h = cdb.remote.CouponHold
    held = (
        h.select()
        .where((h.code == row.code) & (h.terminal_id != terminal_id) & (h.expires_at > now))
        .count()
    )
    return int(row.uses) + int(held)


def check_and_hold(
    cdb: CloudDB, *, code: str, terminal_id: str, store_id: str, request_id: str,
    use: UseRequest, now: dt.datetime, hold_s: int = HOLD_S,
) -> tuple[Verdict, int]:  # fmt: skip
    """May this till's sale use the coupon? If so, hold one use for it. (verdict, uses left)

    Runs in a write transaction with the coupon's row locked, so two tills asking for the
    last use at once get one yes and one no.
    """
    row = _locked(cdb, code)
    if row is None:
        return check(None, code, 0, use), 0
    if use.member_id:  # a till that has not heard of a merge still names the old id
        use = replace(use, member_id=aliases.resolve(cdb, use.member_id))
    taken = _taken(cdb, row, terminal_id, now)
    verdict = check(facts(row), code, taken, use)
    if not verdict.granted:
        return verdict, max(0, int(row.max_uses) - taken)
    h = cdb.remote.CouponHold
    fields_ = {"store_id": store_id, "amount_fen": verdict.amount_fen, "request_id": request_id,
               "expires_at": now + dt.timedelta(seconds=hold_s), "created_at": now}  # fmt: skip
    h.insert(code=code, terminal_id=terminal_id, **fields_).on_conflict(
        conflict_target=[h.code, h.terminal_id],
        update={getattr(h, k): v for k, v in fields_.items()},
    ).execute()
    return verdict, max(0, int(row.max_uses) - taken - 1)


def release(cdb: CloudDB, code: str, terminal_id: str) -> int:
    """Give back this till's hold on a coupon (0 when there was none)."""
    h = cdb.remote.CouponHold
    return int(h.delete().where((h.code == code) & (h.terminal_id == terminal_id)).execute())


def _hold_of(cdb: CloudDB, code: str, terminal_id: str) -> Any:
    h = cdb.remote.CouponHold
    return h.get_or_none((h.code == code) & (h.terminal_id == terminal_id))


def _before(cdb: CloudDB, row: Any, terminal_id: str, hold: Any, now: dt.datetime) -> int:
    """The uses a sale's use comes after, for its limit: the uses HQ confirmed before it when
    it was confirmed and its hold still stood (every use since was counted after it, see
    check_and_hold), otherwise every use recorded and every live hold of another till."""
    if hold is not None and hold.expires_at > now:
        u = cdb.remote.CouponUse
        over = u.problem.contains("over_limit")  # a confirmed use whose hold had lapsed
        return int(u.select().where((u.code == row.code) & u.confirmed & ~over).count())
    return _taken(cdb, row, terminal_id, now)


def record_uses(cdb: CloudDB, sales: Sequence[Any], now: dt.datetime) -> list[str]:
    """Count the coupon tenders of newly stored sales (ingest); return the codes changed.

    ``sales`` are stored sale events (cloud.store.remote_effects.Stored).
    Each use takes the till's hold if it had one (confirmed online), and is checked again:
    a use beyond the coupon's limit, or one it was not valid for, is kept with its problem.
    Of a double use, the one beyond the limit is the use HQ did not confirm (taken offline
    while another till held the coupon), whichever sale reaches the cloud first.
    """
    m = cdb.remote
    changed: list[str] = []
    # One use per coupon tender; a code tendered twice on one sale (which a till refuses) is
    # one row carrying both uses, its amounts summed (a row is keyed by sale and code).
    on_sale: dict[tuple[str, str, int], list[Any]] = {}
    for e in sales:
        for t in e.body.get("tenders") or ():
            if t.get("kind") == "coupon":
                key = (str(t.get("reference") or ""), e.terminal_id, e.seq)
                acc = on_sale.setdefault(key, [0, 0, e])
                acc[0] += int(t.get("amount_fen") or 0)
                acc[1] += 1
    uses = [
        (key[0], amount, times, e)
        for key, (amount, times, e) in sorted(on_sale.items(), key=lambda kv: kv[0])
    ]
    # A till that has not heard of a merge still names the merged-away id: it is the survivor.
    survivor = aliases.survivors(cdb, {str(e.body.get("member_id")) for _, _, _, e in uses})
    for code, amount, times, event in uses:
        row = _locked(cdb, code) if code else None
        body = event.body
        day = event.business_day
        member_id = body.get("member_id") if isinstance(body.get("member_id"), str) else None
        member_id = survivor.get(member_id, member_id) if member_id else None
        hold = _hold_of(cdb, code, event.terminal_id) if row is not None else None
        held = release(cdb, code, event.terminal_id) if code else 0
        before = _before(cdb, row, event.terminal_id, hold, now) if row is not None else 0
        total = body.get("total_fen")
        problems = use_problems(facts(row) if row is not None else None, before,
                                event.store_id, member_id, day, paid_fen=amount, times=times,
                                total_fen=total if isinstance(total, int) else None)  # fmt: skip
        inserted = (
            m.CouponUse.insert(
                code=code[:64], terminal_id=event.terminal_id, seq=event.seq,
                store_id=event.store_id, sale_id=str(body.get("sale_id") or "")[:36],
                receipt_no=str(body.get("receipt_no") or "")[:64], member_id=member_id,
                amount_fen=amount, business_day=day, confirmed=held > 0,
                problem=",".join(problems)[:128], recorded_at=now,
            )
            .on_conflict_ignore()
            .execute()
        )  # fmt: skip
        if row is not None and inserted:
            m.Coupon.update(uses=m.Coupon.uses + times, updated_at=now).where(
                m.Coupon.code == code
            ).execute()
            changed.append(code)
    return changed


def listing(
    cdb: CloudDB, *, member_id: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Coupons, newest first, with their uses so far."""
    c = cdb.remote.Coupon
    query = c.select().order_by(c.issued_at.desc(), c.code).limit(limit)
    if member_id:
        query = query.where(c.member_id == member_id)
    return [{**item(row), "source": row.source, "note": row.note,
             "issued_at": row.issued_at.isoformat()} for row in query]  # fmt: skip


def uses_of(cdb: CloudDB, code: str) -> list[dict[str, Any]]:
    """Every recorded use of a coupon, oldest first."""
    u = cdb.remote.CouponUse
    return [_use(r) for r in u.select().where(u.code == code).order_by(u.id)]


def problems(cdb: CloudDB, stores: frozenset[str] | None, limit: int = 500) -> list[dict[str, Any]]:
    """Uses that should not have happened (double uses above all), newest first."""
    u = cdb.remote.CouponUse
    query = u.select().where(u.problem != "").order_by(u.id.desc()).limit(limit)
    if stores is not None:
        query = query.where(u.store_id.in_(sorted(stores)))
    return [_use(r) for r in query]


def _use(r: Any) -> dict[str, Any]:
    return {"code": r.code, "terminal_id": r.terminal_id, "seq": int(r.seq),
            "store_id": r.store_id, "sale_id": r.sale_id, "receipt_no": r.receipt_no,
            "member_id": r.member_id, "amount_fen": int(r.amount_fen),
            "business_day": str(r.business_day), "confirmed": bool(r.confirmed),
            "problems": [p for p in r.problem.split(",") if p],
            "recorded_at": r.recorded_at.isoformat()}  # fmt: skip


def get(cdb: CloudDB, code: str) -> dict[str, Any] | None:
    """One coupon with its uses, or None."""
    c = cdb.remote.Coupon
    row = c.get_or_none(c.code == code)
    if row is None:
        return None
    return {**item(row), "source": row.source, "note": row.note,
            "issued_at": row.issued_at.isoformat(), "use_list": uses_of(cdb, code)}  # fmt: skip
