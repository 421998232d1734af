"""Shared builders for the receipt-printer tests: sample receipts, configs, a running driver."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from device.drivers.printer import PrinterDriver
from device.drivers.printer_config import PrinterConfig
from device.drivers.receipt_layout import Receipt, ReceiptLine
from device.drivers.sim.printer_sim import PrinterSimulator


def member_receipt(
    width: int = 48, language: str = "zh", receipt_no: str = "S001-T02-20261123-0042", n: int = 3
) -> Receipt:
    """A Chinese member receipt with discounts, points, cash tender and change."""
    lines = tuple(
        ReceiptLine(
            name=f"有机全脂牛奶 1L 装 特价促销商品 第{i}号",
            quantity="2",
            unit_price="12.50",
            amount="25.00",
            discounts=(("会员8折", "-5.00"),) if i % 2 == 0 else (),
        )
        for i in range(n)
    )
    lines += (ReceiptLine("红富士苹果 Fuji", "0.512kg", "15.80/kg", "8.09"),)
    return Receipt(
        receipt_no=receipt_no,
        time="2026-11-23 14:05",
        cashier="张丽 (1002)",
        header=("好邻居便利店", "北京市朝阳区建国路 88 号", "电话 010-8888 6666"),
        lines=lines,
        totals=(("小计", "83.09"), ("会员折扣", "-10.00")),
        total=("应付", "¥73.09"),
        tier="金卡 8折",
        member_phone="13812345678",
        points_earned=7,
        points_used=0,
        points_balance=1234,
        tenders=(("现金", "100.00"),),
        change="26.91",
        footer=("凭小票7天内可退换", "谢谢惠顾，欢迎再次光临"),
        language=language,  # type: ignore[arg-type]
        width=width,
    )


def fast_config(path: str, spool_dir: str, **overrides: object) -> PrinterConfig:
    """A serial config with quick retries so fault tests finish quickly.

    The timeouts stay generous: on a busy machine the simulator can take seconds to answer,
    and a job the printer has not confirmed within job_timeout_s is assumed printed.
    """
    values: dict[str, object] = {
        "kind": "serial",
        "path": path,
        "spool_dir": spool_dir,
        "status_timeout_s": 2.0,
        "job_timeout_s": 60.0,
        "retry_min_s": 0.05,
        "retry_max_s": 0.2,
        "idle_poll_s": 0.2,
    }
    values.update(overrides)
    return PrinterConfig.from_dict(values)


@contextlib.contextmanager
def running(sim: PrinterSimulator, spool_dir: str, **overrides: object) -> Iterator[PrinterDriver]:
    """A started driver on the simulator's pty, stopped afterwards."""
    driver = PrinterDriver(fast_config(sim.path, spool_dir, **overrides))
    driver.start()
    try:
        yield driver
    finally:
        driver.stop()


WAIT_S = 30.0  # a deadline for a busy machine, never a speed check


def wait_for(predicate: object, timeout: float = WAIT_S) -> bool:
    """Poll a zero-argument predicate until true or timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return bool(predicate())  # type: ignore[operator]


def polls_answered(sim: PrinterSimulator, rounds: int = 3) -> bool:
    """Wait until the driver has asked the printer's status ``rounds`` more times.

    The proof that time has passed with the driver at work (retrying, or idle-polling),
    counted in the driver's own actions rather than in seconds.
    """
    start = sim.model.status_requests
    return wait_for(lambda: sim.model.status_requests >= start + 4 * rounds)
