"""A typed amount is a yuan figure with at most the yen sign before it, nothing else."""

from __future__ import annotations

import pytest

from device.checkout.money import parse_yuan


@pytest.mark.parametrize("text", ["X1.00", "XX5", "x3", "¥X2", "1.0X", "-1", "+1", "¥", "  "])
def test_anything_but_the_yen_sign_around_the_figure_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_yuan(text)


def test_the_yen_sign_and_spaces_are_dropped() -> None:
    assert parse_yuan("¥¥7") == 700  # a doubled key press of the sign
    assert parse_yuan("7.") == 700
    assert parse_yuan("0.1") == 10
