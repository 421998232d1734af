"""HQ's rules for the tills as one typed, bounded, versioned rule set on the config stream.

A rule set holds the loyalty figures (earning, redemption, expiry), the tiers (thresholds,
window, discount, points multiplier, birthday gift), the return policy and the promotions. It
travels as one config item whose value is a :class:`PublishedRules`:

- key ``rules``: the chain's rule set, pushed to every store;
- key ``rules:<store_id>``: one store's own rule set, pushed to that store only.

A till uses its store's rule set when it holds one, else the chain's, else the built-in
defaults (version ``""``). HQ assigns each published rule set a version (``r1``, ``r2``...)
that never changes meaning: a sale records the version it was priced with and the cloud
re-checks it against that version's figures. HQ and the till run the same checks
(:func:`decode_published`), so a till never takes a rule set HQ would have refused.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

from protocol.bounds import (
    MAX_BASIS_POINTS,
    MAX_FEN,
    Category,
    Fen,
    Sku,
)
from protocol.errors import ProtocolError

RULES_KEY: Final = "rules"
STORE_RULES_PREFIX: Final = "rules:"
#: Largest encoded rule set (member prices and SKU lists make it bigger than other config).
MAX_RULES_BYTES: Final = 256 * 1024
MAX_PROMOTIONS: Final = 200
MAX_SCOPE_SKUS: Final = 1000
MAX_SCOPE_CATEGORIES: Final = 100
MAX_MEMBER_PRICES: Final = 2000
TIER_NAMES: Final = ("regular", "silver", "gold")
#: The built-in defaults' version: what a till uses before HQ ever published rules.
DEFAULT_VERSION: Final = ""

TierName = Literal["regular", "silver", "gold"]
RulesVersion = Annotated[str, msgspec.Meta(pattern=r"^r[0-9]{1,12}$")]
PromoId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
PromoLabel = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Multiplier = Annotated[int, msgspec.Meta(ge=0, le=100_000)]  # basis points: 10000 is 1x
Percent = Annotated[int, msgspec.Meta(ge=1, le=MAX_BASIS_POINTS)]
BasisPoints = Annotated[int, msgspec.Meta(ge=0, le=MAX_BASIS_POINTS)]
#: A store-local date (the whole day) or date and minute, e.g. "2025-06-18" or "2025-06-18T10:00".
LocalTime = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d\d-\d\d(T\d\d:\d\d)?$")]
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^\d\d:\d\d$")]
Weekday = Annotated[int, msgspec.Meta(ge=1, le=7)]  # ISO: 1 Monday ... 7 Sunday


class RulesError(ProtocolError):
    """A rule set that cannot be used; the message starts with the field it is about."""


class _Rules(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    pass


class LoyaltyRules(_Rules, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Earning, redemption and expiry (the tier multipliers are in :class:`TierRule`)."""

    fen_per_point: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1000  # ¥10 paid: 1 point
    redeem_block_points: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 100
    redeem_block_value_fen: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 1000
    redeem_cap_bp: BasisPoints = 5000  # at most this share of a sale may be paid in points
    expiry_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] = 365


class BirthdayGift(_Rules, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """What a member of the tier gets on their birthday (issued by HQ's birthday job)."""

    kind: Literal["points", "amount_coupon", "percent_coupon"]
    value: Annotated[int, msgspec.Meta(ge=1, le=MAX_FEN)]  # points, fen, or basis points
    valid_days: Annotated[int, msgspec.Meta(ge=1, le=366)] = 30
    min_spend_fen: Fen = 0


class TierRule(_Rules, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """One tier: where it starts and what it gives."""

    tier: TierName
    threshold: Annotated[int, msgspec.Meta(ge=0, le=MAX_FEN)]  # fen spent, or visits
    discount_bp: BasisPoints = 0
    points_multiplier_bp: Multiplier = 10_000
    birthday_gift: BirthdayGift | None = None


def _default_levels() -> list[TierRule]:
    return [
        TierRule(tier="regular", threshold=0),
        TierRule(tier="silver", threshold=200_000, discount_bp=1000),  # ¥2,000: 9折
        TierRule(tier="gold", threshold=500_000, discount_bp=2000),  # ¥5,000: 8折
    ]


class TierRules(_Rules, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Tiers by cumulative spend (fen) or by visits, counted over a window (0: since joining)."""

    basis: Literal["spend", "visits"] = "spend"
    window_days: Annotated[int, msgspec.Meta(ge=0, le=3650)] = 0
    levels: Annotated[list[TierRule], msgspec.Meta(min_length=3, max_length=3)] = msgspec.field(
        default_factory=_default_levels
    )


class ReturnRules(_Rules, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """The return policy."""

    window_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 7
    max_returns_per_30_days: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 3
    no_receipt_cap_fen: Fen = 20_000


class Scope(_Rules, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """What a promotion covers: every item, or the SKUs and categories listed."""

    all: bool = False
    skus: Annotated[list[Sku], msgspec.Meta(max_length=MAX_SCOPE_SKUS)] = []
    categories: Annotated[list[Category], msgspec.Meta(max_length=MAX_SCOPE_CATEGORIES)] = []


class _Promotion(_Rules, kw_only=True, forbid_unknown_fields=True, frozen=True, tag_field="kind"):
    """What every promotion has: an id, receipt labels, who gets it and when it runs.

    ``tiers`` limits it to members of those tiers (empty: every customer). The schedule is in
    the store's local time: ``valid_from`` and ``valid_until`` (a bare date runs to the end of
    that day), the ISO weekdays (1 Monday; empty: every day) and a daily ``from_time`` to
    ``until_time`` (until is exclusive; both or neither).
    """

    id: PromoId
    label_zh: PromoLabel
    label_en: Annotated[str, msgspec.Meta(max_length=40)] = ""
    tiers: Annotated[list[TierName], msgspec.Meta(max_length=3)] = []
    valid_from: LocalTime | None = None
    valid_until: LocalTime | None = None
    weekdays: Annotated[list[Weekday], msgspec.Meta(max_length=7)] = []
    from_time: ClockTime | None = None
    until_time: ClockTime | None = None


class SpendOff(_Promotion, tag="spend_off", kw_only=True, forbid_unknown_fields=True, frozen=True):
    """满减: spend ``threshold_fen`` on the covered items, get ``off_fen`` off (each time, if
    ``repeat``)."""

    scope: Scope
    threshold_fen: Annotated[int, msgspec.Meta(ge=1, le=MAX_FEN)]
    off_fen: Annotated[int, msgspec.Meta(ge=1, le=MAX_FEN)]
    repeat: bool = False


class PercentOff(
    _Promotion, tag="percent_off", kw_only=True, forbid_unknown_fields=True, frozen=True
):
    """A percentage off the covered items (``percent_bp``: 1000 is 10% off, 9折)."""

    scope: Scope
    percent_bp: Percent
    with_tier_discount: bool = True


class MemberPrice(
    _Promotion, tag="member_price", kw_only=True, forbid_unknown_fields=True, frozen=True
):
    """会员价: a member's unit price per SKU (per kilogram for weighed items)."""

    prices: Annotated[dict[Sku, Fen], msgspec.Meta(min_length=1, max_length=MAX_MEMBER_PRICES)]
    with_tier_discount: bool = False


class BuyXGetY(
    _Promotion, tag="buy_x_get_y", kw_only=True, forbid_unknown_fields=True, frozen=True
):
    """Buy ``buy`` get ``get`` of the covered items at ``get_percent_bp`` off (10000: free);
    the cheaper units of each group are the ones discounted."""

    scope: Scope
    buy: Annotated[int, msgspec.Meta(ge=1, le=99)]
    get: Annotated[int, msgspec.Meta(ge=1, le=99)]
    get_percent_bp: Percent = MAX_BASIS_POINTS
    repeat: bool = True
    with_tier_discount: bool = True


Promotion = SpendOff | PercentOff | MemberPrice | BuyXGetY


class RuleSetBody(_Rules, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """What HQ submits: every section, so nothing is reset to a default by omission."""

    loyalty: LoyaltyRules
    tiers: TierRules
    returns: ReturnRules
    promotions: Annotated[list[Promotion], msgspec.Meta(max_length=MAX_PROMOTIONS)]
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""  # why it changed, for the history


class PublishedRules(RuleSetBody, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A rule set as HQ published it: the body plus its version, scope and time."""

    version: RulesVersion
    scope: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    published_at: Annotated[str, msgspec.Meta(max_length=40)]


def default_rules() -> RuleSetBody:
    """The built-in defaults (the mission's figures): what version "" means."""
    return RuleSetBody(loyalty=LoyaltyRules(), tiers=TierRules(), returns=ReturnRules(),
                       promotions=[])  # fmt: skip


def store_rules_key(store_id: str) -> str:
    """The config key of one store's own rule set."""
    return STORE_RULES_PREFIX + store_id


def rules_key(scope: str) -> str:
    """The config key a rule set for ``scope`` ("all" or a store id) is pushed under."""
    return RULES_KEY if scope == "all" else store_rules_key(scope)


def is_rules_key(key: str) -> bool:
    """Whether a config key holds a rule set (such keys are only pushed through HQ's rules API)."""
    return key == RULES_KEY or key.startswith(STORE_RULES_PREFIX)
