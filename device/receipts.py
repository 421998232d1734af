"""Turning recorded sales, returns and shift reports into the printer's plain Receipt value."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from types import MappingProxyType
from zoneinfo import ZoneInfo

from device.checkout.money import format_fen
from device.checkout.records import Product, ReturnRecord, SaleLine, SaleRecord, ShiftReport
from device.drivers.receipt_layout import LABELS, Language, Receipt, ReceiptLine
from device.i18n import render

LABEL_KEYS = tuple(LABELS["en"])


def _t(lang: str) -> Callable[..., str]:
    """The receipt's words in its language, from the till's catalogue."""

    def text(key: str, **params: object) -> str:
        return render(key, lang, **params)

    return text


def _labels(lang: str) -> Mapping[str, str]:
    """The printed field names (receipt number, cashier, member, ...) in ``lang``."""
    return MappingProxyType({key: render(f"receipt.label.{key}", lang) for key in LABEL_KEYS})


def _lang(language: str) -> Language:
    return "en" if language == "en" else "zh"


def _local(moment: dt.datetime, tz: str) -> str:
    return moment.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S")


def sale_receipt(
    sale: SaleRecord,
    receipt_no: str,
    *,
    cashier: str,
    header: tuple[str, ...],
    language: str = "zh",
    width: int = 48,
    timezone: str = "Asia/Shanghai",
    member_phone: str = "",
    points_balance: int | None = None,
    reprint: bool = False,
    list_prices: Mapping[str, int] | None = None,
) -> Receipt:
    """The receipt of a committed sale, exactly as the journal holds it.

    A line whose price was overridden is marked, with its list price (``list_prices`` by SKU,
    the catalogue's) when known.
    """
    lang = _lang(language)
    t = _t(lang)
    lines = []
    for line in sale.lines:
        name = (line.name_zh if lang == "zh" else line.name_en) or line.name_en or line.sku
        qty = f"{line.weight_g}g" if line.weight_g is not None else str(line.quantity)
        marks: tuple[tuple[str, str], ...] = ()
        if line.price_overridden:
            listed = (list_prices or {}).get(line.sku)
            mark = (
                t("receipt.overridden_from", price=format_fen(listed))
                if listed is not None
                else t("receipt.overridden")
            )
            marks = ((mark, ""),)
        lines.append(
            ReceiptLine(
                name=name,
                quantity=qty,
                unit_price=format_fen(line.unit_price_fen),
                amount=format_fen(line.net_fen),
                discounts=marks
                + tuple((d.label, format_fen(-d.amount_fen)) for d in line.discounts),
            )
        )
    tenders = tuple(
        (t(f"receipt.tender.{t_.kind.value}"), format_fen(t_.tendered_fen or t_.amount_fen))
        for t_ in sale.tenders
    )
    totals: tuple[tuple[str, str], ...] = (
        (t("receipt.subtotal"), format_fen(sale.gross_fen)),
        (t("receipt.discount"), format_fen(-sale.discount_fen)),
    )
    member = sale.member_id is not None
    return Receipt(
        receipt_no=receipt_no,
        time=_local(sale.device_time, timezone),
        cashier=cashier,
        lines=tuple(lines),
        total=(t("receipt.total"), format_fen(sale.total_fen)),
        header=header,
        totals=totals,
        tier=t(f"receipt.tier.{sale.member_tier.value}") if sale.member_tier else "",
        member_phone=member_phone,
        points_earned=sale.points_earned if member else None,
        points_used=sale.points_redeemed if member and sale.points_redeemed else None,
        points_balance=points_balance if member else None,
        tenders=tenders,
        change=format_fen(sale.change_fen) if sale.change_fen else "",
        footer=(t("receipt.footer"),),
        language=lang,
        labels=_labels(lang),
        width=width,
        reprint=reprint,
    )


def return_receipt(
    ret: ReturnRecord,
    receipt_no: str,
    *,
    cashier: str,
    header: tuple[str, ...],
    language: str = "zh",
    width: int = 48,
    timezone: str = "Asia/Shanghai",
    sold: Mapping[int, SaleLine] | None = None,
    products: Mapping[str, Product] | None = None,
    member_phone: str = "",
    points_balance: int | None = None,
) -> Receipt:
    """The refund slip of a return: each item by name and unit price (from the original sale,
    or the catalogue for a return without one), the member and the points taken back."""
    lang = _lang(language)
    t = _t(lang)
    lines = []
    for line in ret.lines:
        original = (sold or {}).get(line.original_line_no)
        product = (products or {}).get(line.sku)
        if original is not None:
            zh, en, unit = original.name_zh, original.name_en, original.unit_price_fen
        elif product is not None:
            zh, en, unit = product.name_zh, product.name_en, product.price_fen
        else:
            zh, en, unit = "", "", None
        name = (zh if lang == "zh" else en) or en or zh or line.sku
        if line.original_line_no:
            name = f"#{line.original_line_no} {name}"
        if line.weight_g is None and line.quantity and unit is None:
            unit = line.refund_fen // line.quantity
        lines.append(
            ReceiptLine(
                name=name,
                quantity=f"{line.weight_g}g" if line.weight_g is not None else str(line.quantity),
                unit_price=format_fen(unit) if unit is not None else "",
                amount=format_fen(-line.refund_fen),
            )
        )
    member = ret.member_id is not None
    reversed_points = sum(p.delta for p in ret.points)
    refunds = tuple(
        (t(f"receipt.tender.{r.kind.value}"), format_fen(-r.amount_fen)) for r in ret.refunds
    )
    extra = []
    if ret.original_receipt_no:
        extra.append(t("receipt.original", receipt=ret.original_receipt_no))
    return Receipt(
        receipt_no=receipt_no,
        time=_local(ret.device_time, timezone),
        cashier=cashier,
        lines=tuple(lines),
        total=(t("receipt.refund"), format_fen(-ret.refund_fen)),
        member_phone=member_phone if member else "",
        totals=((t("receipt.points_reversed"), str(reversed_points)),) if reversed_points else (),
        points_balance=points_balance if member else None,
        header=(*header, t("receipt.return_title")),
        tenders=refunds,
        language=lang,
        labels=_labels(lang),
        width=width,
        extra=tuple(extra),
    )


def report_receipt(
    report: ShiftReport,
    *,
    cashier: str,
    header: tuple[str, ...],
    now: dt.datetime,
    language: str = "zh",
    width: int = 48,
    timezone: str = "Asia/Shanghai",
) -> Receipt:
    """An X or Z report as a slip for the drawer bag."""
    lang = _lang(language)
    t = _t(lang)
    rows: list[tuple[str, str]] = [
        (t("receipt.float"), format_fen(report.float_fen)),
        (t("receipt.sales"), str(report.sales_count)),
        (t("receipt.returns"), str(report.returns_count)),
    ]
    rows += [
        (t(f"receipt.tender.{kind}"), format_fen(amount))
        for kind, amount in report.by_tender.items()
    ]
    rows += [
        (t("receipt.cash_in"), format_fen(report.cash_in_fen)),
        (t("receipt.cash_out"), format_fen(report.cash_out_fen)),
        (t("receipt.expected"), format_fen(report.expected_cash_fen)),
    ]
    if report.counted_cash_fen is not None:
        rows.append((t("receipt.counted"), format_fen(report.counted_cash_fen)))
        rows.append((t("receipt.difference"), format_fen(report.difference_fen or 0)))
    title = t("receipt.report_title", kind=report.kind)
    return Receipt(
        receipt_no=f"{report.kind}-{report.shift_id[:8]}",
        time=_local(now, timezone),
        cashier=cashier,
        lines=(),
        total=(t("receipt.net_takings"), format_fen(sum(report.by_tender.values()))),
        header=(*header, title),
        totals=tuple(rows),
        language=lang,
        labels=_labels(lang),
        width=width,
        code="none",
    )
