"""Consistent checkout records for store tests: sales from records.py, returns as the till plans."""

from __future__ import annotations

import datetime as dt
import uuid

from device.checkout.loyalty import LoyaltyConfig
from device.checkout.money import apply_bp
from device.checkout.records import (
    Discount,
    PointsDelta,
    PointsReason,
    ReturnRecord,
    SaleLine,
    SaleRecord,
    TenderKind,
    TenderLine,
    Tier,
)
from device.checkout.returns import ReturnPolicy, ReturnRequestLine, plan_return
from device.store.db import DbOptions
from device.store.staff import PinPolicy
from device.store.store import StoreConfig

T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
TIER_BP = {Tier.REGULAR: 0, Tier.SILVER: 1000, Tier.GOLD: 2000}


def make_sale(
    n_lines: int = 3,
    *,
    member_id: str | None = "M0001",
    tier: Tier = Tier.SILVER,
    redeem_blocks: int = 0,
    when: dt.datetime = T0,
    seed: int = 0,
    sale_id: str | None = None,
    coupon_codes: tuple[str, ...] = (),
) -> SaleRecord:
    """A sale whose totals, tenders and points add up (1 point/10 yuan, 100 points = 10 yuan)."""
    rate = TIER_BP[tier] if member_id else 0
    lines = []
    for i in range(n_lines):
        unit = 990 + 373 * ((seed + i) % 50)
        qty = 1 + (seed + i) % 3
        gross = unit * qty
        off = apply_bp(gross, rate)
        discounts = (Discount("tier", f"member {tier.value}", off),) if off else ()
        lines.append(
            SaleLine(
                line_no=i + 1,
                sku=f"SKU{(seed + i) % 1000:05d}",
                barcode=f"690{seed + i:010d}",
                name_zh="商品",
                name_en="item",
                category="grocery",
                quantity=qty,
                weight_g=None,
                unit_price_fen=unit,
                gross_fen=gross,
                discounts=discounts,
                net_fen=gross - off,
                tax_rate_bp=1300,
                returnable=True,
            )
        )
    gross = sum(line.gross_fen for line in lines)
    total = sum(line.net_fen for line in lines)
    # Whole blocks of 100 points (¥10), at most half the total: the default loyalty rules.
    blocks = min(redeem_blocks, total * 5000 // 10_000 // 1000)
    points_value = blocks * 1000
    redeemed = blocks * 100
    cash_due = total - points_value
    tendered = (cash_due // 10_000 + 1) * 10_000
    tenders = [TenderLine(TenderKind.CASH, cash_due, tendered_fen=tendered)]
    if redeemed:
        tenders.insert(0, TenderLine(TenderKind.POINTS, points_value, reference=str(redeemed)))
    sid = sale_id or str(uuid.uuid4())
    earned = (total - points_value) // 1000 if member_id else 0
    points: list[PointsDelta] = []
    if member_id and earned:
        points.append(PointsDelta(member_id, earned, PointsReason.EARN, sid))
    if member_id and redeemed:
        points.append(PointsDelta(member_id, -redeemed, PointsReason.REDEEM, sid))
    return SaleRecord(
        sale_id=sid, cashier_id="C01", shift_id="SH1", member_id=member_id,
        member_tier=tier if member_id else None, lines=tuple(lines), gross_fen=gross,
        discount_fen=gross - total, total_fen=total, tenders=tuple(tenders),
        change_fen=tendered - cash_due, points_earned=earned, points_redeemed=redeemed,
        points=tuple(points), device_time=when, clock_synced=True, coupon_codes=coupon_codes,
    )  # fmt: skip


def make_return(
    sale: SaleRecord, receipt_no: str, line_nos: tuple[int, ...] = (1,), *, when: dt.datetime = T0
) -> ReturnRecord:
    """A full return of some lines of ``sale``, planned by the till's own return rules.

    The refund goes back to the sale's tenders in proportion (a share paid with points comes
    back as points, not cash), and earned points are reversed, as the till records it. A
    return that paid the whole line back in cash would refund more money than the sale took
    and drive the member's spend below zero.
    """
    request = [
        ReturnRequestLine(line.line_no, line.quantity, line.weight_g)
        for line in sale.lines
        if line.line_no in line_nos
    ]
    plan = plan_return(
        sale, (), request, when, 0, ReturnPolicy(), LoyaltyConfig(), check_policy=False
    )
    return ReturnRecord(
        return_id=str(uuid.uuid4()), original_sale_id=sale.sale_id, original_receipt_no=receipt_no,
        cashier_id="C01", shift_id="SH1", member_id=sale.member_id, lines=plan.lines,
        refund_fen=plan.refund_fen, refunds=plan.refunds, points=plan.points,
        authorised_by=None, device_time=when, clock_synced=True, reason="faulty",
    )  # fmt: skip


class FakeClock:
    """A clock the test moves by hand (device time is an input, not a dependency to mock)."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.current = now

    def now(self) -> dt.datetime:
        return self.current

    def synced(self) -> bool:
        return True

    def advance(self, **kwargs: float) -> None:
        self.current += dt.timedelta(**kwargs)


def store_config(**db: object) -> StoreConfig:
    """Store settings for tests: terminal S001-T01, cheap argon2."""
    options = DbOptions(**db)  # type: ignore[arg-type]
    return StoreConfig(terminal_id="S001-T01", pin_policy=PinPolicy.for_tests(), db=options)
