"""Tests for the immutable cart: adding, voiding, quantities, overrides and manual discounts."""

from __future__ import annotations

import re

import pytest

from device.checkout.cart import Cart, CartLimits, DiscountSpec
from device.checkout.errors import CartError, PricingError
from device.checkout.records import Tier
from tests.device.checkout.builders import member, product

TEA = product("TEA", 1250)
RICE = product("RICE", 880, sold_by_weight=True)


def test_add_counts_and_numbers_lines() -> None:
    cart = Cart().add(TEA, "6901234567892", quantity=2).add(TEA, "6901234567892")
    assert [line.line_no for line in cart.lines] == [1, 2]
    assert [line.gross_fen for line in cart.lines] == [2500, 1250]
    assert cart.item_count == 3


def test_operations_return_new_carts() -> None:
    empty = Cart()
    one = empty.add(TEA, "x")
    assert empty.is_empty() and not one.is_empty()


def test_weighed_line_rounds_to_the_fen() -> None:
    # ¥8.80/kg x 1.234 kg = 1085.92 fen -> 1086
    cart = Cart().add(RICE, "2512345012340", weight_g=1234)
    assert cart.lines[0].gross_fen == 1086
    # 3 fen/kg x 0.5 kg = 1.5 fen: half rounds away from zero
    assert (
        Cart().add(product("X", 3, sold_by_weight=True), "x", weight_g=500).lines[0].gross_fen == 2
    )


def test_weighed_product_needs_weight_and_counted_refuses_it() -> None:
    with pytest.raises(CartError, match="sold by weight"):
        Cart().add(RICE, "x")
    with pytest.raises(CartError, match="not sold by weight"):
        Cart().add(TEA, "x", weight_g=100)
    with pytest.raises(CartError, match="weight must be 1 g to 50000 g, not 60000 g"):
        Cart().add(RICE, "x", weight_g=60_000)


def test_price_labelled_item_uses_the_label_price() -> None:
    cart = Cart().add(RICE, "2012345012509", embedded_price_fen=1250)
    line = cart.lines[0]
    assert (line.gross_fen, line.embedded_price_fen, line.weight_g) == (1250, 1250, None)
    with pytest.raises(CartError, match="price-labelled"):
        cart.set_quantity(1, 2)


def test_quantity_bounds() -> None:
    cart = Cart().add(TEA, "x")
    assert cart.set_quantity(1, 9999).lines[0].quantity == 9999
    with pytest.raises(CartError, match="quantity must be 1 to 9999, not 10000"):
        cart.set_quantity(1, 10_000)
    with pytest.raises(CartError, match="not 0"):
        Cart().add(TEA, "x", quantity=0)
    small = Cart(limits=CartLimits(max_quantity=10))
    with pytest.raises(CartError, match="1 to 10"):
        small.add(TEA, "x", quantity=11)


def test_void_keeps_numbering_and_refuses_further_changes() -> None:
    cart = Cart().add(TEA, "x").add(TEA, "x").void_line(1)
    assert [line.line_no for line in cart.active_lines()] == [2]
    assert cart.add(TEA, "x").lines[-1].line_no == 3
    with pytest.raises(CartError, match="line 1 is void"):
        cart.void_line(1)
    with pytest.raises(CartError, match="no line 7"):
        cart.set_quantity(7, 2)
    assert cart.void_line(2).is_empty()


def test_override_price_marks_the_line() -> None:
    cart = Cart().add(TEA, "x", quantity=2).override_price(1, 1000)
    assert (cart.lines[0].gross_fen, cart.lines[0].price_overridden) == (2000, True)
    with pytest.raises(PricingError, match="out of range"):
        cart.override_price(1, -1)


def test_discount_spec_validation() -> None:
    with pytest.raises(PricingError, match="either a percentage or an amount"):
        DiscountSpec()
    with pytest.raises(PricingError, match="either a percentage or an amount"):
        DiscountSpec(percent_bp=1000, amount_fen=100)
    with pytest.raises(PricingError, match=re.escape("between 0.01% and 100%")):
        DiscountSpec(percent_bp=10_001)
    with pytest.raises(PricingError, match=re.escape("more than ¥0.00")):
        DiscountSpec(amount_fen=0)
    assert DiscountSpec(percent_bp=1250).label() == "-12.50%"
    assert DiscountSpec(amount_fen=500).label() == "-¥5.00"


def test_line_and_sale_discounts_cannot_exceed_the_price() -> None:
    cart = Cart().add(TEA, "x")
    with pytest.raises(PricingError, match=re.escape("more than line 1's ¥12.50")):
        cart.discount_line(1, DiscountSpec(amount_fen=1300))
    with pytest.raises(PricingError, match=re.escape("more than the sale's ¥12.50")):
        cart.discount_sale(DiscountSpec(amount_fen=1300))
    with pytest.raises(CartError, match="no lines"):
        Cart().discount_sale(DiscountSpec(percent_bp=500))
    assert (
        cart.discount_line(1, DiscountSpec(amount_fen=100))
        .discount_line(1, None)
        .lines[0]
        .line_discount
        is None
    )


def test_member_can_be_attached_and_removed() -> None:
    gold = member(Tier.GOLD)
    cart = Cart().add(TEA, "x").with_member(gold)
    assert cart.member == gold
    assert cart.with_member(None).member is None
