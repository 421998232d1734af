"""Builds realistic SaleRecords straight from device/checkout/records.py for sync tests."""

from __future__ import annotations

import datetime as dt
import uuid

from device.checkout.records import SaleLine, SaleRecord, TenderKind, TenderLine

T0 = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def sale(n: int, unit_price_fen: int = 1234, quantity: int = 1) -> SaleRecord:
    """Sale number n: one cash line, total = unit_price_fen * quantity, no member."""
    gross = unit_price_fen * quantity
    line = SaleLine(
        line_no=1,
        sku=f"SKU{n % 97:03d}",
        barcode="6901234567892",
        name_zh="矿泉水",
        name_en="Mineral water",
        category="drinks",
        quantity=quantity,
        weight_g=None,
        unit_price_fen=unit_price_fen,
        gross_fen=gross,
        discounts=(),
        net_fen=gross,
        tax_rate_bp=1300,
        returnable=True,
    )
    return SaleRecord(
        sale_id=str(uuid.uuid4()),
        cashier_id="C01",
        shift_id="SH1",
        member_id=None,
        member_tier=None,
        lines=(line,),
        gross_fen=gross,
        discount_fen=0,
        total_fen=gross,
        tenders=(TenderLine(TenderKind.CASH, gross, tendered_fen=gross),),
        change_fen=0,
        points_earned=0,
        points_redeemed=0,
        points=(),
        device_time=T0 + dt.timedelta(seconds=n),
        clock_synced=True,
    )


def price_for(n: int) -> int:
    """A varied but reproducible price in fen for sale n (1.01 .. 99.99 yuan)."""
    return 101 + (n * 7919) % 9899
