"""Reading and checking a rule set: the types first, then whether its parts agree.

The types (protocol.rules) bound every figure; the checks here catch what only the whole can
show: tier thresholds that do not rise, points worth more than the money that earns them, a
promotion covering nothing, two promotions with one id, a schedule that ends before it
starts. Each error names the field, the way HQ's form would point at it
(``tiers.levels[2].threshold: ...``). HQ runs them before storing a rule set and the till
again before using one, so a rule set one side refuses the other never uses.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from protocol.bounds import MAX_BASIS_POINTS, MAX_POINTS
from protocol.rules import (
    MAX_RULES_BYTES,
    RULES_KEY,
    STORE_RULES_PREFIX,
    TIER_NAMES,
    BirthdayGift,
    BuyXGetY,
    MemberPrice,
    PercentOff,
    Promotion,
    PublishedRules,
    RulesError,
    RuleSetBody,
    Scope,
    SpendOff,
    TierRules,
    is_rules_key,
    rules_key,
)


def _where(err: msgspec.ValidationError) -> str:
    """msgspec's "Expected ... - at `$.a.b`" as "a.b: expected ..." (the field first)."""
    text = str(err)
    message, sep, path = text.rpartition(" - at `")
    if not sep:
        return f"rule set: {text}"
    field = path.rstrip("`").removeprefix("$").lstrip(".") or "rule set"
    return f"{field}: {message[:1].lower()}{message[1:]}"


def decode_body(data: Any) -> RuleSetBody:
    """A rule set as HQ received it (plain JSON values), typed and checked, or RulesError."""
    try:
        body = msgspec.convert(data, RuleSetBody)
    except msgspec.ValidationError as err:
        raise RulesError(_where(err)) from None
    check_rules(body)
    return body


def decode_published(data: Any, key: str | None = None) -> PublishedRules:
    """A published rule set (a config item's value), typed and checked, or RulesError.

    With ``key``, the rule set's scope must match it: ``rules`` holds the chain's rule set
    and ``rules:S001`` store S001's.
    """
    try:
        rules = msgspec.convert(data, PublishedRules)
    except msgspec.ValidationError as err:
        raise RulesError(_where(err)) from None
    if key is not None:
        expected = "all" if key == RULES_KEY else key.removeprefix(STORE_RULES_PREFIX)
        if not is_rules_key(key) or rules.scope != expected:
            raise RulesError(f"scope: a rule set for {rules.scope!r} under the key {key!r}")
    check_rules(rules)
    return rules


def publish(body: RuleSetBody, version: str, scope: str, at: dt.datetime) -> PublishedRules:
    """The published form of ``body`` (checked again: a bad version or scope cannot pass)."""
    stamp = at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    data = {**to_plain(body), "version": version, "scope": scope, "published_at": stamp}
    return decode_published(data, rules_key(scope))


def to_plain(rules: RuleSetBody) -> dict[str, Any]:
    """A rule set as plain JSON values (what a config item's value holds)."""
    plain: dict[str, Any] = msgspec.to_builtins(rules)
    return plain


def check_rules(body: RuleSetBody) -> None:
    """Raise RulesError for the first part of ``body`` that disagrees with another."""
    size = len(msgspec.json.encode(body))
    if size > MAX_RULES_BYTES:
        raise RulesError(f"rule set: {size} bytes encoded, at most {MAX_RULES_BYTES}")
    _tiers(body.tiers)
    _earning(body)
    seen: dict[str, int] = {}
    for i, promo in enumerate(body.promotions):
        at = f"promotions[{i}]"
        if promo.id in seen:
            first = seen[promo.id]
            raise RulesError(f"{at}.id: {promo.id!r} is already the id of promotions[{first}]")
        seen[promo.id] = i
        _promotion(at, promo)


def _tiers(tiers: TierRules) -> None:
    previous = -1
    for i, level in enumerate(tiers.levels):
        at = f"tiers.levels[{i}]"
        if level.tier != TIER_NAMES[i]:
            raise RulesError(f"{at}.tier: expected {TIER_NAMES[i]!r} (levels run "
                             f"{', '.join(TIER_NAMES)})")  # fmt: skip
        if i == 0 and level.threshold != 0:
            raise RulesError(f"{at}.threshold: regular starts at 0 (every member is regular)")
        if i > 0 and level.threshold <= previous:
            below = TIER_NAMES[i - 1]
            raise RulesError(f"{at}.threshold: {level.threshold} must be above {below}'s "
                             f"{previous} (thresholds rise with the tier)")  # fmt: skip
        previous = level.threshold
        if level.birthday_gift is not None:
            _gift(f"{at}.birthday_gift", level.birthday_gift)


def _gift(at: str, gift: BirthdayGift) -> None:
    if gift.kind == "percent_coupon" and gift.value > MAX_BASIS_POINTS:
        raise RulesError(f"{at}.value: a percent coupon is at most {MAX_BASIS_POINTS} bp (100%)")
    if gift.kind == "points" and gift.value > MAX_POINTS:
        raise RulesError(f"{at}.value: at most {MAX_POINTS} points")


def _earning(body: RuleSetBody) -> None:
    """Points earned by paying must be worth less than the payment (else a money machine)."""
    loyalty = body.loyalty
    top = max(level.points_multiplier_bp for level in body.tiers.levels)
    # value of the points earned per fen paid = (block value / block points) * (top / 10000)
    #   / fen_per_point; it must stay below 1 fen.
    earned_value = loyalty.redeem_block_value_fen * top
    paid = loyalty.redeem_block_points * loyalty.fen_per_point * MAX_BASIS_POINTS
    if earned_value >= paid:
        raise RulesError(
            "loyalty.fen_per_point: the points earned by paying would be worth as much as the "
            "payment itself (raise fen_per_point or the block's points, or lower the multiplier)"
        )


def _scope(at: str, scope: Scope) -> None:
    if scope.all and (scope.skus or scope.categories):
        raise RulesError(f"{at}.scope: either all items, or the SKUs and categories listed")
    if not scope.all and not scope.skus and not scope.categories:
        raise RulesError(f"{at}.scope: names no SKU or category (set all: true for every item)")
    for name, values in (("skus", scope.skus), ("categories", scope.categories)):
        if len(set(values)) != len(values):
            raise RulesError(f"{at}.scope.{name}: a value is listed twice")


def _minute(at: str, name: str, text: str) -> int:
    hours, minutes = int(text[:2]), int(text[3:])
    if hours > 24 or minutes > 59 or (hours == 24 and minutes):
        raise RulesError(f"{at}.{name}: {text!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def _schedule(at: str, promo: Promotion) -> None:
    bounds: list[dt.datetime] = []
    for name in ("valid_from", "valid_until"):
        text = getattr(promo, name)
        if text is None:
            continue
        try:
            bounds.append(dt.datetime.fromisoformat(text))
        except ValueError:
            raise RulesError(f"{at}.{name}: {text!r} is not a date (YYYY-MM-DD[THH:MM])") from None
    if promo.valid_from is not None and promo.valid_until is not None:
        start, end = bounds
        if "T" not in promo.valid_until:
            end += dt.timedelta(days=1)  # a bare date runs to the end of that day
        if end <= start:
            raise RulesError(f"{at}.valid_until: {promo.valid_until} is not after valid_from")
    if len(set(promo.weekdays)) != len(promo.weekdays):
        raise RulesError(f"{at}.weekdays: a day is listed twice")
    if (promo.from_time is None) != (promo.until_time is None):
        raise RulesError(f"{at}.until_time: give both from_time and until_time, or neither")
    if promo.from_time is not None and promo.until_time is not None:
        start_m, end_m = (
            _minute(at, "from_time", promo.from_time),
            _minute(at, "until_time", promo.until_time),
        )
        if end_m <= start_m:
            raise RulesError(f"{at}.until_time: {promo.until_time} is not after "
                             f"{promo.from_time} (a daily window within one day)")  # fmt: skip
    if len(set(promo.tiers)) != len(promo.tiers):
        raise RulesError(f"{at}.tiers: a tier is listed twice")


def _promotion(at: str, promo: Promotion) -> None:
    _schedule(at, promo)
    if isinstance(promo, SpendOff):
        _scope(at, promo.scope)
        if promo.off_fen > promo.threshold_fen:
            raise RulesError(f"{at}.off_fen: {promo.off_fen} off is more than the "
                             f"{promo.threshold_fen} that must be spent")  # fmt: skip
    elif isinstance(promo, PercentOff | BuyXGetY):
        _scope(at, promo.scope)
    elif isinstance(promo, MemberPrice) and not promo.prices:
        raise RulesError(f"{at}.prices: names no SKU")
