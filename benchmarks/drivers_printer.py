"""Receipt rendering cost: a 30-line Chinese member receipt from the Receipt value to ESC/POS.

`receipt.render_30_lines_zh_p99_ms` times receipt_layout.render (python-escpos Dummy for the
commands, GB18030 text, column layout with CJK widths, QR and cut) on an 80 mm receipt with
30 item lines, half of them with a discount line. The median is reported too (the p99 on a
shared machine is mostly scheduling noise), and the simulator's decode of the same bytes, as
the cost of checking a receipt in tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from benchmarks._stats import percentile
from device.drivers.receipt_layout import Receipt, ReceiptLine, render
from device.drivers.sim.printer_sim import decode_bytes


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
    """Figures: render p99 and simulator-decode p99, in milliseconds."""
    receipt = receipt_30_lines_zh()
    data = render(receipt)
    runs = 100 if quick else 1000
    rendering = _samples_ms(lambda: render(receipt), runs)
    decoding = _samples_ms(lambda: decode_bytes(data, 48), max(20, runs // 5))
    return {
        "receipt.render_30_lines_zh_p99_ms": percentile(rendering, 99),
        "receipt.render_30_lines_zh_p50_ms": percentile(rendering, 50),
        "receipt.render_30_lines_zh_bytes": float(len(data)),
        "receipt.sim_decode_30_lines_zh_p50_ms": percentile(decoding, 50),
    }


if __name__ == "__main__":
    print(run(quick=False))
