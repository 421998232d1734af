"""Promotions at their edges: one-off against repeating, exact thresholds, caps and ties."""

from __future__ import annotations

import datetime as dt

import pytest

from device.checkout.cart import Cart
from device.checkout.errors import PricingError
from device.checkout.pricing import PricingConfig, price_cart
from device.checkout.promotions import Promotion, Schedule
from device.checkout.records import Tier
from tests.device.checkout.builders import member, product

SOAP = product("SOAP", 500, category="household")
TEA = product("TEA", 1000, category="drinks")
A = product("A", 10_000)


def total(cart: Cart, *promos: Promotion) -> int:
    return price_cart(cart, PricingConfig(promotions=promos)).total_fen


def spend(threshold: int, off: int, *, repeat: bool, promo_id: str = "S") -> Promotion:
    return Promotion(promo_id, promo_id, "spend_get_off", threshold, off, repeat=repeat)


def test_a_one_off_spend_offer_applies_once_however_often_the_threshold_is_reached() -> None:
    once = spend(10_000, 1000, repeat=False)
    assert total(Cart().add(A, "a", quantity=3), once) == 29_000
    every = spend(10_000, 1000, repeat=True)
    assert total(Cart().add(A, "a", quantity=3), every) == 27_000


def test_a_repeating_offer_counts_only_whole_thresholds() -> None:
    every = spend(10_000, 1000, repeat=True)
    just_under = Cart().add(A, "a").add(product("B", 9999), "b")  # 19_999: once
    assert total(just_under, every) == 18_999
    exactly = Cart().add(A, "a", quantity=2)  # 20_000: twice
    assert total(exactly, every) == 18_000
    below = Cart().add(product("B", 9999), "b")
    assert total(below, every) == 9999


def test_an_offer_never_takes_more_than_the_lines_it_covers() -> None:
    # no threshold, ¥5.00 off a ¥3.00 sale: ¥3.00 off, not -¥2.00
    anything = spend(0, 500, repeat=False)
    assert total(Cart().add(product("C", 300), "c"), anything) == 0
    assert total(Cart().add(product("C", 800), "c"), anything) == 300


def test_of_two_offers_saving_the_same_the_first_listed_applies() -> None:
    first = spend(5000, 500, repeat=False, promo_id="FIRST")
    second = spend(4000, 500, repeat=False, promo_id="SECOND")
    priced = price_cart(Cart().add(A, "a"), PricingConfig(promotions=(first, second)))
    assert [d.label for d in priced.lines[0].discounts] == ["FIRST"]
    bigger = spend(4000, 600, repeat=False, promo_id="BIGGER")
    priced = price_cart(Cart().add(A, "a"), PricingConfig(promotions=(first, bigger)))
    assert [d.label for d in priced.lines[0].discounts] == ["BIGGER"]
    assert priced.total_fen == 9400


def test_buy_two_get_one_once_frees_one_unit_of_six() -> None:
    once = Promotion("B2G1", "买二送一", "buy_x_get_y", percent_bp=10_000,
                     categories=frozenset({"household"}), buy_qty=2, get_qty=1)  # fmt: skip
    repeating = Promotion("B2G1R", "买二送一", "buy_x_get_y", percent_bp=10_000,
                          categories=frozenset({"household"}), buy_qty=2, get_qty=1,
                          repeat=True)  # fmt: skip
    six = Cart().add(SOAP, "s", quantity=6)  # ¥30.00
    assert total(six, once) == 2500
    assert total(six, repeating) == 2000
    two = Cart().add(SOAP, "s", quantity=2)  # not a full group: nothing free
    assert total(two, repeating) == 1000
    three = Cart().add(SOAP, "s", quantity=3)
    assert total(three, once) == 1000


def test_the_cheapest_units_of_a_group_are_the_ones_discounted() -> None:
    # units 10.00, 10.00 (tea), 5.00 (soap) in one group of 2+1: the soap is free
    both = Promotion("MIX", "买二送一", "buy_x_get_y", percent_bp=10_000, buy_qty=2, get_qty=1)
    priced = price_cart(
        Cart().add(SOAP, "s").add(TEA, "t", quantity=2), PricingConfig(promotions=(both,))
    )
    assert [line.net_fen for line in priced.lines] == [0, 2000]
    # scanned the other way round, the soap is still the free unit
    priced = price_cart(
        Cart().add(TEA, "t", quantity=2).add(SOAP, "s"), PricingConfig(promotions=(both,))
    )
    assert [line.net_fen for line in priced.lines] == [2000, 0]
    # second unit half price: 10.00 + 5.00 rounds each unit on its own
    half = Promotion("H", "第二件半价", "buy_x_get_y", percent_bp=5000, buy_qty=1, get_qty=1)
    priced = price_cart(Cart().add(product("D", 333), "d", quantity=2), PricingConfig(
        promotions=(half,)))  # fmt: skip
    assert priced.total_fen == 333 + 166  # 166.5 rounds half up to 167 off -> 166 paid


def test_the_better_of_two_item_offers_wins_and_the_first_on_a_tie() -> None:
    ten = Promotion("P10", "9折", "item_percent", percent_bp=1000)
    twenty = Promotion("P20", "8折", "item_percent", percent_bp=2000)
    other_ten = Promotion("Q10", "又9折", "item_percent", percent_bp=1000)
    priced = price_cart(Cart().add(TEA, "t"), PricingConfig(promotions=(ten, twenty)))
    assert [d.label for d in priced.lines[0].discounts] == ["8折"]
    priced = price_cart(Cart().add(TEA, "t"), PricingConfig(promotions=(ten, other_ten)))
    assert [d.label for d in priced.lines[0].discounts] == ["9折"]


def test_a_member_price_is_per_unit_and_never_raises_the_price() -> None:
    mp = Promotion("MP", "会员价", "member_price", prices={"TEA": 800})
    cart = Cart().add(TEA, "t", quantity=3).with_member(member(Tier.REGULAR))
    assert total(cart, mp) == 2400
    assert total(Cart().add(TEA, "t", quantity=3), mp) == 3000  # not a member
    dear = Promotion("MP", "会员价", "member_price", prices={"TEA": 1200})
    assert total(cart, dear) == 3000


def test_a_schedule_starts_on_its_start_and_stops_on_its_end() -> None:
    window = Schedule(starts=dt.datetime(2026, 6, 1), ends=dt.datetime(2026, 6, 2),
                      from_minute=9 * 60, until_minute=18 * 60)  # fmt: skip
    assert not window.active(dt.datetime(2026, 5, 31, 12, 0))
    assert window.active(dt.datetime(2026, 6, 1, 9, 0))
    assert not window.active(dt.datetime(2026, 6, 1, 8, 59))
    assert window.active(dt.datetime(2026, 6, 1, 17, 59))
    assert not window.active(dt.datetime(2026, 6, 1, 18, 0))
    assert not window.active(dt.datetime(2026, 6, 2, 0, 0))
    only_start = Schedule(starts=dt.datetime(2026, 6, 1))
    assert only_start.active(dt.datetime(2026, 6, 1))
    assert not only_start.active(dt.datetime(2026, 5, 31, 23, 59))
    only_end = Schedule(ends=dt.datetime(2026, 6, 2))
    assert only_end.active(dt.datetime(2026, 6, 1, 23, 59))
    assert not only_end.active(dt.datetime(2026, 6, 2))
    assert Schedule().always and Schedule().active(None)
    assert not only_start.always
    sundays = Schedule(weekdays=frozenset({7}))
    assert sundays.active(dt.datetime(2026, 6, 7, 12, 0))  # a Sunday
    assert not sundays.active(dt.datetime(2026, 6, 8, 12, 0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"from_minute": -1},
        {"from_minute": 600, "until_minute": 600},
        {"until_minute": 24 * 60 + 1},
        {"weekdays": frozenset({0})},
        {"weekdays": frozenset({8})},
        {"starts": dt.datetime(2026, 6, 2), "ends": dt.datetime(2026, 6, 2)},
    ],
)
def test_impossible_schedules_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(PricingError):
        Schedule(**kwargs)  # type: ignore[arg-type]


def test_the_edges_of_a_schedule_are_allowed() -> None:
    whole_day = Schedule(from_minute=0, until_minute=24 * 60, weekdays=frozenset({1, 7}))
    assert whole_day.active(dt.datetime(2026, 6, 1, 0, 0))  # a Monday, at midnight
    assert Schedule(from_minute=1439, until_minute=1440).active(dt.datetime(2026, 6, 1, 23, 59))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "item_percent", "percent_bp": 0},
        {"kind": "item_percent", "percent_bp": 10_001},
        {"kind": "spend_get_off", "off_fen": 0},
        {"kind": "spend_get_off", "off_fen": 100, "threshold_fen": -1},
        {"kind": "spend_get_off", "off_fen": 100, "repeat": True},
        {"kind": "member_price", "prices": {"TEA": -1}},
        {"kind": "buy_x_get_y", "percent_bp": 10_000, "buy_qty": 1, "get_qty": 0},
        {"kind": "buy_x_get_y", "percent_bp": 0, "buy_qty": 1, "get_qty": 1},
        {"kind": "buy_x_get_y", "percent_bp": 10_001, "buy_qty": 1, "get_qty": 1},
        {"kind": "lucky_draw"},
    ],
)
def test_impossible_promotions_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(PricingError):
        Promotion("X", "x", **kwargs)  # type: ignore[arg-type]


def test_the_edges_of_a_promotion_are_allowed() -> None:
    assert Promotion("X", "x", "item_percent", percent_bp=10_000).percent_bp == 10_000
    assert Promotion("X", "x", "item_percent", percent_bp=1).percent_bp == 1
    assert Promotion("X", "x", "spend_get_off", off_fen=1).threshold_fen == 0
    assert Promotion("X", "x", "member_price", prices={"TEA": 0}).prices["TEA"] == 0
    assert Promotion("X", "x", "buy_x_get_y", percent_bp=1, buy_qty=1, get_qty=1).buy_qty == 1


def test_tier_limited_offers_and_member_prices_need_a_member() -> None:
    gold_only = Promotion("G", "金卡9折", "item_percent", percent_bp=1000,
                          tiers=frozenset({Tier.GOLD}))  # fmt: skip
    assert gold_only.offered(Tier.GOLD, None)
    assert not gold_only.offered(Tier.SILVER, None)
    assert not gold_only.offered(None, None)
    mp = Promotion("MP", "会员价", "member_price", prices={"TEA": 800})
    assert mp.offered(Tier.REGULAR, None)
    assert not mp.offered(None, None)


@pytest.mark.parametrize(
    ("tier", "bp", "label"),
    [
        (Tier.GOLD, 2000, "gold -20%"),
        (Tier.SILVER, 1250, "silver -12.50%"),
        (Tier.SILVER, 1205, "silver -12.05%"),
        (Tier.SILVER, 1201, "silver -12.01%"),
        (Tier.SILVER, 100, "silver -1%"),
    ],
)
def test_the_tier_discount_is_labelled_with_its_percentage(tier: Tier, bp: int, label: str) -> None:
    config = PricingConfig(tier_discount_bp={tier: bp})
    priced = price_cart(Cart().add(A, "a").with_member(member(tier)), config)
    assert [d.label for d in priced.lines[0].discounts] == [label]


def test_a_tier_the_rules_leave_out_gets_no_tier_discount() -> None:
    gold_only = PricingConfig(tier_discount_bp={Tier.GOLD: 2000})
    regular = price_cart(Cart().add(A, "a").with_member(member(Tier.REGULAR)), gold_only)
    assert (regular.total_fen, regular.lines[0].discounts) == (10_000, ())
    gold = price_cart(Cart().add(A, "a").with_member(member(Tier.GOLD)), gold_only)
    assert gold.total_fen == 8000


def test_the_edges_of_the_discount_rules_are_allowed_and_beyond_them_refused() -> None:
    free_gold = PricingConfig(tier_discount_bp={Tier.GOLD: 10_000})
    assert price_cart(Cart().add(A, "a").with_member(member(Tier.GOLD)), free_gold).total_fen == 0
    assert PricingConfig(manager_discount_threshold_bp=0).manager_discount_threshold_bp == 0
    assert PricingConfig(manager_discount_threshold_bp=10_000).manager_discount_threshold_bp
    for bad in (
        {"tier_discount_bp": {Tier.GOLD: 10_001}},
        {"tier_discount_bp": {Tier.GOLD: -1}},
        {"manager_discount_threshold_bp": -1},
        {"manager_discount_threshold_bp": 10_001},
    ):
        with pytest.raises(PricingError):
            PricingConfig(**bad)  # type: ignore[arg-type]
