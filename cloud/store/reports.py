"""HQ report queries over the rollups: each returns a Table (columns and rows) for JSON or CSV.

Money is integer fen in every column named ``*_fen``; ratios are rounded to 4 places. Days
are business days of each store. Filters are checked by the API before they get here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import peewee as pw

from cloud.store.db import CloudDB


@dataclass(frozen=True, slots=True)
class Filters:
    """What a report covers: stores (None: all), an optional terminal, business days."""

    stores: frozenset[str] | None
    date_from: dt.date
    date_to: dt.date
    terminal: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class Table:
    """A report's result: column names and rows in that order."""

    report: str
    columns: list[str]
    rows: list[list[Any]]


def _where(model: Any, f: Filters, *, terminal: bool = True) -> Any:
    cond = (model.day >= f.date_from) & (model.day <= f.date_to)
    if f.stores is not None:
        cond &= model.store_id.in_(sorted(f.stores))
    if terminal and f.terminal:
        cond &= model.terminal_id == f.terminal
    return cond


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _sum(field: Any, name: str) -> Any:
    return pw.fn.COALESCE(pw.fn.SUM(field), 0).alias(name)


SALES_COLUMNS = [
    "sales_count",
    "returns_count",
    "items",
    "gross_fen",
    "discount_fen",
    "sales_fen",
    "refund_fen",
    "net_fen",
    "avg_ticket_fen",
    "basket_items",
    "member_sales",
    "override_lines",
]


def _sales(cdb: CloudDB, f: Filters, dims: list[str]) -> list[list[Any]]:
    # The daily table answers whatever needs neither hour, terminal nor cashier.
    coarse = set(dims) <= {"store_id", "day"} and not f.terminal
    s = cdb.rollups.SalesDaily if coarse else cdb.rollups.SalesHourly
    group = [getattr(s, d) for d in dims]
    q = (
        s.select(
            *group,
            _sum(s.sales_count, "sc"),
            _sum(s.returns_count, "rc"),
            _sum(s.items, "it"),
            _sum(s.gross_fen, "g"),
            _sum(s.discount_fen, "d"),
            _sum(s.sales_fen, "sf"),
            _sum(s.refund_fen, "rf"),
            _sum(s.member_sales, "ms"),
            _sum(s.override_lines, "ol"),
        )
        .where(_where(s, f))
        .tuples()
    )
    if group:
        q = q.group_by(*group).order_by(*group)
    rows = []
    for row in q:
        keys, (sc, rc, it, g, d, sf, rf, ms, ol) = (
            list(row[: len(dims)]),
            map(int, row[len(dims) :]),
        )
        keys = [k.isoformat() if isinstance(k, dt.date) else k for k in keys]
        avg = (sf // sc) if sc else None  # floor, in fen: the one rounding rule for averages
        rows.append([*keys, sc, rc, it, g, d, sf, rf, sf - rf, avg, _ratio(it, sc), ms, ol])
    return rows


def sales_by(dim: str) -> Callable[[CloudDB, Filters], Table]:
    """Sales grouped by one of store, terminal, day, hour, cashier (or the total for none)."""
    column = {
        "store": "store_id",
        "terminal": "terminal_id",
        "day": "day",
        "hour": "hour",
        "cashier": "cashier_id",
        "total": "",
    }[dim]

    def report(cdb: CloudDB, f: Filters) -> Table:
        dims = [column] if column else []
        return Table(f"sales_by_{dim}", [*dims, *SALES_COLUMNS], _sales(cdb, f, dims))

    return report


PRODUCT_COLUMNS = [
    "sku",
    "name_zh",
    "name_en",
    "category",
    "lines",
    "quantity",
    "weight_g",
    "net_fen",
    "returned_quantity",
    "refund_fen",
]


def _products(cdb: CloudDB, f: Filters, order: str) -> Table:
    r = cdb.rollups
    # The chain-wide table answers chain-wide questions with one row per product and day.
    p = r.ProductChainDaily if f.stores is None else r.ProductDaily
    cond = (p.day >= f.date_from) & (p.day <= f.date_to)
    if f.stores is not None:
        cond &= p.store_id.in_(sorted(f.stores))
    net = pw.fn.SUM(p.net_fen)
    # Numbers first, names only for the rows kept: aggregating text over every product-day
    # row cost more than the sums themselves.
    ranked = list(
        p.select(
            p.sku,
            _sum(p.lines, "l"),
            _sum(p.quantity, "q"),
            _sum(p.weight_g, "w"),
            _sum(p.net_fen, "n"),
            _sum(p.returned_quantity, "rq"),
            _sum(p.refund_fen, "rf"),
        )
        .where(cond)
        .group_by(p.sku)
        .order_by(net.desc() if order == "top" else net.asc(), p.sku)
        .limit(f.limit)
        .tuples()
    )
    names: dict[str, tuple[str, str, str]] = {}
    if ranked:
        c = r.ProductChainDaily
        labelled = (
            c.select(c.sku, c.name_zh, c.name_en, c.category)
            .where(
                c.sku.in_([row[0] for row in ranked])
                & (c.day >= f.date_from)
                & (c.day <= f.date_to)
                & ((c.name_zh != "") | (c.name_en != ""))
            )
            .order_by(c.day.desc())
            .tuples()
        )
        for sku, zh, en, cat in labelled:
            names.setdefault(sku, (zh, en, cat))
    rows = [[sku, *names.get(sku, ("", "", "")), *map(int, rest)] for sku, *rest in ranked]
    return Table(f"{order}_products", PRODUCT_COLUMNS, rows)


def top_products(cdb: CloudDB, f: Filters) -> Table:
    """Best sellers by net amount."""
    return _products(cdb, f, "top")


def bottom_products(cdb: CloudDB, f: Filters) -> Table:
    """Worst sellers by net amount (among products sold in the period)."""
    return _products(cdb, f, "bottom")


def by_category(cdb: CloudDB, f: Filters) -> Table:
    """Sales per product category."""
    c = cdb.rollups.CategoryChainDaily if f.stores is None else cdb.rollups.CategoryDaily
    q = (
        c.select(
            c.category,
            _sum(c.lines, "l"),
            _sum(c.quantity, "q"),
            _sum(c.net_fen, "n"),
            _sum(c.returned_quantity, "rq"),
            _sum(c.refund_fen, "rf"),
        )
        .where(
            (c.day >= f.date_from) & (c.day <= f.date_to)
            if f.stores is None
            else _where(c, f, terminal=False)
        )
        .group_by(c.category)
        .order_by(pw.fn.SUM(c.net_fen).desc(), c.category)
        .tuples()
    )
    return Table(
        "sales_by_category",
        ["category", "lines", "quantity", "net_fen", "returned_quantity", "refund_fen"],
        [[cat, *map(int, rest)] for cat, *rest in q],
    )


def by_tender(cdb: CloudDB, f: Filters) -> Table:
    """Sales and refunds per tender kind."""
    t = cdb.rollups.TenderDaily
    q = (
        t.select(
            t.kind,
            _sum(t.sales_count, "s"),
            _sum(t.amount_fen, "a"),
            _sum(t.refunds_count, "r"),
            _sum(t.refund_fen, "rf"),
        )
        .where(_where(t, f))
        .group_by(t.kind)
        .order_by(t.kind)
        .tuples()
    )
    rows = [[k, *map(int, rest), int(rest[1]) - int(rest[3])] for k, *rest in q]
    return Table(
        "sales_by_tender",
        ["tender", "tenders", "amount_fen", "refunds", "refund_fen", "net_fen"],
        rows,
    )


def returns(cdb: CloudDB, f: Filters) -> Table:
    """Return rate per store: returns over sales, refunds over sales amount."""
    rows = []
    for store, sc, rc, _it, _g, _d, sf, rf, *_ in _sales(cdb, f, ["store_id"]):
        rows.append([store, sc, rc, _ratio(rc, sc), sf, rf, _ratio(rf, sf)])
    return Table(
        "returns",
        [
            "store_id",
            "sales_count",
            "returns_count",
            "return_rate",
            "sales_fen",
            "refund_fen",
            "refund_rate",
        ],
        rows,
    )


def baskets(cdb: CloudDB, f: Filters) -> Table:
    """Basket size (items per sale) and average ticket per store and day."""
    rows = [
        [store, day, sc, it, basket, avg]
        for store, day, sc, _rc, it, _g, _d, _sf, _rf, _n, avg, basket, *_ in _sales(
            cdb, f, ["store_id", "day"]
        )
    ]
    return Table(
        "baskets",
        ["store_id", "day", "sales_count", "items", "basket_items", "avg_ticket_fen"],
        rows,
    )


def discounts(cdb: CloudDB, f: Filters) -> Table:
    """Discounts given, by kind and label."""
    d = cdb.rollups.DiscountDaily
    q = (
        d.select(d.kind, d.label, _sum(d.lines, "l"), _sum(d.amount_fen, "a"))
        .where(_where(d, f, terminal=False))
        .group_by(d.kind, d.label)
        .order_by(pw.fn.SUM(d.amount_fen).desc(), d.kind, d.label)
        .tuples()
    )
    return Table(
        "discounts",
        ["kind", "label", "lines", "amount_fen"],
        [[k, label, int(n), int(a)] for k, label, n, a in q],
    )


AUDIT_COLUMNS = [
    "store_id",
    "terminal_id",
    "seq",
    "day",
    "at",
    "action",
    "staff_id",
    "manager_id",
    "detail",
]


def _till_audit(cdb: CloudDB, f: Filters, no_sale: bool) -> list[list[Any]]:
    a = cdb.rollups.TillAudit
    cond = _where(a, f) & ((a.action == "no_sale") if no_sale else (a.action != "no_sale"))
    q = a.select().where(cond).order_by(a.at.desc(), a.terminal_id, a.seq.desc()).limit(f.limit)
    return [
        [
            r.store_id,
            r.terminal_id,
            r.seq,
            str(r.day),
            str(r.at),
            r.action,
            r.staff_id,
            r.manager_id,
            r.detail,
        ]
        for r in q
    ]


def overrides(cdb: CloudDB, f: Filters) -> Table:
    """Manager overrides and other audited till actions, with who asked and who authorised."""
    return Table("overrides", AUDIT_COLUMNS, _till_audit(cdb, f, no_sale=False))


def no_sales(cdb: CloudDB, f: Filters) -> Table:
    """No-sale drawer openings, with the authorising manager."""
    return Table("no_sales", AUDIT_COLUMNS, _till_audit(cdb, f, no_sale=True))


def _tenders_text(values: Mapping[str, Any] | None) -> str:
    return "; ".join(f"{k}={int(v)}" for k, v in sorted((values or {}).items()))


def shifts(cdb: CloudDB, f: Filters) -> Table:
    """Z reports of each shift: expected against counted cash, by tender."""
    t = cdb.rollups.ShiftReport
    q = t.select().where(_where(t, f)).order_by(t.day.desc(), t.terminal_id, t.opened_at.desc())
    rows = [
        [
            r.store_id,
            r.terminal_id,
            r.shift_id,
            str(r.day),
            r.opened_by,
            str(r.opened_at or ""),
            r.closed_by,
            str(r.closed_at or ""),
            r.float_fen,
            r.sales_count,
            r.returns_count,
            r.cash_in_fen,
            r.cash_out_fen,
            r.expected_cash_fen,
            r.counted_cash_fen,
            r.difference_fen,
            _tenders_text(r.by_tender),
            _tenders_text(r.counted_by_tender),
        ]
        for r in q.limit(f.limit)
    ]
    return Table(
        "shifts",
        [
            "store_id",
            "terminal_id",
            "shift_id",
            "day",
            "opened_by",
            "opened_at",
            "closed_by",
            "closed_at",
            "float_fen",
            "sales_count",
            "returns_count",
            "cash_in_fen",
            "cash_out_fen",
            "expected_cash_fen",
            "counted_cash_fen",
            "difference_fen",
            "by_tender_fen",
            "counted_by_tender_fen",
        ],
        rows,
    )


#: Report name -> query. Every name is also a route and a CSV export.
REPORTS: Final[Mapping[str, Callable[[CloudDB, Filters], Table]]] = MappingProxyType(
    {
        "sales": sales_by("total"),
        "sales-by-store": sales_by("store"),
        "sales-by-terminal": sales_by("terminal"),
        "sales-by-day": sales_by("day"),
        "sales-by-hour": sales_by("hour"),
        "sales-by-cashier": sales_by("cashier"),
        "sales-by-category": by_category,
        "sales-by-tender": by_tender,
        "top-products": top_products,
        "bottom-products": bottom_products,
        "baskets": baskets,
        "returns": returns,
        "discounts": discounts,
        "overrides": overrides,
        "no-sales": no_sales,
        "shifts": shifts,
    }
)
#: Reports kept per store only (no terminal dimension): a terminal filter is refused for them.
STORE_LEVEL: Final = frozenset(
    {"sales-by-category", "top-products", "bottom-products", "discounts"}
)
