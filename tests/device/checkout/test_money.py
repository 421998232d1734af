"""The one rounding rule, splitting, tax included in prices, and ¥ formatting and parsing."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.checkout.money import (
    allocate,
    apply_bp,
    format_fen,
    parse_yuan,
    proportion,
    round_div,
    tax_included_fen,
)
from device.checkout.pricing import tax_by_rate
from device.checkout.records import SaleLine


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (5, 2, 3),  # 2.5: half away from zero
        (-5, 2, -3),
        (7, 2, 4),  # 3.5 (not to even: banker's rounding would give 4 here and 2 above)
        (249, 100, 2),
        (250, 100, 3),
        (-250, 100, -3),
        (-249, 100, -2),
        (5, -2, -3),
        (0, 7, 0),
    ],
)
def test_round_div_rounds_half_away_from_zero(
    numerator: int, denominator: int, expected: int
) -> None:
    assert round_div(numerator, denominator) == expected


def test_round_div_by_zero_is_refused() -> None:
    with pytest.raises(ZeroDivisionError):
        round_div(1, 0)


@settings(max_examples=300, deadline=None)
@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_round_div_agrees_with_exact_fractions(numerator: int, denominator: int) -> None:
    exact = Fraction(numerator, denominator)
    magnitude = abs(exact)
    whole = int(magnitude)
    rounded = whole + 1 if magnitude - whole >= Fraction(1, 2) else whole
    assert round_div(numerator, denominator) == (rounded if exact >= 0 else -rounded)


def test_rates_and_proportions() -> None:
    assert apply_bp(1250, 1000) == 125  # 10 % of ¥12.50
    assert apply_bp(1085, 2000) == 217  # 217.0
    assert apply_bp(1086, 2000) == 217  # 217.2 -> 217
    assert apply_bp(1088, 2000) == 218  # 217.6 -> 218
    assert proportion(1086, 234, 1234) == 206  # 205.93
    with pytest.raises(ValueError, match="positive whole"):
        proportion(100, 1, 0)


def test_allocate_by_hand() -> None:
    # 500 over 1800:869:3000 -> floors 158, 76, 264 (498); remainders favour the first two
    assert allocate(500, [1800, 869, 3000]) == [159, 77, 264]
    assert allocate(-10, [1, 1, 1]) == [-4, -3, -3]
    assert allocate(7, [0, 0]) == [0, 0]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**7), st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
def test_allocate_sums_exactly_and_stays_within_one_fen(amount: int, weights: list[int]) -> None:
    parts = allocate(amount, weights)
    total = sum(weights)
    if total == 0:
        assert parts == [0] * len(weights)
        return
    assert sum(parts) == amount
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(amount * weight, total)
        assert exact - 1 < part < exact + 1
        if amount <= total:
            assert part <= weight  # a spread discount never takes a line below zero


@pytest.mark.parametrize(
    ("fen", "text"),
    [(1250, "¥12.50"), (0, "¥0.00"), (5, "¥0.05"), (-300, "-¥3.00"), (123_456_789, "¥1234567.89")],
)
def test_format_fen(fen: int, text: str) -> None:
    assert format_fen(fen) == text


@pytest.mark.parametrize(
    ("text", "fen"),
    [("12", 1200), ("12.5", 1250), ("12.50", 1250), ("¥0.05", 5), (".5", 50), (" 3 ", 300)],
)
def test_parse_yuan(text: str, fen: int) -> None:
    assert parse_yuan(text) == fen


@pytest.mark.parametrize(
    ("text", "reason"),
    [("", "empty amount"), ("12.345", "more than two decimals"), ("1,2", "not an amount")],
)
def test_parse_yuan_refusals(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_yuan(text)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**9))
def test_format_and_parse_round_trip(fen: int) -> None:
    assert parse_yuan(format_fen(fen)) == fen


def test_tax_included_in_a_tax_inclusive_price() -> None:
    assert tax_included_fen(11_300, 1300) == 1300  # ¥113.00 at 13 % holds ¥13.00
    assert tax_included_fen(1000, 1300) == 115  # 1000 * 13 / 113 = 115.04
    assert tax_included_fen(1005, 1300) == 116  # 115.62 rounds up
    assert tax_included_fen(1090, 900) == 90  # 9 %: ¥10.90 holds ¥0.90
    assert tax_included_fen(999, 0) == 0
    with pytest.raises(ValueError, match="negative"):
        tax_included_fen(100, -1)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**9), st.integers(0, 10_000))
def test_tax_and_net_of_tax_add_back_to_the_price(amount: int, rate: int) -> None:
    tax = tax_included_fen(amount, rate)
    exact = Fraction(amount * rate, 10_000 + rate)
    assert abs(tax - exact) <= Fraction(1, 2)
    assert 0 <= tax <= amount


def _line(line_no: int, net: int, rate: int) -> SaleLine:
    return SaleLine(line_no, "S", "b", "商品", "item", "c", 1, None, net, net, (), net, rate, True)


def test_tax_per_line_and_per_rate_for_reports() -> None:
    lines = [_line(1, 11_300, 1300), _line(2, 1000, 1300), _line(3, 1090, 900)]
    assert [line.tax_fen for line in lines] == [1300, 115, 90]
    assert tax_by_rate(lines) == {1300: 1415, 900: 90}
    assert tax_by_rate([]) == {}
