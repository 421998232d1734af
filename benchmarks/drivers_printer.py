"""Receipt rendering cost: a 30-line Chinese member sale to the printer's ESC/POS bytes.

`receipt.render_30_lines_zh_p99_ms` times the whole path the terminal takes when it prints:
device.receipts.sale_receipt (the committed SaleRecord to the printer's Receipt value, fen to
yuan text) then receipt_layout.render (python-escpos Dummy for the commands, GB18030 text,
column layout with CJK widths, QR and cut), on an 80 mm receipt with 30 item lines, half of
them discounted. The layout step alone is reported as receipt.layout_30_lines_zh_p99_ms, the
median too (the p99 on a shared machine is mostly scheduling noise), and the simulator's
decode of the same bytes, as the cost of checking a receipt in tests.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from benchmarks._stats import percentile
from device.checkout.records import (
    Discount,
    PointsDelta,
    PointsReason,
    SaleLine,
    SaleRecord,
    TenderKind,
    TenderLine,
    Tier,
)
from device.drivers.receipt_layout import Receipt, ReceiptLine, render
from device.drivers.sim.printer_sim import decode_bytes
from device.receipts import sale_receipt


def receipt_30_lines_zh() -> Receipt:
    """A realistic 30-line Chinese member receipt on 80 mm paper."""
    lines = tuple(
        ReceiptLine(
            name=f"商品{i:02d} 有机全脂牛奶 1L 装（冷藏）",
            quantity="2" if i % 3 else "0.512kg",
            unit_price="12.50" if i % 3 else "15.80/kg",
            amount=f"{25 + i}.00",
            discounts=(("会员8折", "-5.00"),) if i % 2 == 0 else (),
        )
        for i in range(30)
    )
    return Receipt(
        receipt_no="S001-T02-20261123-0042",
        time="2026-11-23 14:05",
        cashier="张丽 (1002)",
        header=("好邻居便利店", "北京市朝阳区建国路 88 号", "电话 010-8888 6666"),
        lines=lines,
        totals=(("小计", "1185.00"), ("会员折扣", "-75.00")),
        total=("应付", "¥1110.00"),
        tier="金卡 8折",
        member_phone="13812345678",
        points_earned=111,
        points_used=0,
        points_balance=1345,
        tenders=(("微信支付", "1110.00"),),
        footer=("凭小票7天内可退换", "谢谢惠顾，欢迎再次光临"),
        language="zh",
        width=48,
    )


def sale_30_lines_zh() -> SaleRecord:
    """A committed 30-line member sale, as the journal holds it (amounts in integer fen)."""
    lines = []
    for i in range(30):
        weighed = i % 3 == 0
        unit = 1580 if weighed else 1250
        gross = unit * 512 // 1000 if weighed else unit * 2
        off = (Discount("tier", "会员8折", 500),) if i % 2 == 0 else ()
        lines.append(
            SaleLine(
                line_no=i + 1,
                sku=f"SKU{i:04d}",
                barcode=f"69{i:011d}",
                name_zh=f"商品{i:02d} 有机全脂牛奶 1L 装（冷藏）",
                name_en=f"Item {i:02d} organic whole milk 1L (chilled)",
                category="dairy",
                quantity=1 if weighed else 2,
                weight_g=512 if weighed else None,
                unit_price_fen=unit,
                gross_fen=gross,
                discounts=off,
                net_fen=gross - sum(d.amount_fen for d in off),
                tax_rate_bp=900,
                returnable=True,
            )
        )
    gross = sum(line.gross_fen for line in lines)
    total = sum(line.net_fen for line in lines)
    return SaleRecord(
        sale_id="00000000-0000-4000-8000-000000000042",
        cashier_id="1002",
        shift_id="shift-1",
        member_id="M0001",
        member_tier=Tier.GOLD,
        lines=tuple(lines),
        gross_fen=gross,
        discount_fen=gross - total,
        total_fen=total,
        tenders=(TenderLine(TenderKind.MOBILE, total, approval_code="WX123"),),
        change_fen=0,
        points_earned=total // 1000,
        points_redeemed=0,
        points=(PointsDelta("M0001", total // 1000, PointsReason.EARN),),
        device_time=dt.datetime(2026, 11, 23, 6, 5, tzinfo=dt.UTC),
        clock_synced=True,
    )


def print_sale(sale: SaleRecord) -> bytes:
    """What the terminal does to print a committed sale: Receipt value, then ESC/POS bytes."""
    receipt = sale_receipt(
        sale,
        "S001-T02-20261123-0042",
        cashier="张丽 (1002)",
        header=("好邻居便利店", "北京市朝阳区建国路 88 号", "电话 010-8888 6666"),
        member_phone="13812345678",
        points_balance=1345,
    )
    return render(receipt)


def _samples_ms(fn: Callable[[], object], runs: int) -> list[float]:
    for _ in range(min(20, runs)):
        fn()
    samples: list[float] = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    return samples


def run(quick: bool) -> dict[str, float]:
    """Figures: sale-to-bytes p99 (the named figure), layout-only p99/p50, decode p50, in ms."""
    sale = sale_30_lines_zh()
    receipt = receipt_30_lines_zh()
    data = print_sale(sale)
    runs = 100 if quick else 1000
    printing = _samples_ms(lambda: print_sale(sale), runs)
    rendering = _samples_ms(lambda: render(receipt), runs)
    decoding = _samples_ms(lambda: decode_bytes(data, 48), max(20, runs // 5))
    return {
        "receipt.render_30_lines_zh_p99_ms": percentile(printing, 99),
        "receipt.render_30_lines_zh_p50_ms": percentile(printing, 50),
        "receipt.render_30_lines_zh_bytes": float(len(data)),
        "receipt.layout_30_lines_zh_p99_ms": percentile(rendering, 99),
        "receipt.layout_30_lines_zh_p50_ms": percentile(rendering, 50),
        "receipt.sim_decode_30_lines_zh_p50_ms": percentile(decoding, 50),
    }


if __name__ == "__main__":
    print(run(quick=False))
