"""Birthdays and message templates: when a birthday falls in a year, and filling a template.

A birthday on 29 February falls on 28 February in a common year (the last day of the month
the member was born in, so the gift never slips into March and never skips a year).

Templates are plain text with ``{placeholder}`` fields; only the fields listed in
``PLACEHOLDERS`` exist, so a typo is refused when the template is saved, not when 100,000
messages go out with a hole in them.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Final

from cloud.domain.errors import DomainError

KINDS: Final = ("purchase_confirmation", "birthday_greeting", "campaign_notice")
TEMPLATE_LANGUAGES: Final = ("zh_CN", "en")
#: Fields a template may use, and what each holds.
PLACEHOLDERS: Final = MappingProxyType(
    {
        "name": "the member's name (or 会员/member when none is held)",
        "member_id": "the member id",
        "tier": "the member's tier",
        "store": "the member's home store",
        "amount": "a sale's total, in yuan (purchase confirmation)",
        "points": "the member's points balance or a gift's points",
        "coupon": "a coupon code (birthday gift, campaign)",
        "campaign": "the campaign's name",
    }
)
MAX_TEMPLATE_CHARS: Final = 500

DEFAULT_TEMPLATES: Final[Mapping[tuple[str, str], str]] = MappingProxyType(
    {
        (
            "purchase_confirmation",
            "zh_CN",
        ): "{name}，感谢您在{store}消费{amount}元，当前积分{points}。",
        ("purchase_confirmation", "en"): (
            "{name}, thank you for spending ¥{amount} at {store}. Points balance: {points}."
        ),
        ("birthday_greeting", "zh_CN"): "{name}，生日快乐！您的生日礼已到账：{coupon}。",
        (
            "birthday_greeting",
            "en",
        ): "Happy birthday, {name}! Your birthday gift is ready: {coupon}.",
        ("campaign_notice", "zh_CN"): "{name}，{campaign}活动开始啦，{tier}会员专享。回复TD退订。",
        ("campaign_notice", "en"): (
            "{name}, {campaign} has started, for our {tier} members. Reply STOP to opt out."
        ),
    }
)


class TemplateError(DomainError):
    """A template that cannot be used; the message names the problem (in the catalogues, so
    the page says it in its reader's language)."""


def fields_of(text: str) -> list[str]:
    """The placeholder names ``text`` uses; TemplateError for a malformed one."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as err:
        raise TemplateError("malformed template: %(reason)s", reason=str(err)) from err
    names = []
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            raise TemplateError(
                "%(field)s: a placeholder is a bare name, like {name}", field="{" + name + "}"
            )
        names.append(name)
    return names


def check_template(text: str) -> str:
    """``text`` if it is a usable template; TemplateError says what is wrong."""
    if not text.strip() or len(text) > MAX_TEMPLATE_CHARS:
        raise TemplateError("a template holds 1..%(most)s characters", most=MAX_TEMPLATE_CHARS)
    unknown = sorted(set(fields_of(text)) - set(PLACEHOLDERS))
    if unknown:
        raise TemplateError(
            "unknown placeholder(s) %(unknown)s; known: %(known)s",
            unknown=", ".join(unknown),
            known=", ".join(PLACEHOLDERS),
        )
    return text


def render(text: str, values: Mapping[str, object]) -> str:
    """``text`` filled in; a known field with no value is left empty."""
    return text.format_map({name: values.get(name, "") for name in PLACEHOLDERS})


def birthday_in(year: int, birthday: dt.date) -> dt.date:
    """The day a birthday falls on in ``year`` (29 February: 28 February in a common year)."""
    try:
        return birthday.replace(year=year)
    except ValueError:  # only 29 February can fail
        return dt.date(year, 2, 28)


def next_birthday(birthday: dt.date, today: dt.date) -> dt.date:
    """The member's next birthday on or after ``today``."""
    this_year = birthday_in(today.year, birthday)
    return this_year if this_year >= today else birthday_in(today.year + 1, birthday)


def month_days(start: dt.date, days: int) -> Iterator[tuple[int, int]]:
    """The (month, day) birthdays falling on ``start`` and the ``days - 1`` days after it.

    In a common year 28 February also stands for 29 February.
    """
    for n in range(days):
        on = start + dt.timedelta(days=n)
        yield on.month, on.day
        if on.month == 2 and on.day == 28 and birthday_in(on.year, dt.date(2000, 2, 29)) == on:
            yield 2, 29
