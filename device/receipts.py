"""Turning recorded sales, returns and shift reports into the printer's plain Receipt value."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from device.checkout.money import format_fen
from device.checkout.records import ReturnRecord, SaleRecord, ShiftReport
from device.drivers.receipt_layout import Language, Receipt, ReceiptLine

TENDER_NAMES = {
    "zh": {
        "cash": "现金",
        "card": "银行卡",
        "mobile": "扫码支付",
        "points": "积分",
        "coupon": "券",
    },
    "en": {
        "cash": "Cash",
        "card": "Card",
        "mobile": "Mobile",
        "points": "Points",
        "coupon": "Coupon",
    },
}
TIER_NAMES = {
    "zh": {"regular": "普通会员", "silver": "银卡会员", "gold": "金卡会员"},
    "en": {"regular": "Regular", "silver": "Silver", "gold": "Gold"},
}


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
) -> Receipt:
    """The receipt of a committed sale, exactly as the journal holds it."""
    lang = _lang(language)
    lines = []
    for line in sale.lines:
        name = (line.name_zh if lang == "zh" else line.name_en) or line.name_en or line.sku
        qty = f"{line.weight_g}g" if line.weight_g is not None else str(line.quantity)
        lines.append(
            ReceiptLine(
                name=name,
                quantity=qty,
                unit_price=format_fen(line.unit_price_fen),
                amount=format_fen(line.net_fen),
                discounts=tuple((d.label, format_fen(-d.amount_fen)) for d in line.discounts),
            )
        )
    names = TENDER_NAMES[lang]
    tenders = tuple(
        (names.get(t.kind.value, t.kind.value), format_fen(t.tendered_fen or t.amount_fen))
        for t in sale.tenders
    )
    totals: tuple[tuple[str, str], ...] = (
        ("小计" if lang == "zh" else "Subtotal", format_fen(sale.gross_fen)),
        ("优惠" if lang == "zh" else "Discount", format_fen(-sale.discount_fen)),
    )
    member = sale.member_id is not None
    return Receipt(
        receipt_no=receipt_no,
        time=_local(sale.device_time, timezone),
        cashier=cashier,
        lines=tuple(lines),
        total=("合计" if lang == "zh" else "TOTAL", format_fen(sale.total_fen)),
        header=header,
        totals=totals,
        tier=TIER_NAMES[lang].get(sale.member_tier.value, "") if sale.member_tier else "",
        member_phone=member_phone,
        points_earned=sale.points_earned if member else None,
        points_used=sale.points_redeemed if member and sale.points_redeemed else None,
        points_balance=points_balance if member else None,
        tenders=tenders,
        change=format_fen(sale.change_fen) if sale.change_fen else "",
        footer=("谢谢惠顾，欢迎再来" if lang == "zh" else "Thank you, please come again",),
        language=lang,
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
) -> Receipt:
    """The refund slip of a return."""
    lang = _lang(language)
    lines = tuple(
        ReceiptLine(
            name=f"#{line.original_line_no} {line.sku}",
            quantity=f"{line.weight_g}g" if line.weight_g is not None else str(line.quantity),
            unit_price="",
            amount=format_fen(-line.refund_fen),
        )
        for line in ret.lines
    )
    names = TENDER_NAMES[lang]
    refunds = tuple(
        (names.get(t.kind.value, t.kind.value), format_fen(-t.amount_fen)) for t in ret.refunds
    )
    extra = []
    if ret.original_receipt_no:
        extra.append(("原单 " if lang == "zh" else "Original ") + ret.original_receipt_no)
    return Receipt(
        receipt_no=receipt_no,
        time=_local(ret.device_time, timezone),
        cashier=cashier,
        lines=lines,
        total=("退款" if lang == "zh" else "REFUND", format_fen(-ret.refund_fen)),
        header=(*header, "退货单" if lang == "zh" else "RETURN"),
        tenders=refunds,
        language=lang,
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
    names = TENDER_NAMES[lang]
    zh = lang == "zh"
    rows: list[tuple[str, str]] = [
        ("备用金" if zh else "Float", format_fen(report.float_fen)),
        ("销售笔数" if zh else "Sales", str(report.sales_count)),
        ("退货笔数" if zh else "Returns", str(report.returns_count)),
    ]
    rows += [
        (names.get(kind, kind), format_fen(amount)) for kind, amount in report.by_tender.items()
    ]
    rows += [
        ("存入" if zh else "Cash in", format_fen(report.cash_in_fen)),
        ("取出" if zh else "Cash out", format_fen(report.cash_out_fen)),
        ("应有现金" if zh else "Expected cash", format_fen(report.expected_cash_fen)),
    ]
    if report.counted_cash_fen is not None:
        rows.append(("实点现金" if zh else "Counted cash", format_fen(report.counted_cash_fen)))
        rows.append(("差额" if zh else "Difference", format_fen(report.difference_fen or 0)))
    title = f"{report.kind} {'报表' if zh else 'REPORT'}"
    return Receipt(
        receipt_no=f"{report.kind}-{report.shift_id[:8]}",
        time=_local(now, timezone),
        cashier=cashier,
        lines=(),
        total=("净收款" if zh else "NET TAKINGS", format_fen(sum(report.by_tender.values()))),
        header=(*header, title),
        totals=tuple(rows),
        language=lang,
        width=width,
        code="none",
    )
