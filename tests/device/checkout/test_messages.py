"""The bilingual message catalogue: every key has both texts with the same placeholders."""

from __future__ import annotations

import string

import pytest

from device.checkout.messages import CATALOGUE, text


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_both_languages_use_the_same_placeholders(key: str) -> None:
    english, chinese = CATALOGUE[key]
    assert english.strip() and chinese.strip()
    assert _fields(english) == _fields(chinese)


def test_rendering_in_each_language() -> None:
    assert text("login.wrong_pin", "en", attempts=2) == "wrong PIN, 2 attempts left"
    assert text("login.wrong_pin", "zh", attempts=2) == "密码错误，还可尝试2次"
    assert text("product.unknown", "zh-CN", code="6901234567892") == "未知商品 6901234567892"
    # an unknown language falls back to English rather than failing at the till
    assert text("scan.first", "fr") == "scan an item first"


def test_a_member_tier_is_named_in_the_screen_language() -> None:
    """The member panel message must not show the internal tier key to a Chinese cashier."""
    zh = text("member.identified", "zh", phone="139****5024", tier="regular", points=18)
    assert "普通会员" in zh and "regular" not in zh
    assert "gold" in text("member.identified", "en", phone="139****5024", tier="gold", points=1)
