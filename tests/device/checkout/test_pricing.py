"""Tests for cart pricing: the discount order, per-line visibility and the total invariants."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from device.checkout.cart import Cart, CartLine, DiscountSpec
from device.checkout.pricing import PricingConfig, Promotion, needs_manager, price_cart
from device.checkout.records import Tier
from tests.device.checkout.builders import member, product

TEA = product("TEA", 1250, category="drinks")
RICE = product("RICE", 880, sold_by_weight=True)
SMOKES = product("SMOKES", 3000, tier_discount=False)

DRINKS_10 = Promotion(
    "P1", "饮料9折", "item_percent", percent_bp=1000, categories=frozenset({"drinks"})
)
SPEND_50_OFF_5 = Promotion("P2", "满50减5", "spend_get_off", threshold_fen=5000, off_fen=500)


def test_regular_customer_pays_gross() -> None:
    priced = price_cart(Cart().add(TEA, "x", quantity=2), PricingConfig())
    assert (priced.gross_fen, priced.discount_fen, priced.total_fen, priced.tier) == (
        2500,
        0,
        2500,
        None,
    )
    assert priced.lines[0].discounts == ()


def test_silver_and_gold_tier_discounts() -> None:
    cart = Cart().add(TEA, "x", quantity=2)
    assert price_cart(cart.with_member(member(Tier.SILVER)), PricingConfig()).total_fen == 2250
    gold = price_cart(cart.with_member(member(Tier.GOLD)), PricingConfig())
    assert gold.total_fen == 2000
    assert [(d.kind, d.amount_fen) for d in gold.lines[0].discounts] == [("tier", 500)]
    assert gold.tier is Tier.GOLD


def test_full_order_worked_by_hand() -> None:
    """Gold member, drinks promotion, spend promotion and a ¥10 sale discount.

    TEA x2: 2500 - promo 250 = 2250 - tier 20% 450 = 1800
    RICE 1.234 kg at 880/kg: 1085.92 -> 1086 - tier 217.2 -> 217 = 869
    SMOKES (no tier discount): 3000
    running 5669 >= 5000: 500 off spread 1800:869:3000 -> floors 158, 76, 264 (498),
      remainders 4298, 3656, 3384 -> +1 to TEA and RICE -> 159, 77, 264 -> 1641, 792, 2736
    sale ¥10 over 5169: floors 317, 153, 529 (999), largest remainder 2427 (TEA) -> 318
      -> 1323, 639, 2207 = 4169
    """
    cart = (
        Cart()
        .add(TEA, "x", quantity=2)
        .add(RICE, "y", weight_g=1234)
        .add(SMOKES, "z")
        .with_member(member(Tier.GOLD))
        .discount_sale(DiscountSpec(amount_fen=1000))
    )
    config = PricingConfig(promotions=(DRINKS_10, SPEND_50_OFF_5))
    priced = price_cart(cart, config)
    assert [line.net_fen for line in priced.lines] == [1323, 639, 2207]
    assert [[(d.kind, d.amount_fen) for d in line.discounts] for line in priced.lines] == [
        [("promo", 250), ("tier", 450), ("promo", 159), ("sale", 318)],
        [("tier", 217), ("promo", 77), ("sale", 153)],
        [("promo", 264), ("sale", 529)],
    ]
    assert (priced.gross_fen, priced.discount_fen, priced.total_fen) == (6586, 2417, 4169)


def test_overridden_line_gets_no_promotion_or_tier_but_keeps_line_discount() -> None:
    cart = (
        Cart()
        .add(TEA, "x", quantity=2)
        .override_price(1, 1000)
        .discount_line(1, DiscountSpec(percent_bp=500))
        .with_member(member(Tier.GOLD))
    )
    priced = price_cart(cart, PricingConfig(promotions=(DRINKS_10,)))
    assert [(d.kind, d.amount_fen) for d in priced.lines[0].discounts] == [("line", 100)]
    assert priced.total_fen == 1900


def test_spend_threshold_below_and_at() -> None:
    config = PricingConfig(promotions=(SPEND_50_OFF_5,))
    below = Cart().add(product("A", 4999), "x")
    at = Cart().add(product("A", 5000), "x")
    assert price_cart(below, config).total_fen == 4999
    assert price_cart(at, config).total_fen == 4500


def test_repeating_spend_promotion_and_best_of_several() -> None:
    every_100 = Promotion("P3", "每满100减10", "spend_get_off", 10_000, 1000, repeat=True)
    flat_200 = Promotion("P4", "满200减15", "spend_get_off", 20_000, 1500)
    cart = Cart().add(product("A", 25_000), "x")
    priced = price_cart(cart, PricingConfig(promotions=(flat_200, every_100)))
    assert priced.total_fen == 23_000  # every-100 gives 2 x 10 = 20 > 15
    assert priced.lines[0].discounts[0].label == "每满100减10"


def test_promotion_limited_to_skus_counts_only_those_lines() -> None:
    tea_only = Promotion("P5", "茶满20减3", "spend_get_off", 2000, 300, skus=frozenset({"TEA"}))
    cart = Cart().add(TEA, "x").add(SMOKES, "y")
    priced = price_cart(cart, PricingConfig(promotions=(tea_only,)))
    assert priced.total_fen == 4250  # TEA alone is 1250 < 2000
    priced2 = price_cart(cart.add(TEA, "x"), PricingConfig(promotions=(tea_only,)))
    assert [line.net_fen for line in priced2.lines] == [1100, 3000, 1100]


def test_voided_lines_are_not_priced() -> None:
    cart = Cart().add(TEA, "x").add(SMOKES, "y").void_line(2)
    priced = price_cart(cart, PricingConfig())
    assert [line.line_no for line in priced.lines] == [1]
    assert priced.total_fen == 1250


def test_hundred_percent_sale_discount_gives_zero_not_negative() -> None:
    cart = Cart().add(TEA, "x").discount_sale(DiscountSpec(percent_bp=10_000))
    assert price_cart(cart, PricingConfig()).total_fen == 0


def test_needs_manager_above_threshold_only() -> None:
    config = PricingConfig()  # 10 %
    assert not needs_manager(DiscountSpec(percent_bp=1000), 5000, config)
    assert needs_manager(DiscountSpec(percent_bp=1001), 5000, config)
    assert not needs_manager(DiscountSpec(amount_fen=500), 5000, config)
    assert needs_manager(DiscountSpec(amount_fen=501), 5000, config)


_products = st.builds(
    lambda i, price, weighed, tier_ok, cat: product(
        f"S{i}", price, sold_by_weight=weighed, tier_discount=tier_ok, category=cat
    ),
    st.integers(0, 20),
    st.integers(0, 50_000),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["drinks", "grocery"]),
)
_specs = st.one_of(
    st.none(),
    st.builds(DiscountSpec, percent_bp=st.integers(1, 10_000)),
    st.builds(DiscountSpec, amount_fen=st.integers(1, 5000)),
)


@st.composite
def carts(draw: st.DrawFn) -> Cart:
    cart = Cart()
    for p in draw(st.lists(_products, min_size=0, max_size=8)):
        if p.sold_by_weight:
            cart = cart.add(p, "b", weight_g=draw(st.integers(1, 50_000)))
        else:
            cart = cart.add(p, "b", quantity=draw(st.integers(1, 20)))
        line_no = cart.lines[-1].line_no
        if draw(st.booleans()):
            cart = cart.override_price(line_no, draw(st.integers(0, 20_000)))
        spec = draw(_specs)
        if spec is not None and (spec.amount_fen or 0) <= cart.lines[-1].gross_fen:
            cart = cart.discount_line(line_no, spec)
        if draw(st.integers(0, 5)) == 0:
            cart = cart.void_line(line_no)
    tier = draw(st.sampled_from([None, Tier.REGULAR, Tier.SILVER, Tier.GOLD]))
    cart = cart.with_member(member(tier) if tier is not None else None)
    spec = draw(_specs)
    if not cart.is_empty() and spec is not None:
        gross = sum(line.gross_fen for line in cart.active_lines())
        if (spec.amount_fen or 0) <= gross:
            cart = cart.discount_sale(spec)
    return cart


@settings(max_examples=300, deadline=None)
@given(
    carts(),
    st.integers(0, 10_000),
    st.integers(0, 20_000),
    st.integers(1, 5000),
    st.booleans(),
)
def test_totals_equal_lines_minus_discounts_and_never_negative(
    cart: Cart, pct: int, threshold: int, off: int, repeat: bool
) -> None:
    promos: list[Promotion] = [
        Promotion("S", "spend", "spend_get_off", threshold or 1, off, repeat=repeat)
    ]
    if pct:
        promos.append(Promotion("I", "item", "item_percent", percent_bp=pct))
    priced = price_cart(cart, PricingConfig(promotions=tuple(promos)))
    assert priced.total_fen >= 0
    assert priced.total_fen == sum(line.net_fen for line in priced.lines)
    assert priced.total_fen == priced.gross_fen - priced.discount_fen
    for line in priced.lines:
        assert line.net_fen >= 0
        assert line.net_fen == line.gross_fen - sum(d.amount_fen for d in line.discounts)
        assert all(d.amount_fen > 0 for d in line.discounts)
    assert priced.gross_fen == sum(_gross_by_hand(line) for line in cart.active_lines())


def _gross_by_hand(line: CartLine) -> int:
    """Unit price times count, or per-kg price times grams / 1000 rounded half up (prices >= 0)."""
    if line.weight_g is None:
        return line.unit_price_fen * line.quantity
    exact = Fraction(line.unit_price_fen * line.weight_g, 1000)
    return int(exact + Fraction(1, 2))
