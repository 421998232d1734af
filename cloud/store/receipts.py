"""Receipts across the chain: any till's sale by receipt number, returned units, claims, reports.

Every return against a receipt takes units of the sale's lines (pieces, or grams of a weighed
line). The ledger holds them per return and line: *claimed* while a till is about to record
the return (so two tills returning the same line at once cannot both have it; a claim lapses
unless its return arrives), *recorded* once the return event is stored. What is left of a
line is what it sold less every recorded and live claimed unit, at any till. A return taken
offline that goes beyond that is stored like any other and reported as an over-return.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import peewee as pw

from cloud.domain import receipt_numbers
from cloud.store import return_ids
from cloud.store.db import CloudDB
from cloud.store.remote_models import LOCK_CLASS, return_units

#: How long units claimed for a till's return stay reserved unless the return arrives.
CLAIM_S: Final = 15 * 60
#: The abuse limit's window (MISSION: returns per member per 30 days).
WINDOW_DAYS: Final = 30
#: The statuses of a sale that holds its receipt number (dead and duplicate rows do not).
_COUNTED: Final = ("ok", "held")


@dataclass(frozen=True, slots=True)
class StoredSale:
    """A sale event as the cloud holds it."""

    terminal_id: str
    seq: int
    store_id: str
    receipt_no: str
    status: str
    body: Mapping[str, Any]

    @property
    def sale_id(self) -> str:
        """The sale's id (a UUID)."""
        return str(self.body.get("sale_id") or "")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A protocol.remote refusal reason with its message parameters."""

    reason: str
    params: Mapping[str, str]
    detail: str = ""


def lock_sale(cdb: CloudDB, sale_id: str) -> None:
    """Serialise everything that counts one sale's returned units (a SQLite write already is)."""
    if cdb.is_postgres:
        cdb.database.execute_sql(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, sale_id)
        )


def sales_on(cdb: CloudDB, receipt_no: str) -> list[StoredSale]:
    """Every sale printed with this receipt number, at any till, in (terminal, seq) order.

    Normally one; a till restored from an older copy of its store file counts the day's
    receipts again, so its new sales can repeat numbers the cloud already holds.
    """
    e = cdb.models.Event
    rows = (
        e.select(e.terminal_id, e.seq, e.store_id, e.receipt_no, e.status, e.body)
        .where((e.receipt_no == receipt_no) & (e.type == "sale") & e.status.in_(("ok", "held")))
        .order_by(e.terminal_id, e.seq)
    )
    return [StoredSale(row.terminal_id, int(row.seq), row.store_id, row.receipt_no, row.status,
                       row.body or {}) for row in rows]  # fmt: skip


def find_sale(cdb: CloudDB, receipt_no: str, sale_id: str | None = None) -> StoredSale | None:
    """The sale printed with this receipt number (the one with ``sale_id`` when given), at
    any till; None if the cloud has none."""
    for sale in sales_on(cdb, receipt_no):
        if sale_id is None or sale.sale_id == sale_id:
            return sale
    return None


def ambiguous(sales: Sequence[StoredSale]) -> bool:
    """True when the sales on one receipt number are more than one sale (not one sale resent)."""
    return len({s.sale_id for s in sales}) > 1


def holder(sale: StoredSale) -> dict[str, Any]:
    """What tells one sale on a shared receipt number from the others, to open it by its id."""
    body = sale.body
    return {"sale_id": sale.sale_id, "store_id": sale.store_id, "terminal_id": sale.terminal_id,
            "seq": sale.seq, "status": sale.status, "device_time": body.get("device_time"),
            "total_fen": body.get("total_fen")}  # fmt: skip


def record_reused(
    cdb: CloudDB, sales: Sequence[Any], now: dt.datetime, mark: int | None
) -> int | None:
    """Report newly stored sales whose receipt number another sale of the same terminal holds
    (a restored store file counting the day's receipts again), for HQ to follow up; return
    the terminal's receipt mark after them.

    ``sales`` are one terminal's stored sale events (cloud.store.remote_effects.Stored), held
    ones too; ``mark`` is the highest receipt_numbers.order_key of its sales stored before
    (None: not known yet, so it is worked out from every stored sale, these included). Only
    the numbers that could repeat one (receipt_numbers.screen) are looked up: a till that
    keeps counting up needs no query at all.
    """
    if not sales:
        return mark
    ordered = sorted(sales, key=lambda s: s.seq)
    if mark is None:
        mark = _stored_mark(cdb, ordered[0].terminal_id)
    screened = receipt_numbers.screen(mark, [str(s.body.get("receipt_no") or "") for s in ordered])
    numbers = screened.suspects - {""}
    if not numbers:
        return screened.mark
    e = cdb.models.Event
    twice = set(
        e.select(e.terminal_id, e.receipt_no)
        .where(e.receipt_no.in_(sorted(numbers)) & (e.type == "sale")
               & e.status.in_(_COUNTED))
        .group_by(e.terminal_id, e.receipt_no)
        .having(pw.fn.COUNT(e.seq) > 1)
        .tuples()
    )  # fmt: skip
    for stored in sales:  # a number held twice: every new sale printed with it is reported
        receipt = str(stored.body.get("receipt_no") or "")
        if (stored.terminal_id, receipt) in twice:
            _problem(cdb, stored, "receipt_reused", receipt_no=receipt[:64],
                     sale_id=str(stored.body.get("sale_id") or "")[:36], now=now)  # fmt: skip
    return screened.mark


def _stored_mark(cdb: CloudDB, terminal_id: str) -> int:
    """The highest receipt key of the terminal's stored sales: read once per terminal (one
    new to the cloud, or stored before the mark was kept)."""
    e = cdb.models.Event
    rows = e.select(e.receipt_no).where(
        (e.terminal_id == terminal_id) & (e.type == "sale") & e.status.in_(_COUNTED)
    )
    return receipt_numbers.highest(str(r or "") for (r,) in rows.tuples())


def sold_units(body: Mapping[str, Any]) -> dict[int, int]:
    """Units each line of a sale sold (pieces, or grams of a weighed line)."""
    out: dict[int, int] = {}
    for line in body.get("lines") or ():
        weight = line.get("weight_g")
        out[int(line["line_no"])] = int(weight) if weight is not None else int(line["quantity"])
    return out


def _weighed(body: Mapping[str, Any]) -> set[int]:
    return {int(ln["line_no"]) for ln in body.get("lines") or () if ln.get("weight_g") is not None}


def returned(
    cdb: CloudDB, sale_id: str, now: dt.datetime, *, except_return: str | None = None
) -> dict[int, int]:
    """Units per line taken back by recorded returns and live claims, at any till."""
    r = cdb.remote.ReturnedUnits
    live = (r.state == "recorded") | (r.expires_at > now)
    where = (r.sale_id == sale_id) & live
    if except_return is not None:
        where &= r.return_id != except_return
    rows = r.select(r.line_no, pw.fn.SUM(r.units)).where(where).group_by(r.line_no).tuples()
    return {int(line_no): int(units or 0) for line_no, units in rows}


def member_returns(cdb: CloudDB, member_id: str | None, today: dt.date) -> int:
    """The member's returns stored in the last 30 days, at every till of the chain."""
    if not member_id:
        return 0
    e = cdb.models.Event
    since = today - dt.timedelta(days=WINDOW_DAYS)
    query = e.select().where(
        (e.member_id == member_id) & (e.type == "return") & (e.status == "ok")
        & (e.business_day >= since)
    )  # fmt: skip
    return int(query.count())


def lookup(
    cdb: CloudDB, receipt_no: str, now: dt.datetime, today: dt.date
) -> tuple[StoredSale, dict[int, int], int] | Refusal:
    """(the sale, units returned per line, the member's returns) for a receipt, or why not."""
    sales = sales_on(cdb, receipt_no)
    if not sales:
        return Refusal("receipt_unknown", {"receipt": receipt_no})
    if ambiguous(sales):
        return Refusal("receipt_ambiguous", {"receipt": receipt_no},
                       f"{len(sales)} sales hold receipt number {receipt_no}")  # fmt: skip
    found = sales[0]
    if found.status != "ok":
        return Refusal("receipt_held", {"receipt": receipt_no}, f"sale is {found.status}")
    member = found.body.get("member_id")
    count = member_returns(cdb, member if isinstance(member, str) else None, today)
    return found, returned(cdb, found.sale_id, now), count


def _left_text(units: int, weighed: bool) -> str:
    return f"{units} g" if weighed else str(units)


def claim(
    cdb: CloudDB, *, terminal_id: str, return_id: str, sale_id: str, receipt_no: str,
    lines: Sequence[tuple[int, int]], now: dt.datetime, claim_s: int = CLAIM_S,
) -> Refusal | None:  # fmt: skip
    """Reserve units of a sale for one return (None: granted). Runs in a write transaction.

    A sale the cloud has not received yet (its till is still sending it) can only be known to
    that till, so its claim is granted and reserved all the same.
    """
    lock_sale(cdb, sale_id)
    sales = sales_on(cdb, receipt_no)
    found = next((s for s in sales if s.sale_id == sale_id), None)
    if sales and found is None:
        return Refusal("bad_request", {}, f"receipt {receipt_no} is another sale")
    if found is not None:
        sold, weighed = sold_units(found.body), _weighed(found.body)
        already = returned(cdb, sale_id, now, except_return=return_id)
        for line_no, units in lines:
            if line_no not in sold:
                return Refusal("return_unknown_line", {"line": str(line_no), "receipt": receipt_no})
            left = max(0, sold[line_no] - already.get(line_no, 0))
            if units > left:
                return Refusal(
                    "return_over",
                    {"line": str(line_no), "left": _left_text(left, line_no in weighed)},
                )
    r = cdb.remote.ReturnedUnits
    if r.select().where((r.return_id == return_id) & (r.state == "recorded")).exists():
        return None  # the return itself is already stored: nothing left to reserve
    r.delete().where(r.return_id == return_id).execute()
    expires = now + dt.timedelta(seconds=claim_s)
    r.insert_many(
        [{"return_id": return_id, "line_no": line_no, "sale_id": sale_id,
          "receipt_no": receipt_no, "units": units, "terminal_id": terminal_id, "seq": 0,
          "state": "claimed", "expires_at": expires, "created_at": now}
         for line_no, units in lines]
    ).execute()  # fmt: skip
    return None


def release_claim(cdb: CloudDB, return_id: str, terminal_id: str) -> int:
    """Free a claim this till made for a return it did not record."""
    r = cdb.remote.ReturnedUnits
    return int(
        r.delete()
        .where((r.return_id == return_id) & (r.terminal_id == terminal_id)
               & (r.state == "claimed"))
        .execute()
    )  # fmt: skip


def _by_sku(sale: Mapping[str, Any], ret: Mapping[str, Any]) -> tuple[dict[int, int], list[str]]:
    """A return made by item against a receipt (HQ unreachable): its units on the sale's lines.

    Each SKU fills the receipt's lines of that SKU in order; what no line holds goes on the
    last of them (and shows as an over-return). SKUs not on the receipt are named.
    """
    lines = [(int(ln["line_no"]), str(ln["sku"])) for ln in sale.get("lines") or ()]
    sold = sold_units(sale)
    units: dict[int, int] = {}
    missing: list[str] = []
    for line in ret.get("lines") or ():
        sku, qty = str(line.get("sku") or ""), int(line.get("quantity") or 0)
        candidates = [no for no, s in lines if s == sku]
        if not candidates:
            missing.append(sku)
            continue
        for no in candidates:
            take = min(qty, max(0, sold[no] - units.get(no, 0)))
            if no == candidates[-1]:
                take = qty
            units[no] = units.get(no, 0) + take
            qty -= take
            if qty <= 0:
                break
    return units, missing


def _problem(cdb: CloudDB, stored: Any, reason: str, **fields: Any) -> None:
    cdb.remote.ReturnProblem.insert(
        terminal_id=stored.terminal_id, seq=stored.seq, store_id=stored.store_id,
        return_id=str(stored.body.get("return_id") or "")[:36], reason=reason,
        detected_at=fields.pop("now"), **fields,
    ).on_conflict_ignore().execute()  # fmt: skip


def record_returns(cdb: CloudDB, returns: Sequence[Any], now: dt.datetime) -> None:
    """Put newly stored returns in the ledger (ingest) and report any over-return.

    ``returns`` are stored return events (cloud.store.remote_effects.Stored). A return's
    claim, if it had one, becomes its recorded units: nothing is counted twice. A return id
    another event recorded first stays that event's: this one's units go under a key of
    their own (cloud.store.return_ids), and both count.
    """
    r = cdb.remote.ReturnedUnits
    holding = return_ids.holders(cdb, [return_ids.return_id(s.body) for s in returns])
    for stored in sorted(returns, key=lambda s: (s.terminal_id, s.seq)):
        body = stored.body
        sale_id = str(body.get("original_sale_id") or "")
        receipt = str(body.get("original_receipt_no") or "")
        units = return_units(body)
        sales = sales_on(cdb, receipt) if receipt else []
        found = next((s for s in sales if not sale_id or s.sale_id == sale_id), None)
        if not sale_id:
            if not receipt:
                continue  # a return without any receipt: nothing to count it against
            if found is None or ambiguous(sales):
                why = "unknown_receipt" if found is None else "ambiguous_receipt"
                _problem(cdb, stored, why, receipt_no=receipt[:64], now=now)
                continue
            sale_id = found.sale_id
            units, missing = _by_sku(found.body, body)
            for _sku in missing:
                _problem(cdb, stored, "not_on_receipt", receipt_no=receipt[:64], now=now)
        lock_sale(cdb, sale_id)
        return_id = return_ids.return_id(body)
        holder = holding.setdefault(return_id, (stored.terminal_id, stored.seq))
        return_id = return_ids.ledger_key(return_id, stored.terminal_id, stored.seq, holder)
        for line_no, taken in units.items():
            fields_ = {"sale_id": sale_id[:36], "receipt_no": receipt[:64], "units": taken,
                       "terminal_id": stored.terminal_id, "seq": stored.seq,
                       "state": "recorded", "expires_at": None, "created_at": now}  # fmt: skip
            r.insert(return_id=return_id, line_no=line_no, **fields_).on_conflict(
                conflict_target=[r.return_id, r.line_no],
                update={getattr(r, k): v for k, v in fields_.items() if k != "created_at"},
            ).execute()
        if found is None or found.sale_id != sale_id:
            continue
        sold, total = sold_units(found.body), returned(cdb, sale_id, now)
        for line_no in units:
            if total.get(line_no, 0) > sold.get(line_no, 0):
                _problem(cdb, stored, "over_return", sale_id=sale_id, receipt_no=receipt[:64],
                         line_no=line_no, sold_units=sold.get(line_no, 0),
                         returned_units=total.get(line_no, 0), now=now)  # fmt: skip


def watchlist(
    cdb: CloudDB, threshold: int, today: dt.date, stores: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """Members at or over the chain-wide return limit in the last 30 days, most returns first.

    A store manager (``stores``) sees the members of their stores and those who returned
    goods in them. ``returns_30d`` stays the member's chain-wide count (every till holds it,
    for the limit); the refunds, the last return's day and the stores named are those of
    ``stores`` only, as in the member 360: another store's returns are that store's business.
    """
    e = cdb.models.Event
    since = today - dt.timedelta(days=WINDOW_DAYS)
    returned = (e.type == "return") & (e.status == "ok") & (e.business_day >= since)
    rows = (
        e.select(e.member_id, pw.fn.COUNT(e.seq))
        .where(returned & e.member_id.is_null(False))
        .group_by(e.member_id)
        .having(pw.fn.COUNT(e.seq) >= threshold)
        .tuples()
    )  # fmt: skip
    found = {str(m): int(n) for m, n in rows}
    if not found:
        return []
    at: dict[str, dict[str, tuple[int, str]]] = {}  # member -> store -> (refund, last day)
    for member_id, store_id, refund, last in (
        e.select(e.member_id, e.store_id, pw.fn.SUM(e.amount_fen), pw.fn.MAX(e.business_day))
        .where(returned & e.member_id.in_(sorted(found)))
        .group_by(e.member_id, e.store_id)
        .tuples()
    ):  # fmt: skip
        at.setdefault(member_id, {})[store_id] = (int(refund or 0), str(last))
    mem = cdb.models.Member
    profiles = {p.member_id: p for p in mem.select().where(mem.member_id.in_(sorted(found)))}
    out = []
    for member_id, count in found.items():
        profile = profiles.get(member_id)
        home = profile.home_store if profile is not None else ""
        shown = at.get(member_id, {})
        if stores is not None:
            if not (home in stores or shown.keys() & stores):
                continue
            shown = {store: v for store, v in shown.items() if store in stores}
        out.append({
            "member_id": member_id, "returns_30d": count,
            "refund_fen_30d": sum(refund for refund, _ in shown.values()),
            "last_return_day": max((last for _, last in shown.values()), default=None),
            "stores": sorted(shown), "home_store": home,
            "tier": profile.tier if profile is not None else "",
            "phone": profile.phone if profile is not None else "",
            "name": profile.name if profile is not None else "",
        })  # fmt: skip
    return sorted(out, key=lambda x: (-x["returns_30d"], x["member_id"]))


def over_returns(
    cdb: CloudDB, stores: frozenset[str] | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Returns reconciled as taking back more than their sale left, newest first."""
    p = cdb.remote.ReturnProblem
    query = p.select().order_by(p.id.desc()).limit(limit)
    if stores is not None:
        query = query.where(p.store_id.in_(sorted(stores)))
    return [{"terminal_id": x.terminal_id, "seq": int(x.seq), "store_id": x.store_id,
             "return_id": x.return_id, "sale_id": x.sale_id, "receipt_no": x.receipt_no,
             "line_no": int(x.line_no), "sold_units": int(x.sold_units),
             "returned_units": int(x.returned_units), "reason": x.reason,
             "detected_at": x.detected_at.isoformat()} for x in query]  # fmt: skip
