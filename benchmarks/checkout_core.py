"""Checkout-core speed: pricing a 100-line member cart with promotions, and earning its points."""

from __future__ import annotations

import time

from benchmarks._stats import percentile
from device.checkout.cart import Cart, DiscountSpec
from device.checkout.loyalty import LoyaltyConfig, points_earned
from device.checkout.pricing import PricingConfig, Promotion, price_cart
from device.checkout.records import Member, Product, Tier


def _cart() -> Cart:
    """100 lines: counted and weighed items, a line discount, a sale discount, a gold member."""
    cart = Cart()
    for i in range(100):
        category = "drinks" if i % 3 == 0 else "grocery"
        if i % 10 == 0:
            product = Product(
                f"W{i}", f"散装{i}", f"Loose {i}", category, 880 + i, sold_by_weight=True
            )
            cart = cart.add(product, f"25{i:05d}", weight_g=500 + i)
        else:
            product = Product(f"P{i}", f"商品{i}", f"Item {i}", category, 199 + 37 * i)
            cart = cart.add(product, f"690{i:010d}", quantity=1 + i % 4)
    cart = cart.discount_line(5, DiscountSpec(percent_bp=500))
    cart = cart.discount_sale(DiscountSpec(amount_fen=1000))
    return cart.with_member(Member("M1", "13800135678", tier=Tier.GOLD))


def run(quick: bool) -> dict[str, float]:
    """p99 of price_cart + points_earned over many runs, in microseconds."""
    cart = _cart()
    pricing = PricingConfig(
        promotions=(
            Promotion(
                "P1", "饮料9折", "item_percent", percent_bp=1000, categories=frozenset({"drinks"})
            ),
            Promotion("P2", "每满100减10", "spend_get_off", 10_000, 1000, repeat=True),
        )
    )
    loyalty = LoyaltyConfig()
    runs = 200 if quick else 2000
    for _ in range(20):  # warm-up
        points_earned(price_cart(cart, pricing).total_fen, Tier.GOLD, loyalty)
    samples: list[float] = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        priced = price_cart(cart, pricing)
        points_earned(priced.total_fen, Tier.GOLD, loyalty)
        samples.append((time.perf_counter_ns() - start) / 1000)
    return {
        "checkout.total_100_lines_p99_us": round(percentile(samples, 99), 1),
        "checkout.total_100_lines_p50_us": round(percentile(samples, 50), 1),
    }
