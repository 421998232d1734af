"""Promotions from HQ in pricing: member price, buy X get Y, tier-only and timed offers.

Every expected figure is worked out by hand in the test's docstring or comment.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.checkout import events as ev
from device.checkout.cart import Cart
from device.checkout.commands import RecordSale
from device.checkout.config import CheckoutConfig
from device.checkout.errors import PricingError
from device.checkout.pricing import PricingConfig, price_cart
from device.checkout.promotions import Promotion, Schedule, _candidates
from device.checkout.records import Product, TenderKind, Tier
from tests.device.checkout.builders import member, product
from tests.device.checkout.fakes import Till

TEA = product("TEA", 1250, category="drinks")
SOAP = product("SOAP", 500, category="household")
SHAMPOO = product("SHAMPOO", 3000, category="household")
RICE = product("RICE", 880, sold_by_weight=True)
HOUSEHOLD = frozenset({"household"})

TEA_MEMBER = Promotion("MP", "会员价", "member_price", prices={"TEA": 1000, "RICE": 800},
                       with_tier_discount=False)  # fmt: skip
B2G1 = Promotion("B2G1", "买二送一", "buy_x_get_y", percent_bp=10_000, categories=HOUSEHOLD,
                 buy_qty=2, get_qty=1, repeat=True)  # fmt: skip
# 2026-06-03 is a Wednesday.
WEDNESDAY = Schedule(
    starts=dt.datetime(2026, 6, 1),
    ends=dt.datetime(2026, 7, 1),
    weekdays=frozenset({3}),
    from_minute=10 * 60,
    until_minute=22 * 60,
)
MEMBER_DAY = Promotion(
    "WED", "周三会员日", "item_percent", percent_bp=500, tiers=frozenset({Tier.GOLD}),
    schedule=WEDNESDAY,
)  # fmt: skip


def priced(cart: Cart, *promos: Promotion) -> tuple[int, list[list[tuple[str, int]]]]:
    result = price_cart(cart, PricingConfig(promotions=promos))
    lines = [[(d.kind, d.amount_fen) for d in line.discounts] for line in result.lines]
    return result.total_fen, lines


def test_member_price_is_for_members_and_replaces_the_tier_discount() -> None:
    tea = Cart().add(TEA, "t", quantity=2)  # 2 x 12.50 = 25.00
    assert priced(tea, TEA_MEMBER) == (2500, [[]])  # no member: catalogue price
    assert priced(tea.with_member(member(Tier.REGULAR)), TEA_MEMBER) == (2000, [[("promo", 500)]])
    # Gold would be 20% off 25.00 = 20.00 as a tier discount; the member price does not stack.
    assert priced(tea.with_member(member(Tier.GOLD)), TEA_MEMBER) == (2000, [[("promo", 500)]])
    # Unless HQ says it combines: 20.00 - 20% = 16.00.
    stacking = Promotion("MP", "会员价", "member_price", prices={"TEA": 1000},
                         with_tier_discount=True)  # fmt: skip
    gold = priced(tea.with_member(member(Tier.GOLD)), stacking)
    assert gold == (1600, [[("promo", 500), ("tier", 400)]])


def test_a_member_price_above_the_catalogue_price_changes_nothing() -> None:
    dear = Promotion("MP", "会员价", "member_price", prices={"TEA": 1300}, with_tier_discount=False)
    cart = Cart().add(TEA, "t", quantity=2).with_member(member(Tier.GOLD))
    assert priced(cart, dear) == (2000, [[("tier", 500)]])  # the tier discount as usual


def test_a_weighed_member_price_is_per_kilogram() -> None:
    """RICE 1.234 kg: 880/kg -> 1085.92 -> 1086; member 800/kg -> 987.2 -> 987; 99 off."""
    cart = Cart().add(RICE, "r", weight_g=1234).with_member(member(Tier.REGULAR))
    assert priced(cart, TEA_MEMBER) == (987, [[("promo", 99)]])


def test_buy_two_get_one_free_gives_the_cheapest_of_each_group() -> None:
    three = Cart().add(SOAP, "s", quantity=2).add(SHAMPOO, "h")  # units 30.00, 5.00, 5.00
    assert priced(three, B2G1) == (3500, [[("promo", 500)], []])
    # Six units: [30, 30, 5] [5, 5, 5]: one soap free in each group.
    six = Cart().add(SOAP, "s", quantity=4).add(SHAMPOO, "h", quantity=2)
    assert priced(six, B2G1) == (7000, [[("promo", 1000)], []])
    once = Promotion("B2G1", "买二送一", "buy_x_get_y", percent_bp=10_000, categories=HOUSEHOLD,
                     buy_qty=2, get_qty=1, repeat=False)  # fmt: skip
    assert priced(six, once) == (7500, [[("promo", 500)], []])
    # Two units only: no full group, nothing free.
    assert priced(Cart().add(SOAP, "s", quantity=2), B2G1) == (1000, [[]])


def test_second_item_half_price_rounds_each_unit_half_up() -> None:
    """第二件半价 on 12.55 tea x3: [12.55, 12.55] 6.275 -> 6.28 off; the third pays in full."""
    tea = Product("TEA", "茶", "Tea", "drinks", 1255)
    half = Promotion("HALF", "第二件半价", "buy_x_get_y", percent_bp=5000, skus=frozenset({"TEA"}),
                     buy_qty=1, get_qty=1, repeat=False)  # fmt: skip
    assert priced(Cart().add(tea, "t", quantity=3), half) == (3765 - 628, [[("promo", 628)]])


def test_a_line_takes_part_in_one_item_promotion_only() -> None:
    """Buy-2-get-1 claims the household lines; 10% off everything reaches only the tea."""
    ten = Promotion("ALL10", "全场9折", "item_percent", percent_bp=1000)
    cart = Cart().add(SOAP, "s", quantity=2).add(SHAMPOO, "h").add(TEA, "t")
    assert priced(cart, ten, B2G1) == (3500 + 1125, [[("promo", 500)], [], [("promo", 125)]])


def test_weighed_and_price_labelled_lines_take_no_part_in_buy_x_get_y() -> None:
    any_b1g1 = Promotion("B1G1", "买一送一", "buy_x_get_y", percent_bp=10_000, buy_qty=1,
                         get_qty=1)  # fmt: skip
    cart = Cart().add(RICE, "r", weight_g=1000).add(SOAP, "p", embedded_price_fen=700)
    assert priced(cart, any_b1g1) == (880 + 700, [[], []])


@pytest.mark.parametrize(
    ("opened", "tier", "off"),
    [
        (dt.datetime(2026, 6, 3, 10, 0), Tier.GOLD, 63),  # Wednesday 10:00: 5% of 12.50 = 0.625
        (dt.datetime(2026, 6, 3, 21, 59), Tier.GOLD, 63),
        (dt.datetime(2026, 6, 3, 9, 59), Tier.GOLD, 0),  # before the daily window
        (dt.datetime(2026, 6, 3, 22, 0), Tier.GOLD, 0),  # the window's end is exclusive
        (dt.datetime(2026, 6, 4, 12, 0), Tier.GOLD, 0),  # Thursday
        (dt.datetime(2026, 7, 1, 12, 0), Tier.GOLD, 0),  # a Wednesday after the end
        (dt.datetime(2026, 6, 3, 12, 0), Tier.SILVER, 0),  # gold members only
        (None, Tier.GOLD, 0),  # a limited offer is never given without knowing the time
    ],
)
def test_a_timed_tier_promotion_runs_only_when_and_for_whom_it_says(
    opened: dt.datetime | None, tier: Tier, off: int
) -> None:
    cart = Cart(opened_at=opened).add(TEA, "t").with_member(member(tier))
    tier_off = {Tier.GOLD: 2000, Tier.SILVER: 1000}[tier]
    after_promo = 1250 - off
    tier_amount = (after_promo * tier_off + 5000) // 10_000
    assert priced(cart, MEMBER_DAY)[0] == after_promo - tier_amount


def test_a_sale_opened_in_the_window_keeps_its_promotion_when_paid_after_it() -> None:
    """Lunch offer 11:00-14:00 local (UTC+8): the sale opened 13:59 is paid 14:01."""
    lunch = Promotion("LUNCH", "午市9折", "item_percent", percent_bp=1000,
                      schedule=Schedule(from_minute=11 * 60, until_minute=14 * 60))  # fmt: skip
    config = CheckoutConfig("S001", "S001-T01", pricing=PricingConfig(promotions=(lunch,)))
    tea = Product("TEA", "茶", "Tea", "drinks", 1250, barcodes=("6901234567892",))
    till = Till([tea], config=config)
    till.clock.current = dt.datetime(2026, 6, 3, 5, 59, tzinfo=dt.UTC)  # 13:59 in Shanghai
    till.send(ev.Login("c1", "1111"))
    till.send(ev.OpenShift(0, ev.ManagerCreds("m1", "9999")))
    till.send(ev.Scan("6901234567892"))
    till.clock.current = dt.datetime(2026, 6, 3, 6, 1, tzinfo=dt.UTC)  # 14:01
    till.send(ev.Subtotal())
    done = till.send(ev.AddTender(TenderKind.CASH, 2000))
    first = next(c.sale for c in done if isinstance(c, RecordSale))
    assert first.total_fen == 1125  # 10% off 12.50
    till.send(ev.SkipFeedback())
    till.send(ev.Scan("6901234567892"))
    done = till.send(ev.AddTender(TenderKind.CASH, 2000))
    second = next(c.sale for c in done if isinstance(c, RecordSale))
    assert second.total_fen == 1250  # opened after 14:00: no offer


def test_promotions_refuse_impossible_settings() -> None:
    with pytest.raises(PricingError, match="buy and get"):
        Promotion("X", "x", "buy_x_get_y", percent_bp=10_000, buy_qty=0, get_qty=1)
    with pytest.raises(PricingError, match="member prices"):
        Promotion("X", "x", "member_price")
    with pytest.raises(PricingError, match="daily window"):
        Schedule(from_minute=600, until_minute=600)


# -- properties -------------------------------------------------------------------------------

_products = st.builds(
    product,
    st.sampled_from(["A", "B", "C", "D"]),
    st.integers(0, 20_000),
    category=st.sampled_from(["drinks", "household"]),
    sold_by_weight=st.booleans(),
    tier_discount=st.booleans(),
)
_promotions = st.one_of(
    st.builds(Promotion, st.just("P"), st.just("pct"), st.just("item_percent"),
              percent_bp=st.integers(1, 10_000),
              categories=st.sampled_from([frozenset(), HOUSEHOLD]),
              with_tier_discount=st.booleans()),
    st.builds(Promotion, st.just("M"), st.just("mp"), st.just("member_price"),
              prices=st.dictionaries(st.sampled_from(["A", "B", "C"]), st.integers(0, 30_000),
                                     min_size=1),
              with_tier_discount=st.booleans()),
    st.builds(Promotion, st.just("X"), st.just("bxgy"), st.just("buy_x_get_y"),
              percent_bp=st.integers(1, 10_000), buy_qty=st.integers(1, 4),
              get_qty=st.integers(1, 3), repeat=st.booleans(),
              skus=st.sampled_from([frozenset(), frozenset({"A", "B"})])),
    st.builds(Promotion, st.just("S"), st.just("spend"), st.just("spend_get_off"),
              st.integers(1, 30_000), st.integers(1, 5000), repeat=st.booleans()),
)  # fmt: skip


@st.composite
def promo_carts(draw: st.DrawFn) -> Cart:
    cart = Cart(opened_at=dt.datetime(2026, 6, 3, 12, 0))
    for p in draw(st.lists(_products, max_size=6)):
        if p.sold_by_weight:
            cart = cart.add(p, "b", weight_g=draw(st.integers(1, 50_000)))
        else:
            cart = cart.add(p, "b", quantity=draw(st.integers(1, 12)))
        if draw(st.integers(0, 4)) == 0:
            cart = cart.override_price(cart.lines[-1].line_no, draw(st.integers(0, 20_000)))
    tier = draw(st.sampled_from([None, Tier.REGULAR, Tier.SILVER, Tier.GOLD]))
    return cart.with_member(member(tier) if tier is not None else None)


@settings(max_examples=400, deadline=None)
@given(promo_carts(), st.lists(_promotions, max_size=4))
def test_with_any_promotions_totals_are_never_negative_nor_discounts_above_gross(
    cart: Cart, promos: list[Promotion]
) -> None:
    result = price_cart(cart, PricingConfig(promotions=tuple(promos)))
    assert 0 <= result.total_fen <= result.gross_fen
    assert 0 <= result.discount_fen <= result.gross_fen
    assert result.total_fen == sum(line.net_fen for line in result.lines)
    for line in result.lines:
        assert 0 <= line.net_fen <= line.gross_fen
        assert line.net_fen == line.gross_fen - sum(d.amount_fen for d in line.discounts)
        assert all(d.amount_fen > 0 for d in line.discounts)
        promo_rows = [d for d in line.discounts if d.kind == "promo"]
        item_rows = [d for d in promo_rows if d.label != "spend"]
        assert len(item_rows) <= 1  # one item promotion per line at most


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 100_000), st.integers(1, 9), st.integers(1, 100_000), st.booleans())
def test_spend_offers_at_exact_thresholds_once_or_every_time(
    threshold: int, times: int, off_wanted: int, repeat: bool
) -> None:
    """A basket of exactly ``times`` x threshold gets the offer once, or ``times`` times when it
    repeats; one fen short of the threshold gets nothing."""
    off = min(off_wanted, threshold)
    spend = Promotion("S", "spend", "spend_get_off", threshold, off, repeat=repeat)
    item = product("A", threshold)
    exact = price_cart(Cart().add(item, "a", quantity=times), PricingConfig(promotions=(spend,)))
    assert exact.discount_fen == (off * times if repeat else off)
    short = product("B", threshold * times - 1)
    under = price_cart(Cart().add(short, "b"), PricingConfig(promotions=(spend,)))
    expected_under = off * (times - 1) if repeat else (off if times > 1 else 0)
    assert under.discount_fen == expected_under


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=20), st.integers(1, 4),
       st.integers(1, 3), st.booleans())  # fmt: skip
def test_buy_x_get_y_frees_exactly_y_units_per_full_group(
    prices: list[int], buy: int, get: int, repeat: bool
) -> None:
    free = Promotion("X", "bxgy", "buy_x_get_y", percent_bp=10_000, buy_qty=buy, get_qty=get,
                     repeat=repeat)  # fmt: skip
    cart = Cart()
    for i, price in enumerate(prices):
        cart = cart.add(product(f"U{i}", price), "u")
    result = price_cart(cart, PricingConfig(promotions=(free,)))
    groups = len(prices) // (buy + get)
    freed = (groups if repeat else min(groups, 1)) * get
    ordered = sorted(prices)
    # Freed units are the cheapest of their groups: never less than the cheapest units in the
    # whole basket, never more than the dearest ones.
    assert sum(ordered[:freed]) <= result.discount_fen <= sum(ordered[len(ordered) - freed :])
    assert sum(1 for line in result.lines if line.discounts) <= freed


@settings(max_examples=300, deadline=None)
@given(promo_carts(), st.lists(_promotions, max_size=8))
def test_the_lookup_finds_exactly_the_promotions_that_cover_each_line(
    cart: Cart, promos: list[Promotion]
) -> None:
    # Pricing looks promotions up by SKU and category rather than asking each one; the
    # answer must be the one asking each would give, in HQ's order.
    find = _candidates(promos)
    for line in cart.active_lines():
        assert find(line) == [k for k, p in enumerate(promos) if p.covers(line)]
