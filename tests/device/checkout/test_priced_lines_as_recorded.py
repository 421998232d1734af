"""A priced line is recorded whole: names, codes, prices, every discount with its label."""

from __future__ import annotations

from device.checkout.cart import Cart, DiscountSpec
from device.checkout.pricing import PricingConfig, price_cart
from device.checkout.promotions import Promotion
from device.checkout.records import Discount, Product, SaleLine, Tier
from tests.device.checkout.builders import member

TEA = Product("TEA", "绿茶", "Green tea", "drinks", 1000, tax_rate_bp=900)
SOAP = Product("SOAP", "香皂", "Soap", "household", 500)


def test_a_silver_members_lines_with_line_and_sale_discounts_worked_by_hand() -> None:
    """TEA x2 at ¥10.00, overridden to ¥9.00: 1800, no tier discount; -¥1.00 line: 1700.
    SOAP x1 ¥5.00: silver 10 % -> 50 off: 450.
    Sale -10 % of 2150 = 215, spread 1700:450 -> floors 170, 45 = 215: 1530, 405.
    """
    cart = (
        Cart()
        .add(TEA, "6901234567892", quantity=2)
        .add(SOAP, "6900000000017")
        .with_member(member(Tier.SILVER))
        .override_price(1, 900)
        .discount_line(1, DiscountSpec(amount_fen=100))
        .discount_sale(DiscountSpec(percent_bp=1000))
    )
    priced = price_cart(cart, PricingConfig())
    assert priced.lines == (
        SaleLine(
            line_no=1, sku="TEA", barcode="6901234567892", name_zh="绿茶", name_en="Green tea",
            category="drinks", quantity=2, weight_g=None, unit_price_fen=900, gross_fen=1800,
            discounts=(Discount("line", "-¥1.00", 100), Discount("sale", "-10%", 170)),
            net_fen=1530, tax_rate_bp=900, returnable=True, price_overridden=True,
        ),
        SaleLine(
            line_no=2, sku="SOAP", barcode="6900000000017", name_zh="香皂", name_en="Soap",
            category="household", quantity=1, weight_g=None, unit_price_fen=500, gross_fen=500,
            discounts=(Discount("tier", "silver -10%", 50), Discount("sale", "-10%", 45)),
            net_fen=405, tax_rate_bp=1300, returnable=True, price_overridden=False,
        ),
    )  # fmt: skip
    assert (priced.gross_fen, priced.discount_fen, priced.total_fen) == (2300, 365, 1935)


FREE_THIRD = Promotion("FREE", "买二送一", "buy_x_get_y", percent_bp=10_000, buy_qty=2,
                       get_qty=1, categories=frozenset({"household"}))  # fmt: skip
HALF_SECOND = Promotion("HALF", "第二件半价", "buy_x_get_y", percent_bp=5000, buy_qty=1,
                        get_qty=1)  # fmt: skip
TEN_OFF = Promotion("TEN", "全场9折", "item_percent", percent_bp=1000)


def test_of_two_group_offers_the_one_saving_most_takes_the_lines_whatever_the_order() -> None:
    # SOAP x3: the free third saves 500, half-price second saves 250 (one group, no repeat)
    soaps = Cart().add(SOAP, "s", quantity=3)
    for promos in ((FREE_THIRD, HALF_SECOND), (HALF_SECOND, FREE_THIRD)):
        priced = price_cart(soaps, PricingConfig(promotions=promos))
        assert priced.total_fen == 1000
        assert [d.label for d in priced.lines[0].discounts] == ["买二送一"]


def test_a_group_offer_works_again_on_the_lines_the_first_one_left() -> None:
    """SOAP x3 (line 1) and TEA x2 (line 2); the free third (household) and half price on
    the second unit (everything) both save 500, so the first listed takes the soap. Half
    price is then worked again on the tea alone: 1000 + 500 = 1500 for the tea. The 10 %
    offer finds no line left: each is already in a group offer."""
    cart = Cart().add(SOAP, "s", quantity=3).add(TEA, "t", quantity=2)
    priced = price_cart(cart, PricingConfig(promotions=(FREE_THIRD, HALF_SECOND, TEN_OFF)))
    assert [line.net_fen for line in priced.lines] == [1000, 1500]
    assert [[d.label for d in line.discounts] for line in priced.lines] == [
        ["买二送一"],
        ["第二件半价"],
    ]
