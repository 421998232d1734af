"""From one decoded event to what ingest applies: points deltas, spend, sales figures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from cloud.domain.errors import DomainError
from cloud.domain.points import PointsChange
from protocol.bodies import SaleBody

_T = TypeVar("_T")
_FACTORY: Any = object()  # a field with a default factory was not given


def quick_init(cls: type[_T]) -> type[_T]:
    """Give a frozen slotted dataclass an __init__ that sets each slot through its descriptor.

    The same signature, defaults and frozen instances as the dataclass's own __init__, which
    sets each field through object.__setattr__ at about twice the cost: ingest makes several
    of these per event (tests/cloud/domain/test_quick_init.py holds the two side by side).
    Unless the class defines its own, a __reduce__ that pickles the field values is added too.
    """
    every = fields(cls)  # type: ignore[arg-type]
    plain = all(f.init and not f.kw_only for f in every) and not hasattr(cls, "__post_init__")
    frozen = cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    if not (frozen and "__slots__" in cls.__dict__ and plain):
        raise TypeError(f"{cls.__name__}: quick_init takes a frozen slotted dataclass whose "
                        "fields are all plain __init__ arguments")  # fmt: skip
    scope: dict[str, Any] = {"_FACTORY": _FACTORY}
    params, body = [], []
    for i, f in enumerate(every):
        scope[f"_set{i}"] = cls.__dict__[f.name].__set__
        value = f.name
        if f.default is not MISSING:
            scope[f"_default{i}"] = f.default
            params.append(f"{f.name}=_default{i}")
        elif f.default_factory is not MISSING:
            scope[f"_factory{i}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            value = f"_factory{i}() if {f.name} is _FACTORY else {f.name}"
        else:
            params.append(f.name)
        body.append(f"    _set{i}(self, {value})\n")
    exec(f"def __init__(self, {', '.join(params)}):\n{''.join(body)}", scope)
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init  # type: ignore[method-assign]
    if "__reduce__" not in cls.__dict__:
        # Pickled as its field values, remade by __init__: the ingest worker's prepare process
        # hands batches over by pickle, and the dataclass default (a getstate and a setstate
        # that walk fields() in Python for every object) costs several times more.
        values = "".join(f"self.{f.name}, " for f in every)
        made: dict[str, Any] = {"_cls": cls}
        exec(f"def __reduce__(self):\n    return _cls, ({values})\n", made)
        made["__reduce__"].__qualname__ = f"{cls.__qualname__}.__reduce__"
        cls.__reduce__ = made["__reduce__"]  # type: ignore[method-assign]
    return cls


#: Tenders that are not money: spend (and so tiers) counts only what the customer paid.
NON_MONEY_TENDERS: frozenset[str] = frozenset({"points", "coupon"})


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What projections need from a stored event; ``local_time`` is already in store time."""

    terminal_id: str
    store_id: str
    seq: int
    event_type: str
    body: Mapping[str, Any]
    local_time: dt.datetime
    # The body as the codec validated it (protocol.bodies), when it was decoded that way: then
    # projections read its fields directly instead of checking the mapping again.
    typed: Any = None


@quick_init
@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One points-ledger delta; (origin_terminal, origin_seq, line_no) is unique per delta."""

    member_id: str
    delta: int
    reason: str
    origin_sale_id: str
    origin_terminal: str
    origin_seq: int
    line_no: int


@quick_init
@dataclass(frozen=True, slots=True)
class SkuKey:
    """Sales per product are kept by store, store-local day and hour."""

    store_id: str
    day: dt.date
    hour: int
    sku: str


@quick_init
@dataclass(frozen=True, slots=True)
class SkuFigures:
    """Additive per-product figures; a return adds negative quantity and amount."""

    lines: int = 0
    quantity: int = 0
    weight_g: int = 0
    net_fen: int = 0

    def __add__(self, other: SkuFigures) -> SkuFigures:
        return SkuFigures(
            self.lines + other.lines,
            self.quantity + other.quantity,
            self.weight_g + other.weight_g,
            self.net_fen + other.net_fen,
        )


@quick_init
@dataclass(frozen=True, slots=True)
class TotalsKey:
    """Totals are kept by store, store-local day and terminal."""

    store_id: str
    day: dt.date
    terminal_id: str


@quick_init
@dataclass(frozen=True, slots=True)
class TotalsFigures:
    """Additive per-terminal daily figures, all in fen or counts."""

    sales_count: int = 0
    returns_count: int = 0
    gross_fen: int = 0
    discount_fen: int = 0
    sales_fen: int = 0
    refund_fen: int = 0
    points_earned: int = 0
    points_redeemed: int = 0

    def __add__(self, other: TotalsFigures) -> TotalsFigures:
        summed = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        return TotalsFigures(**summed)

    @property
    def net_fen(self) -> int:
        """Sales less refunds."""
        return self.sales_fen - self.refund_fen


def _totals_tuple(t: TotalsFigures) -> tuple[int, ...]:
    # In field order, as TotalsFigures(*values) takes them back.
    return (t.sales_count, t.returns_count, t.gross_fen, t.discount_fen, t.sales_fen,
            t.refund_fen, t.points_earned, t.points_redeemed)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Registration:
    """A member registered at a till (possibly offline; duplicates by phone are reconciled)."""

    member_id: str
    phone: str
    name: str
    home_store: str
    registered_at: dt.datetime
    birthday: dt.date | None = None
    gender: str = ""
    opt_out_sms: bool = False
    member_code: str = ""
    cards: tuple[str, ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class Projection:
    """Everything one event (or a combined batch of events) changes besides the event row."""

    ledger: tuple[LedgerRow, ...] = ()
    points: tuple[PointsChange, ...] = ()
    spend: Mapping[str, int] = field(default_factory=dict)
    skus: Mapping[SkuKey, SkuFigures] = field(default_factory=dict)
    totals: Mapping[TotalsKey, TotalsFigures] = field(default_factory=dict)
    registrations: tuple[Registration, ...] = ()


def business_time(
    device_time: dt.datetime, clock_synced: bool, received_at: dt.datetime, tz: ZoneInfo
) -> dt.datetime:
    """The store-local time an event is reported under.

    A Pi without a synchronised clock may think it is 1970, so its device time is only
    trusted when the terminal says the clock was synced; otherwise the cloud's receive time
    stands in (late by the offline period, but never absurd).
    """
    chosen = device_time if clock_synced else received_at
    if chosen.tzinfo is None:
        chosen = chosen.replace(tzinfo=dt.UTC)
    return chosen.astimezone(tz)


def _get(body: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = body.get(key)
    if type(value) is kind:  # the common case, decided without the checks below
        return value
    if key not in body:
        raise DomainError(f"{where}: missing field {key!r}")
    value = body[key]
    # bool is an int subclass; a JSON true where an amount belongs is a bug, not a 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DomainError(f"{where}: field {key!r} must be {kind.__name__}, got {value!r}")
    return value


def _opt_int(body: Mapping[str, Any], key: str, where: str) -> int:
    value = body.get(key)
    if type(value) is int:
        return value
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise DomainError(f"{where}: field {key!r} must be int or null, got {value!r}")
    return value


def _member(value: Any, where: str) -> str:
    # The cloud keys members by id; an id no store could hold is a bad event, not a crash later.
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        raise DomainError(f"{where}: member_id must be 1-64 characters, got {value!r}")
    return value


def _list(body: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    items: list[Mapping[str, Any]] = _get(body, key, list, where)
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise DomainError(f"{where}: {key}[{i}] must be an object, got {item!r}")
    return items


def _ledger(
    event: EventFacts, origin_sale_id: str
) -> tuple[tuple[LedgerRow, ...], tuple[PointsChange, ...]]:
    where = f"{event.event_type} seq {event.seq}"
    rows: list[LedgerRow] = []
    by_member: dict[str, list[tuple[int, str]]] = {}
    for i, item in enumerate(_list(event.body, "points", where)):
        at = f"{where} points[{i}]"
        member_id = _member(item.get("member_id"), at)
        delta = _get(item, "delta", int, at)
        reason = _get(item, "reason", str, at)
        sale_id = item.get("origin_sale_id") or origin_sale_id
        if not isinstance(sale_id, str):
            raise DomainError(f"{at}: origin_sale_id must be str")
        rows.append(LedgerRow(member_id, delta, reason, sale_id, event.terminal_id, event.seq, i))
        by_member.setdefault(member_id, []).append((delta, reason))
    changes = tuple(
        PointsChange(member, event.terminal_id, event.seq, origin_sale_id, tuple(deltas))
        for member, deltas in by_member.items()
    )
    return tuple(rows), changes


def _money_paid(tenders: Iterable[Mapping[str, Any]], where: str) -> int:
    paid = 0
    for i, tender in enumerate(tenders):
        at = f"{where} tenders[{i}]"
        kind = _get(tender, "kind", str, at)
        amount = _get(tender, "amount_fen", int, at)
        if kind not in NON_MONEY_TENDERS:
            paid += amount
    return paid


def _project_sale(event: EventFacts) -> Projection:
    where = f"sale seq {event.seq}"
    body = event.body
    sale_id = _get(body, "sale_id", str, where)
    day, hour = event.local_time.date(), event.local_time.hour
    skus: dict[SkuKey, SkuFigures] = {}
    for i, line in enumerate(_list(body, "lines", where)):
        at = f"{where} lines[{i}]"
        key = SkuKey(event.store_id, day, hour, _get(line, "sku", str, at))
        figures = SkuFigures(
            1, _get(line, "quantity", int, at), _opt_int(line, "weight_g", at),
            _get(line, "net_fen", int, at),
        )  # fmt: skip
        prev = skus.get(key)
        skus[key] = figures if prev is None else prev + figures
    totals = TotalsFigures(
        sales_count=1,
        gross_fen=_get(body, "gross_fen", int, where),
        discount_fen=_get(body, "discount_fen", int, where),
        sales_fen=_get(body, "total_fen", int, where),
        points_earned=_opt_int(body, "points_earned", where),
        points_redeemed=_opt_int(body, "points_redeemed", where),
    )
    ledger, points = _ledger(event, sale_id)
    member_id = body.get("member_id")
    spend: dict[str, int] = {}
    if member_id:
        spend[_member(member_id, where)] = _money_paid(_list(body, "tenders", where), where)
    return Projection(
        ledger=ledger,
        points=points,
        spend=spend,
        skus=skus,
        totals={TotalsKey(event.store_id, day, event.terminal_id): totals},
    )


@dataclass(frozen=True, slots=True)
class SaleKeys:
    """The keys a batch's sales share, each made once for the batch instead of once a sale."""

    skus: dict[tuple[str, dt.date, int, str], SkuKey] = field(default_factory=dict)
    # (store, terminal, local time) -> (day, hour, the totals key)
    times: dict[tuple[str, str, dt.datetime], tuple[dt.date, int, TotalsKey]] = field(
        default_factory=dict
    )


def project_sale(
    terminal: str,
    store: str,
    seq: int,
    local_time: dt.datetime,
    body: SaleBody,
    keys: SaleKeys | None = None,
) -> Projection:
    """What a sale whose every field the codec has checked changes (project() without facts).

    ``keys``, kept for a batch, saves making its keys again for each sale.
    """
    if keys is None:
        keys = SaleKeys()
    at = keys.times.get((store, terminal, local_time))
    if at is None:
        day = local_time.date()
        at = (day, local_time.hour, TotalsKey(store, day, terminal))
        keys.times[store, terminal, local_time] = at
    day, hour, totals_key = at
    sku_keys = keys.skus
    skus: dict[SkuKey, SkuFigures] = {}
    for line in body.lines:
        sku = line.sku
        key = sku_keys.get((store, day, hour, sku))
        if key is None:
            key = sku_keys[store, day, hour, sku] = SkuKey(store, day, hour, sku)
        figures = SkuFigures(1, line.quantity, line.weight_g or 0, line.net_fen)
        prev = skus.get(key) if skus else None  # most sales have one line: nothing to look up
        skus[key] = figures if prev is None else prev + figures
    # Positional: a sale counts once, in these fields' order (see TotalsFigures).
    totals = TotalsFigures(1, 0, body.gross_fen, body.discount_fen, body.total_fen, 0,
                           body.points_earned, body.points_redeemed)  # fmt: skip
    rows: tuple[LedgerRow, ...] = ()
    points: tuple[PointsChange, ...] = ()
    if body.points:
        ledger: list[LedgerRow] = []
        by_member: dict[str, list[tuple[int, str]]] = {}
        for i, item in enumerate(body.points):
            sale_id = item.origin_sale_id or body.sale_id
            ledger.append(LedgerRow(item.member_id, item.delta, item.reason, sale_id, terminal,
                                    seq, i))  # fmt: skip
            by_member.setdefault(item.member_id, []).append((item.delta, item.reason))
        rows = tuple(ledger)
        points = tuple(
            PointsChange(member, terminal, seq, body.sale_id, tuple(deltas))
            for member, deltas in by_member.items()
        )
    spend: dict[str, int] = {}
    if body.member_id:
        paid = 0
        for t in body.tenders:
            if t.kind not in NON_MONEY_TENDERS:
                paid += t.amount_fen
        spend[body.member_id] = paid
    return Projection(rows, points, spend, skus, {totals_key: totals})


def _project_return(event: EventFacts) -> Projection:
    where = f"return seq {event.seq}"
    body = event.body
    return_id = _get(body, "return_id", str, where)
    day, hour = event.local_time.date(), event.local_time.hour
    skus: dict[SkuKey, SkuFigures] = {}
    for i, line in enumerate(_list(body, "lines", where)):
        at = f"{where} lines[{i}]"
        key = SkuKey(event.store_id, day, hour, _get(line, "sku", str, at))
        figures = SkuFigures(
            0, -_get(line, "quantity", int, at), -_opt_int(line, "weight_g", at),
            -_get(line, "refund_fen", int, at),
        )  # fmt: skip
        prev = skus.get(key)
        skus[key] = figures if prev is None else prev + figures
    totals = TotalsFigures(returns_count=1, refund_fen=_get(body, "refund_fen", int, where))
    ledger, points = _ledger(event, body.get("original_sale_id") or return_id)
    member_id = body.get("member_id")
    spend: dict[str, int] = {}
    if member_id:
        spend[_member(member_id, where)] = -_money_paid(_list(body, "refunds", where), where)
    return Projection(
        ledger=ledger,
        points=points,
        spend=spend,
        skus=skus,
        totals={TotalsKey(event.store_id, day, event.terminal_id): totals},
    )


def _project_points_adjustment(event: EventFacts) -> Projection:
    where = f"points_adjustment seq {event.seq}"
    origin = event.body.get("origin_sale_id") or event.body.get("adjustment_id") or ""
    if not isinstance(origin, str):
        raise DomainError(f"{where}: origin id must be str")
    if "points" in event.body:
        ledger, points = _ledger(event, origin)
    else:
        # A single adjustment may come flat: {member_id, delta, reason}.
        flat = {"points": [dict(event.body)]}
        ledger, points = _ledger(
            EventFacts(
                event.terminal_id,
                event.store_id,
                event.seq,
                event.event_type,
                flat,
                event.local_time,
            ),
            origin,
        )
    return Projection(ledger=ledger, points=points)


def _project_registration(event: EventFacts) -> Projection:
    where = f"member_registered seq {event.seq}"
    body = event.body
    name = body.get("name") or ""
    if not isinstance(name, str):
        raise DomainError(f"{where}: name must be str, got {name!r}")
    birthday = body.get("birthday")
    cards = body.get("cards") or []
    registration = Registration(
        member_id=_member(body.get("member_id"), where),
        phone=_get(body, "phone", str, where)[:32],
        name=name,
        home_store=event.store_id,
        registered_at=event.local_time,
        birthday=dt.date.fromisoformat(birthday) if isinstance(birthday, str) else None,
        gender=str(body.get("gender") or ""),
        opt_out_sms=bool(body.get("opt_out_sms", False)),
        member_code=str(body.get("member_code") or ""),
        cards=tuple(str(c) for c in cards if isinstance(c, str)),
    )
    return Projection(registrations=(registration,))


_PROJECTORS = MappingProxyType(
    {
        "sale": _project_sale,
        "return": _project_return,
        "points_adjustment": _project_points_adjustment,
        "member_registered": _project_registration,
    }
)


def project(event: EventFacts) -> Projection:
    """Return what ``event`` changes; event types with no figures (shifts, audit...) change nothing.

    Raises DomainError naming the field when the body cannot be used.
    """
    if type(event.typed) is SaleBody and event.event_type == "sale":
        return project_sale(event.terminal_id, event.store_id, event.seq, event.local_time,
                            event.typed)  # fmt: skip
    if not isinstance(event.body, Mapping):
        raise DomainError(f"{event.event_type} seq {event.seq}: body must be an object")
    projector = _PROJECTORS.get(event.event_type)
    return projector(event) if projector else Projection()


def combine(projections: Sequence[Projection]) -> Projection:
    """Merge per-event projections so a whole batch is applied with one write per key.

    Ledger rows and points changes keep event order (reconciliation depends on it);
    additive figures are summed per key.
    """
    spend: dict[str, int] = {}
    # Plain lists while summing: a batch has hundreds of events and few keys, and building a
    # frozen dataclass per addition was a visible share of ingest time.
    sku_sums: dict[SkuKey, list[int]] = {}
    total_sums: dict[TotalsKey, list[int]] = {}
    ledger: list[LedgerRow] = []
    points: list[PointsChange] = []
    registrations: list[Registration] = []
    for p in projections:
        if p.spend:
            for member, amount in p.spend.items():
                spend[member] = spend.get(member, 0) + amount
        for sku_key, f in p.skus.items():
            acc = sku_sums.get(sku_key)
            if acc is None:
                sku_sums[sku_key] = [f.lines, f.quantity, f.weight_g, f.net_fen]
            else:
                acc[0] += f.lines
                acc[1] += f.quantity
                acc[2] += f.weight_g
                acc[3] += f.net_fen
        for totals_key, t in p.totals.items():
            tacc = total_sums.get(totals_key)
            if tacc is None:
                total_sums[totals_key] = list(_totals_tuple(t))
            else:
                tacc[0] += t.sales_count
                tacc[1] += t.returns_count
                tacc[2] += t.gross_fen
                tacc[3] += t.discount_fen
                tacc[4] += t.sales_fen
                tacc[5] += t.refund_fen
                tacc[6] += t.points_earned
                tacc[7] += t.points_redeemed
        if p.ledger:
            ledger += p.ledger
        if p.points:
            points += p.points
        if p.registrations:
            registrations += p.registrations
    skus = {k: SkuFigures(*v) for k, v in sku_sums.items()}
    totals = {k: TotalsFigures(*v) for k, v in total_sums.items()}
    return Projection(
        ledger=tuple(ledger),
        points=tuple(points),
        spend=spend,
        skus=skus,
        totals=totals,
        registrations=tuple(registrations),
    )
