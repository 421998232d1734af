"""Suspended carts as plain data: a JSON round trip gives back the same cart."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from device.checkout.cart import Cart, DiscountSpec
from device.checkout.errors import CartError
from device.checkout.records import Member, Product, Tier
from device.checkout.snapshot import cart_from_plain, cart_to_plain

RICE = Product("R1", "大米", "Rice", "grain", 5990, barcodes=("6901234567892",))
APPLE = Product("A1", "苹果", "Apple", "fruit", 3980, sold_by_weight=True, tier_discount=False)
MEMBER = Member("M1", "13812345678", "Chen", Tier.GOLD, 800, 123_400, dt.date(1990, 5, 17))


def full_cart() -> Cart:
    cart = Cart().add(RICE, "6901234567892", quantity=3).add(APPLE, "2500234012502", weight_g=1250)
    cart = cart.add(RICE, "6901234567892").void_line(3)
    cart = cart.override_price(1, 4990).discount_line(2, DiscountSpec(percent_bp=1500))
    cart = cart.add(APPLE, "2012345002000", embedded_price_fen=2000)
    return cart.discount_sale(DiscountSpec(amount_fen=300)).with_member(MEMBER)


def test_round_trip_through_json_is_exact() -> None:
    cart = full_cart()
    plain = json.loads(json.dumps(cart_to_plain(cart)))
    assert cart_from_plain(plain) == cart


def test_empty_cart_round_trips() -> None:
    assert cart_from_plain(cart_to_plain(Cart())) == Cart()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ({"version": 99}, "unknown format 99"),
        ({"lines": [{"line_no": 1}]}, "cannot be read"),
        ({"member": {"member_id": "M1", "phone": "1", "tier": "platinum"}}, "cannot be read"),
    ],
)
def test_damaged_snapshot_is_refused_with_a_reason(damage: dict[str, object], reason: str) -> None:
    plain = cart_to_plain(full_cart()) | damage
    with pytest.raises(CartError, match=reason):
        cart_from_plain(plain)
