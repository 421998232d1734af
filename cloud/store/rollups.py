"""Report rollups written by ingest in the batch's transaction, from events stored the first time.

``commit_batch`` calls ``apply_rollups`` with exactly the events its INSERT ... ON CONFLICT DO
NOTHING stored (never a duplicate or a replay), after dropping dead ones, so every counter
moves once per event and the rollups stay exact however often a batch arrives. Days and hours
are the store's business day (its time zone and day-start hour, from the stores registry).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import add
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from cloud.domain.projections import business_time
from cloud.store import stores
from cloud.store.bulk import add_rows
from cloud.store.db import CloudDB
from cloud.store.rollup_models import (
    CATEGORY_COUNTERS,
    DISCOUNT_COUNTERS,
    PRODUCT_COUNTERS,
    SALES_COUNTERS,
    TENDER_COUNTERS,
)
from protocol.bodies import SaleBody

Counts = list[int]


@dataclass
class Sums:
    """Per-key counter sums for one batch (a key's counters in the table's counter order)."""

    sales: dict[tuple[Any, ...], Counts] = field(default_factory=dict)
    products: dict[tuple[Any, ...], Counts] = field(default_factory=dict)
    chain: dict[tuple[Any, ...], Counts] = field(default_factory=dict)
    names: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    categories: dict[tuple[Any, ...], Counts] = field(default_factory=dict)
    tenders: dict[tuple[Any, ...], Counts] = field(default_factory=dict)
    discounts: dict[tuple[Any, ...], Counts] = field(default_factory=dict)
    audits: list[dict[str, Any]] = field(default_factory=list)
    shifts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    returned_skus: set[str] = field(default_factory=set)


def _bump(
    table: dict[tuple[Any, ...], Counts], key: tuple[Any, ...], values: Sequence[int]
) -> None:
    acc = table.get(key)
    if acc is None:
        table[key] = list(values)
    else:
        acc[:] = map(add, acc, values)


class At(NamedTuple):
    """Where and when an event counts: store, terminal, business day, hour, local time.

    A named tuple, not a frozen dataclass: one is made per event, and a tuple is made in a
    third of the time.
    """

    store_id: str
    terminal_id: str
    seq: int
    day: dt.date
    hour: int
    local: dt.datetime


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _sale(s: Sums, at: At, body: Mapping[str, Any]) -> None:
    lines = body.get("lines") or []
    cashier = str(body.get("cashier_id") or "")[:64]
    items = sum(_int(line.get("quantity")) for line in lines)
    overrides = sum(1 for line in lines if line.get("price_overridden"))
    _bump(
        s.sales,
        (at.store_id, at.day, at.hour, at.terminal_id, cashier),
        [
            1,
            0,
            1 if body.get("member_id") else 0,
            items,
            len(lines),
            overrides,
            _int(body.get("gross_fen")),
            _int(body.get("discount_fen")),
            _int(body.get("total_fen")),
            0,
            0,
        ],
    )
    for line in lines:
        sku = str(line.get("sku") or "")[:64]
        figures = [
            1,
            _int(line.get("quantity")),
            _int(line.get("weight_g")),
            _int(line.get("net_fen")),
            0,
            0,
        ]
        _bump(s.products, (at.store_id, at.day, sku), figures)
        _bump(s.chain, (at.day, sku), figures)
        category = str(line.get("category") or "")[:64]
        s.names[sku] = (
            str(line.get("name_zh") or "")[:200],
            str(line.get("name_en") or "")[:200],
            category,
        )
        _bump(
            s.categories,
            (at.store_id, at.day, category),
            [1, _int(line.get("quantity")), _int(line.get("net_fen")), 0, 0],
        )
        for d in line.get("discounts") or []:
            _bump(
                s.discounts,
                (
                    at.store_id,
                    at.day,
                    str(d.get("kind") or "")[:32],
                    str(d.get("label") or "")[:100],
                ),
                [1, _int(d.get("amount_fen"))],
            )
    for t in body.get("tenders") or []:
        _bump(
            s.tenders,
            (at.store_id, at.day, at.terminal_id, str(t.get("kind") or "")[:16]),
            [1, _int(t.get("amount_fen")), 0, 0],
        )


#: (store, day, sku, category) -> [lines, quantity, weight_g, net_fen] of typed sales' lines.
Sold = dict[tuple[str, dt.date, str, str], list[int]]


def _typed_sale(
    s: Sums, sold: Sold, store: str, terminal: str, day: dt.date, hour: int, body: SaleBody
) -> None:
    """_sale for a body the codec already validated: its fields are known to be there.

    Its lines are summed in ``sold`` (one key for the three tables _sale adds them to); they
    reach ``s`` through _add_sold.
    """
    lines = body.lines
    # Each key's counters are added in place: a batch has hundreds of sales and few keys, and a
    # call and a new list per addition were most of this function's time.
    key: tuple[Any, ...] = (store, day, hour, terminal, body.cashier_id[:64])
    items = overrides = 0
    for line in lines:
        items += line.quantity
        overrides += line.price_overridden
    member = 1 if body.member_id else 0
    acc = s.sales.get(key)
    if acc is None:
        s.sales[key] = [1, 0, member, items, len(lines), overrides,
                        body.gross_fen, body.discount_fen, body.total_fen, 0, 0]  # fmt: skip
    else:
        acc[0] += 1
        acc[2] += member
        acc[3] += items
        acc[4] += len(lines)
        acc[5] += overrides
        acc[6] += body.gross_fen
        acc[7] += body.discount_fen
        acc[8] += body.total_fen
    names = s.names
    for line in lines:
        sku, qty, net = line.sku[:64], line.quantity, line.net_fen
        category = line.category[:64]
        key = (store, day, sku, category)
        acc = sold.get(key)
        if acc is None:
            sold[key] = [1, qty, line.weight_g or 0, net]
        else:
            acc[0] += 1
            acc[1] += qty
            acc[2] += line.weight_g or 0
            acc[3] += net
        names[sku] = (line.name_zh[:200], line.name_en[:200], category)
        for d in line.discounts:
            key = (store, day, d.kind[:32], d.label[:100])
            acc = s.discounts.get(key)
            if acc is None:
                s.discounts[key] = [1, d.amount_fen]
            else:
                acc[0] += 1
                acc[1] += d.amount_fen
    tenders = s.tenders
    for t in body.tenders:
        key = (store, day, terminal, t.kind[:16])
        acc = tenders.get(key)
        if acc is None:
            tenders[key] = [1, t.amount_fen, 0, 0]
        else:
            acc[0] += 1
            acc[1] += t.amount_fen


def _add_sold(s: Sums, sold: Sold) -> None:
    """Add the lines summed in ``sold`` to their products, chain products and categories.

    Called before any other event is rolled and at the end, so every key keeps the place it
    would have had if each line were added as it came.
    """
    products, chain, categories = s.products, s.chain, s.categories
    for (store, day, sku, category), (lines, qty, weight, net) in sold.items():
        for table, key in ((products, (store, day, sku)), (chain, (day, sku))):
            acc = table.get(key)
            if acc is None:
                table[key] = [lines, qty, weight, net, 0, 0]
            else:
                acc[0] += lines
                acc[1] += qty
                acc[2] += weight
                acc[3] += net
        key = (store, day, category)
        acc = categories.get(key)
        if acc is None:
            categories[key] = [lines, qty, net, 0, 0]
        else:
            acc[0] += lines
            acc[1] += qty
            acc[2] += net
    sold.clear()


def _return(s: Sums, at: At, body: Mapping[str, Any]) -> None:
    lines = body.get("lines") or []
    cashier = str(body.get("cashier_id") or "")[:64]
    qty = sum(_int(line.get("quantity")) for line in lines)
    _bump(
        s.sales,
        (at.store_id, at.day, at.hour, at.terminal_id, cashier),
        [0, 1, 0, 0, 0, 0, 0, 0, 0, _int(body.get("refund_fen")), qty],
    )
    for line in lines:
        sku = str(line.get("sku") or "")[:64]
        figures = [0, 0, 0, 0, _int(line.get("quantity")), _int(line.get("refund_fen"))]
        _bump(s.products, (at.store_id, at.day, sku), figures)
        _bump(s.chain, (at.day, sku), figures)
        s.returned_skus.add(sku)
        # The category is filled in from the product's known category before writing.
        _bump(
            s.categories,
            (at.store_id, at.day, ("?sku", sku)),
            [0, 0, 0, _int(line.get("quantity")), _int(line.get("refund_fen"))],
        )
    for t in body.get("refunds") or []:
        _bump(
            s.tenders,
            (at.store_id, at.day, at.terminal_id, str(t.get("kind") or "")[:16]),
            [0, 0, 1, _int(t.get("amount_fen"))],
        )


def _audit(s: Sums, at: At, body: Mapping[str, Any]) -> None:
    s.audits.append(
        {
            "terminal_id": at.terminal_id,
            "seq": at.seq,
            "store_id": at.store_id,
            "day": at.day,
            "at": at.local.replace(tzinfo=None),
            "action": str(body.get("action") or "")[:32],
            "staff_id": str(body.get("staff_id") or "")[:64],
            "manager_id": str(body.get("manager_id") or "")[:64],
            "detail": str(body.get("detail") or "")[:2000],
        }
    )


def _shift_opened(s: Sums, at: At, body: Mapping[str, Any]) -> None:
    s.shifts.append(
        (
            "opened",
            {
                "terminal_id": at.terminal_id,
                "shift_id": str(body.get("shift_id") or "")[:64],
                "store_id": at.store_id,
                "day": at.day,
                "opened_by": str(body.get("opened_by") or "")[:64],
                "opened_at": at.local.replace(tzinfo=None),
                "float_fen": _int(body.get("float_fen")),
            },
        )
    )


def _shift_closed(s: Sums, at: At, body: Mapping[str, Any]) -> None:
    def opt(name: str) -> int | None:
        value = body.get(name)
        return _int(value) if value is not None else None

    s.shifts.append(
        (
            "closed",
            {
                "terminal_id": at.terminal_id,
                "shift_id": str(body.get("shift_id") or "")[:64],
                "store_id": at.store_id,
                "day": at.day,
                "closed_by": str(body.get("closed_by") or "")[:64],
                "closed_at": at.local.replace(tzinfo=None),
                "float_fen": _int(body.get("float_fen")),
                "sales_count": _int(body.get("sales_count")),
                "returns_count": _int(body.get("returns_count")),
                "by_tender": dict(body.get("by_tender") or {}),
                "counted_by_tender": dict(body.get("counted_by_tender") or {}),
                "cash_in_fen": _int(body.get("cash_in_fen")),
                "cash_out_fen": _int(body.get("cash_out_fen")),
                "expected_cash_fen": opt("expected_cash_fen"),
                "counted_cash_fen": opt("counted_cash_fen"),
                "difference_fen": opt("difference_fen"),
            },
        )
    )


def _cash_movement(s: Sums, at: At, body: Mapping[str, Any]) -> None:
    s.shifts.append(
        (
            "movement",
            {
                "terminal_id": at.terminal_id,
                "shift_id": str(body.get("shift_id") or "")[:64],
                "store_id": at.store_id,
                "day": at.day,
            },
        )
    )


_ROLLERS: Final[Mapping[str, Callable[[Sums, At, Mapping[str, Any]], None]]] = MappingProxyType(
    {
        "sale": _sale,
        "return": _return,
        "audit": _audit,
        "shift_opened": _shift_opened,
        "shift_closed": _shift_closed,
        "cash_movement": _cash_movement,
    }
)


def collect(
    events: Sequence[Any], now: dt.datetime, clock_for: Callable[[str], stores.StoreClock]
) -> Sums:
    """Sum the rollup figures of ``events`` (decoded IncomingEvents, all live and new)."""
    s = Sums()
    now_aware = now.replace(tzinfo=dt.UTC)
    clocks: dict[str, stores.StoreClock] = {}  # a batch is one terminal's: one store, one clock
    # A till sells many times a second: each (store, time) gets its business day once.
    times: dict[tuple[str, dt.datetime | None], tuple[dt.date, int, dt.datetime]] = {}
    sold: Sold = {}
    for e in events:
        roller = _ROLLERS.get(e.type)
        if roller is None or (type(e.body) is not dict and not isinstance(e.body, Mapping)):
            continue
        synced = e.clock_synced
        key = (e.store_id, e.device_time if synced else now_aware)  # what business_time reads
        when = times.get(key)
        if when is None:
            clock = clocks.get(e.store_id)
            if clock is None:
                clock = clocks[e.store_id] = clock_for(e.store_id)
            local = business_time(e.device_time, synced, now_aware, clock.timezone)
            when = times[key] = (*clock.business(local), local)
        typed = getattr(e, "typed", None)
        if type(typed) is SaleBody:
            _typed_sale(s, sold, e.store_id, e.terminal_id, when[0], when[1], typed)
        else:
            if sold:
                _add_sold(s, sold)
            roller(s, At(e.store_id, e.terminal_id, e.seq, *when), e.body)
    _add_sold(s, sold)
    return s


def _write(
    cdb: CloudDB,
    table: str,
    keys: tuple[str, ...],
    counters: tuple[str, ...],
    sums: Mapping[tuple[Any, ...], Counts],
    extra: Callable[[tuple[Any, ...]], tuple[Any, ...]] = lambda k: (),
    also_set: tuple[str, ...] = (),
    insert_only: tuple[str, ...] = (),
) -> None:
    rows = [
        (*(k.isoformat() if isinstance(k, dt.date) else k for k in key), *values, *extra(key))
        for key, values in sorted(sums.items(), key=lambda kv: tuple(map(str, kv[0])))
    ]
    add_rows(cdb, table, keys, counters, rows, also_set=also_set, insert_only=insert_only)


def _categories_of_returns(cdb: CloudDB, s: Sums) -> None:
    """Give returned lines their product's category (a return line carries only the SKU)."""
    unknown = sorted(sku for sku in s.returned_skus if sku not in s.names)
    known: dict[str, str] = {sku: n[2] for sku, n in s.names.items()}
    if unknown:
        c = cdb.rollups.ProductChainDaily
        for sku, category in (
            c.select(c.sku, c.category).where(c.sku.in_(unknown)).order_by(c.day.desc()).tuples()
        ):
            known.setdefault(sku, category)
    fixed: dict[tuple[Any, ...], Counts] = {}
    for key, values in s.categories.items():
        cat = key[2]
        if isinstance(cat, tuple):
            cat = known.get(cat[1], "")
        _bump(fixed, (key[0], key[1], cat), values)
    s.categories = fixed


@dataclass(frozen=True, slots=True)
class PreparedRollups:
    """A batch's sums made before its transaction, and exactly what they were made from."""

    sums: Sums
    seqs: frozenset[int]  # the events summed
    clocks: Mapping[str, stores.StoreClock]  # the clock each of their stores was summed by


def prepare(
    events: Sequence[Any], now: dt.datetime, known: Mapping[str, stores.StoreClock], rules: Any
) -> PreparedRollups:
    """Sum ``events`` ahead of the transaction, by the store clocks ``known`` (last read)."""
    used: dict[str, stores.StoreClock] = {}

    def clock_for(store_id: str) -> stores.StoreClock:
        clock = known.get(store_id) or stores.StoreClock(rules.tz_for(store_id), 0)
        used[store_id] = clock
        return clock

    sums = collect(events, now, clock_for)
    return PreparedRollups(sums, frozenset(e.seq for e in events), used)


class GroupRollups:
    """Several batches' sums in one transaction, written once (cloud.store.apply.commit_group).

    Counters add up, and the names a sale sets are the last sale's, as when each batch is
    written in turn; a batch whose returns need the stored categories (a returned product it
    did not sell) is written in its turn, after what is pending, so it reads what the batches
    before it wrote. Store clocks are read once per group.
    """

    def __init__(self) -> None:
        """Nothing pending, no clock read yet."""
        self.sums = Sums()
        self.pending = 0
        self.clocks: dict[str, stores.StoreClock] = {}
        self.read: set[str] = set()

    def clocks_of(
        self, cdb: CloudDB, default_timezone: str, store_ids: set[str]
    ) -> dict[str, stores.StoreClock]:
        """The registered clocks of ``store_ids``, reading only stores not read before."""
        if unread := store_ids - self.read:
            self.clocks.update(stores.clocks(cdb, default_timezone, unread))
            self.read |= unread
        return {k: v for k, v in self.clocks.items() if k in store_ids}

    def add(self, cdb: CloudDB, s: Sums) -> None:
        """Take one batch's sums (not changed: a group may be retried whole)."""
        s = replace(s, categories=dict(s.categories))
        if any(sku not in s.names for sku in s.returned_skus):
            self.flush(cdb)
            write(cdb, s)
            return
        _categories_of_returns(cdb, s)  # every returned product was sold here: no read
        acc = self.sums
        for mine, theirs in ((acc.sales, s.sales), (acc.products, s.products),
                             (acc.chain, s.chain), (acc.categories, s.categories),
                             (acc.tenders, s.tenders), (acc.discounts, s.discounts)):  # fmt: skip
            for key, values in theirs.items():
                _bump(mine, key, values)
        acc.names.update(s.names)
        acc.audits.extend(s.audits)
        acc.shifts.extend(s.shifts)
        self.pending += 1

    def flush(self, cdb: CloudDB) -> None:
        """Write what is pending."""
        if self.pending:
            write(cdb, self.sums)
            self.sums, self.pending = Sums(), 0


def apply_rollups(
    cdb: CloudDB,
    batch: Any,
    inserted: Sequence[Any],
    rules: Any,
    group: GroupRollups | None = None,
) -> dict[str, stores.StoreClock]:
    """Add the figures of the newly stored live events (inside commit_batch's transaction).

    The sums made ahead (``batch.rollup_sums``) stand only if they cover exactly these events and
    every clock they used is the one read here; otherwise they are made again. Returns the
    clocks read. With ``group``, the sums wait there to be written with the group's.
    """
    live = [e for e in inserted if e.dead_reason is None]
    if not live:
        return {}
    wanted = {e.store_id for e in live}
    registered = (
        stores.clocks(cdb, rules.default_timezone, wanted)
        if group is None
        else group.clocks_of(cdb, rules.default_timezone, wanted)
    )

    def clock_for(store_id: str) -> stores.StoreClock:
        return registered.get(store_id) or stores.StoreClock(rules.tz_for(store_id), 0)

    ahead: PreparedRollups | None = getattr(batch, "rollup_sums", None)
    if (
        ahead is not None
        and ahead.seqs == frozenset(e.seq for e in live)
        and all(clock_for(store) == clock for store, clock in ahead.clocks.items())
    ):
        sums = ahead.sums  # write() and add() fill in returned categories on a copy
    else:
        sums = collect(live, batch.now, clock_for)
    if group is not None:
        group.add(cdb, sums)
    else:
        # write() fills in the returned lines' categories: on a copy, the batch may be retried
        write(cdb, replace(sums, categories=dict(sums.categories)))
    return registered


def write(cdb: CloudDB, s: Sums) -> None:
    """Write one batch's sums: additive upserts in key order, listings keyed by their event."""
    _categories_of_returns(cdb, s)
    daily: dict[tuple[Any, ...], Counts] = {}
    for key, values in s.sales.items():
        _bump(daily, (key[0], key[1]), values)
    _write(cdb, "roll_sales_daily", ("store_id", "day"), SALES_COUNTERS, daily)
    _write(
        cdb,
        "roll_sales_hourly",
        ("store_id", "day", "hour", "terminal_id", "cashier_id"),
        SALES_COUNTERS,
        s.sales,
    )
    names = s.names

    def name_of(key: tuple[Any, ...]) -> tuple[str, str, str]:
        return names.get(key[-1], ("", "", ""))

    def unnamed(key: tuple[Any, ...]) -> tuple[str, str, str]:
        return ("", "", "")

    # A return alone leaves the names as they were; a sale refreshes them.
    sold = {k: v for k, v in s.products.items() if k[-1] in names}
    back = {k: v for k, v in s.products.items() if k[-1] not in names}
    label = ("name_zh", "name_en", "category")
    _write(
        cdb,
        "roll_product_daily",
        ("store_id", "day", "sku"),
        PRODUCT_COUNTERS,
        sold,
        name_of,
        label,
    )
    _write(
        cdb,
        "roll_product_daily",
        ("store_id", "day", "sku"),
        PRODUCT_COUNTERS,
        back,
        unnamed,
        insert_only=label,
    )
    sold_c = {k: v for k, v in s.chain.items() if k[-1] in names}
    back_c = {k: v for k, v in s.chain.items() if k[-1] not in names}
    _write(
        cdb, "roll_product_chain_daily", ("day", "sku"), PRODUCT_COUNTERS, sold_c, name_of, label
    )
    _write(
        cdb,
        "roll_product_chain_daily",
        ("day", "sku"),
        PRODUCT_COUNTERS,
        back_c,
        unnamed,
        insert_only=label,
    )
    _write(
        cdb, "roll_category_daily", ("store_id", "day", "category"), CATEGORY_COUNTERS, s.categories
    )
    chain_categories: dict[tuple[Any, ...], Counts] = {}
    for key, values in s.categories.items():
        _bump(chain_categories, (key[1], key[2]), values)
    _write(
        cdb, "roll_category_chain_daily", ("day", "category"), CATEGORY_COUNTERS, chain_categories
    )
    _write(
        cdb,
        "roll_tender_daily",
        ("store_id", "day", "terminal_id", "kind"),
        TENDER_COUNTERS,
        s.tenders,
    )
    _write(
        cdb,
        "roll_discount_daily",
        ("store_id", "day", "kind", "label"),
        DISCOUNT_COUNTERS,
        s.discounts,
    )
    r = cdb.rollups
    if s.audits:
        r.TillAudit.insert_many(s.audits).on_conflict_ignore().execute()
    for kind, row in s.shifts:
        _shift(cdb, kind, row)


def _shift(cdb: CloudDB, kind: str, row: dict[str, Any]) -> None:
    t = cdb.rollups.ShiftReport
    target = [t.terminal_id, t.shift_id]
    if kind == "movement":
        t.insert(**row, movements=1).on_conflict(
            conflict_target=target, update={t.movements: t.movements + 1}
        ).execute()
        return
    keys = ("terminal_id", "shift_id", "store_id", "day")
    # The day is the opening's: a close seen first sets it, the opening then corrects it.
    update = {getattr(t, k): v for k, v in row.items() if k not in keys[:3]}
    if kind == "closed":
        update.pop(t.day)
        update.pop(t.float_fen)
    t.insert(**row).on_conflict(conflict_target=target, update=update).execute()
