"""Pure shift accounting: float, sales, refunds and cash movements folded into X and Z reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from device.checkout.errors import ShiftError
from device.checkout.money import format_fen
from device.checkout.records import (
    CashMovement,
    ReturnRecord,
    SaleRecord,
    ShiftReport,
    TenderKind,
)


@dataclass(frozen=True, slots=True)
class Shift:
    """An open shift and its running totals.

    The totals are a fold over the shift's records, kept incrementally so an X report
    never has to re-read the journal; :func:`report_from_records` is the same fold run from
    scratch, which is what the store can use to cross-check after a restart.
    """

    shift_id: str
    opened_by: str
    opened_at: dt.datetime
    float_fen: int
    sales_count: int = 0
    returns_count: int = 0
    no_sale_count: int = 0
    # tender kind -> net amount (sales minus refunds), as sorted pairs to stay immutable
    by_tender: tuple[tuple[str, int], ...] = ()
    cash_in_fen: int = 0
    cash_out_fen: int = 0
    gross_fen: int = 0
    discount_fen: int = 0
    refund_fen: int = 0

    def tender_total(self, kind: TenderKind) -> int:
        """Net amount taken in ``kind`` so far."""
        return dict(self.by_tender).get(kind.value, 0)


def open_shift(shift_id: str, staff_id: str, now: dt.datetime, float_fen: int) -> Shift:
    """Start a shift with a cash float."""
    if float_fen < 0:
        raise ShiftError("the float cannot be negative")
    return Shift(shift_id=shift_id, opened_by=staff_id, opened_at=now, float_fen=float_fen)


def _add_tenders(
    by_tender: tuple[tuple[str, int], ...], deltas: Iterable[tuple[str, int]]
) -> tuple[tuple[str, int], ...]:
    totals = dict(by_tender)
    for kind, amount in deltas:
        totals[kind] = totals.get(kind, 0) + amount
    return tuple(sorted(totals.items()))


def add_sale(shift: Shift, sale: SaleRecord) -> Shift:
    """Fold a completed sale into the shift (cash counts what stayed in the drawer)."""
    if sale.shift_id != shift.shift_id:
        raise ShiftError("sale {sale_id} belongs to another shift", sale_id=sale.sale_id)
    return replace(
        shift,
        sales_count=shift.sales_count + 1,
        by_tender=_add_tenders(
            shift.by_tender, ((t.kind.value, t.amount_fen) for t in sale.tenders)
        ),
        gross_fen=shift.gross_fen + sale.gross_fen,
        discount_fen=shift.discount_fen + sale.discount_fen,
    )


def add_return(shift: Shift, ret: ReturnRecord) -> Shift:
    """Fold a return (or a void) into the shift: its refunds are taken off their tenders."""
    if ret.shift_id != shift.shift_id:
        raise ShiftError("return {return_id} belongs to another shift", return_id=ret.return_id)
    return replace(
        shift,
        returns_count=shift.returns_count + 1,
        by_tender=_add_tenders(
            shift.by_tender, ((t.kind.value, -t.amount_fen) for t in ret.refunds)
        ),
        refund_fen=shift.refund_fen + ret.refund_fen,
    )


def add_movement(shift: Shift, movement: CashMovement) -> Shift:
    """Fold a cash-in (positive) or cash-out (negative) movement into the shift."""
    if movement.shift_id != shift.shift_id:
        raise ShiftError(
            "cash movement {movement_id} belongs to another shift", movement_id=movement.movement_id
        )
    if movement.amount_fen == 0:
        raise ShiftError("a cash movement needs a non-zero amount")
    if movement.amount_fen > 0:
        return replace(shift, cash_in_fen=shift.cash_in_fen + movement.amount_fen)
    return replace(shift, cash_out_fen=shift.cash_out_fen - movement.amount_fen)


def add_no_sale(shift: Shift) -> Shift:
    """Count a drawer opening without a sale (shown on the reports for the manager's eye)."""
    return replace(shift, no_sale_count=shift.no_sale_count + 1)


def expected_cash(shift: Shift) -> int:
    """Cash that should be in the drawer: float + net cash takings + cash in - cash out."""
    return (
        shift.float_fen
        + shift.tender_total(TenderKind.CASH)
        + shift.cash_in_fen
        - shift.cash_out_fen
    )


def cash_out_allowed(shift: Shift, amount_fen: int) -> None:
    """Refuse taking out more cash than the drawer should hold."""
    available = expected_cash(shift)
    if amount_fen > available:
        raise ShiftError(
            "only {available} should be in the drawer", available=format_fen(available)
        )


def _counted(
    kind: str, counted_cash_fen: int | None, counted_other: Mapping[str, int] | None
) -> dict[str, int]:
    """The Z report's counted amounts by tender kind, checked."""
    if kind == "X":
        if counted_other:
            raise ShiftError("an X report has no counted amounts")
        return {}
    if counted_cash_fen is None:
        raise ShiftError("a Z report needs the counted cash")
    counted = {TenderKind.CASH.value: counted_cash_fen}
    for tender, amount in (counted_other or {}).items():
        if tender not in {k.value for k in TenderKind} or tender == TenderKind.CASH.value:
            raise ShiftError("{tender!r} is not a tender counted apart from cash", tender=tender)
        counted[tender] = amount
    for tender, amount in counted.items():
        if amount < 0:
            raise ShiftError("counted {tender} cannot be negative", tender=tender)
    return counted


def report(
    shift: Shift,
    kind: str,
    counted_cash_fen: int | None = None,
    counted_other: Mapping[str, int] | None = None,
) -> ShiftReport:
    """An X report (interim, any time) or a Z report (closing, with counted cash).

    ``counted_other`` gives a Z report the totals counted for other tenders, e.g. the card
    total on the bank terminal's settlement slip, to set against what the till took.
    """
    if kind not in ("X", "Z"):
        raise ShiftError("unknown report kind {kind!r}", kind=kind)
    if counted_cash_fen is not None and counted_cash_fen < 0:
        raise ShiftError("counted cash cannot be negative")
    counted_by_tender = _counted(kind, counted_cash_fen, counted_other)
    expected = expected_cash(shift)
    counted = counted_cash_fen if kind == "Z" else None
    extras = {
        "gross_fen": shift.gross_fen,
        "discount_fen": shift.discount_fen,
        "refund_fen": shift.refund_fen,
        "no_sale_count": shift.no_sale_count,
    }
    return ShiftReport(
        shift_id=shift.shift_id,
        kind=kind,
        float_fen=shift.float_fen,
        sales_count=shift.sales_count,
        returns_count=shift.returns_count,
        by_tender=dict(shift.by_tender),
        cash_in_fen=shift.cash_in_fen,
        cash_out_fen=shift.cash_out_fen,
        expected_cash_fen=expected,
        counted_cash_fen=counted,
        difference_fen=None if counted is None else counted - expected,
        extras=extras,
        counted_by_tender=counted_by_tender,
    )


def tender_differences(report: ShiftReport) -> dict[str, int]:
    """Counted minus expected for each tender counted at close (Z): over is +, short is -.

    Cash is set against the cash that should be in the drawer (float and movements
    included); any other tender against the net amount the till took in it.
    """
    differences: dict[str, int] = {}
    for tender, counted in report.counted_by_tender.items():
        if tender == TenderKind.CASH.value:
            expected = report.expected_cash_fen
        else:
            expected = report.by_tender.get(tender, 0)
        differences[tender] = counted - expected
    return differences


def report_from_records(
    shift_id: str,
    kind: str,
    float_fen: int,
    sales: Iterable[SaleRecord],
    returns: Iterable[ReturnRecord],
    movements: Iterable[CashMovement],
    counted_cash_fen: int | None = None,
    no_sale_count: int = 0,
    counted_other: Mapping[str, int] | None = None,
) -> ShiftReport:
    """The same report computed from the shift's stored records (e.g. after a restart)."""
    shift = Shift(
        shift_id=shift_id,
        opened_by="",
        opened_at=dt.datetime.min.replace(tzinfo=dt.UTC),
        float_fen=float_fen,
        no_sale_count=no_sale_count,
    )
    for sale in sales:
        shift = add_sale(shift, sale)
    for ret in returns:
        shift = add_return(shift, ret)
    for movement in movements:
        shift = add_movement(shift, movement)
    return report(shift, kind, counted_cash_fen, counted_other)
