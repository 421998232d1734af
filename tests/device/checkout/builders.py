"""Small builders for checkout-core tests: products, members, and sales priced by the real code."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from device.checkout.cart import Cart
from device.checkout.loyalty import LoyaltyConfig, earnable_fen, points_earned
from device.checkout.pricing import PricingConfig, price_cart
from device.checkout.records import (
    Member,
    PointsDelta,
    PointsReason,
    Product,
    ReturnRecord,
    SaleRecord,
    TenderKind,
    TenderLine,
    Tier,
)
from device.checkout.returns import ReturnPlan
from device.checkout.tenders import settle

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def product(
    sku: str = "A1",
    price_fen: int = 1250,
    *,
    category: str = "grocery",
    sold_by_weight: bool = False,
    returnable: bool = True,
    tier_discount: bool = True,
) -> Product:
    """A catalogue product with only the fields a test cares about set."""
    return Product(
        sku=sku,
        name_zh=f"商品{sku}",
        name_en=f"Item {sku}",
        category=category,
        price_fen=price_fen,
        sold_by_weight=sold_by_weight,
        returnable=returnable,
        tier_discount=tier_discount,
    )


def member(tier: Tier = Tier.REGULAR, member_id: str = "M1", balance: int = 0) -> Member:
    """A member of a tier."""
    return Member(member_id=member_id, phone="13800135678", tier=tier, points_balance=balance)


def make_sale(
    cart: Cart,
    tenders: Sequence[TenderLine] | None = None,
    *,
    pricing: PricingConfig | None = None,
    loyalty: LoyaltyConfig | None = None,
    sale_id: str = "sale-1",
    when: dt.datetime = T0,
) -> SaleRecord:
    """Price a cart with the real pricing, settle tenders (all cash when None) and earn points."""
    pricing = pricing or PricingConfig()
    loyalty = loyalty or LoyaltyConfig()
    priced = price_cart(cart, pricing)
    if tenders is None:
        tenders = [TenderLine(TenderKind.CASH, priced.total_fen)] if priced.total_fen else []
    applied, change = settle(priced.total_fen, tenders, require_full=True)
    redeemed = sum(int(t.reference) for t in applied if t.kind is TenderKind.POINTS)
    member_ = cart.member
    earned = 0
    deltas: list[PointsDelta] = []
    if member_ is not None:
        earned = points_earned(earnable_fen(priced.total_fen, applied), member_.tier, loyalty)
        if redeemed:
            deltas.append(PointsDelta(member_.member_id, -redeemed, PointsReason.REDEEM, sale_id))
        if earned:
            deltas.append(PointsDelta(member_.member_id, earned, PointsReason.EARN, sale_id))
    return SaleRecord(
        sale_id=sale_id,
        cashier_id="C1",
        shift_id="SH1",
        member_id=member_.member_id if member_ else None,
        member_tier=member_.tier if member_ else None,
        lines=priced.lines,
        gross_fen=priced.gross_fen,
        discount_fen=priced.discount_fen,
        total_fen=priced.total_fen,
        tenders=applied,
        change_fen=change,
        points_earned=earned,
        points_redeemed=redeemed,
        points=tuple(deltas),
        device_time=when,
        clock_synced=True,
    )


def as_record(plan: ReturnPlan, sale: SaleRecord, return_id: str = "ret-1") -> ReturnRecord:
    """Record a planned return against its sale, as the till would."""
    return ReturnRecord(
        return_id=return_id,
        original_sale_id=sale.sale_id,
        original_receipt_no="S001-T01-20261120-0001",
        cashier_id="C1",
        shift_id="SH1",
        member_id=sale.member_id,
        lines=plan.lines,
        refund_fen=plan.refund_fen,
        refunds=plan.refunds,
        points=plan.points,
        authorised_by=None,
        device_time=sale.device_time,
        clock_synced=True,
    )
