"""Small builders for checkout-core tests: products, members, and sales priced by the real code."""

from __future__ import annotations

import datetime as dt

from device.checkout.records import Member, Product, Tier

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
