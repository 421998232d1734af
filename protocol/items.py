"""Typed downstream stream items (catalogue, prices, members, coupons, config) with explicit bounds.

HQ validates every pushed item against these before it is stored or sent, so a till never
receives an item it cannot apply (a catalogue item without ``sku`` once broke every later
catalogue snapshot of its store). An upsert carries a full item; a delete carries the key only.
Field names are the ones the terminal's caches read (device/store/*).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Annotated, Any, Final, Literal

import msgspec

from protocol.bounds import (
    CATEGORY_CHARS,
    MAX_POINTS,
    NAME_CHARS,
    PHONE_CHARS,
    SKU_CHARS,
)
from protocol.errors import ProtocolError
from protocol.rules import RulesError, is_rules_key
from protocol.rules_check import decode_published
from protocol.staff import StaffItem

# Sized from protocol.bounds: a product name, SKU or phone a till accepts here must also fit
# the sale or registration event it ends up in, or that event would be refused at ingest.
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=SKU_CHARS, pattern=r"^\S(.*\S)?$")]
Text = Annotated[str, msgspec.Meta(max_length=NAME_CHARS)]
ShortText = Annotated[str, msgspec.Meta(max_length=CATEGORY_CHARS)]
#: A price or amount in fen: up to 10,000,000 yuan, far above anything a till sells.
Fen = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
Barcode = Annotated[str, msgspec.Meta(min_length=1, max_length=48, pattern=r"^[0-9A-Za-z]+$")]
IsoDate = Annotated[str, msgspec.Meta(pattern=r"^\d{4}-\d\d-\d\d$")]
IsoTime = Annotated[
    str, msgspec.Meta(max_length=40, pattern=r"^\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:\d\d)?$")
]
StoreId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
#: Most items one push may carry (a message must also fit the protocol's batch size).
MAX_ITEMS: Final = 10_000


class ItemError(ProtocolError):
    """A pushed item that does not match its stream's schema; the message names the field."""


class _Item(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    pass


class CatalogueItem(_Item, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A product as the till's catalogue holds it."""

    sku: Key
    name_zh: Text = ""
    name_en: Text = ""
    category: ShortText = ""
    category_zh: ShortText = ""
    price_fen: Fen
    tax_rate_bp: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 1300
    sold_by_weight: bool = False
    returnable: bool = True
    tier_discount: bool = True
    barcodes: Annotated[list[Barcode], msgspec.Meta(max_length=32)] | None = None


class PriceItem(_Item, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A new price for a product the till already has."""

    sku: Key
    price_fen: Fen


#: seq -> (the till's contiguous mark the facts include, the seqs above it they include too).
Asof = Annotated[
    dict[
        Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")],
        tuple[
            Annotated[int, msgspec.Meta(ge=0, le=2**53 - 1)],
            Annotated[list[Annotated[int, msgspec.Meta(ge=1)]], msgspec.Meta(max_length=10_000)],
        ],
    ],
    msgspec.Meta(max_length=10_000),
]


class MemberItem(_Item, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A member's facts pushed to tills; the cloud is the authority (see docs/loyalty.md).

    A change merges: fields an item does not carry stay as the till holds them. ``rev`` orders
    a member's facts (older ones are skipped); ``asof`` says which of each till's own events
    the values already include, so a till adds only the rest of its own deltas.
    """

    member_id: Key
    phone: (
        Annotated[str, msgspec.Meta(min_length=5, max_length=PHONE_CHARS, pattern=r"^\+?[0-9 -]+$")]
        | None
    ) = None
    name: Text = ""
    tier: Literal["regular", "silver", "gold"] = "regular"
    points_balance: Annotated[int, msgspec.Meta(ge=-MAX_POINTS, le=MAX_POINTS)] = 0
    cumulative_spend_fen: Annotated[int, msgspec.Meta(ge=0, le=10**15)] = 0
    birthday: IsoDate | None = None
    opt_out_sms: bool = False
    member_code: ShortText = ""
    gender: Literal["", "f", "m", "x"] = ""
    cards: Annotated[list[Key], msgspec.Meta(max_length=16)] | None = None
    rev: Annotated[int, msgspec.Meta(ge=0)] | None = None
    returns_30d: Annotated[int, msgspec.Meta(ge=0, le=100_000)] | None = None
    asof: Asof | None = None


class CouponItem(_Item, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """A coupon redeemable at any till (or only by one member)."""

    code: Key
    kind: Literal["amount", "percent", "gift"]
    value: Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
    min_spend_fen: Fen = 0
    member_id: Key | None = None
    valid_from: IsoTime | IsoDate | None = None
    valid_until: IsoTime | IsoDate | None = None
    # Stores where it may be used (None or empty: every store), uses allowed and used so far
    # (the cloud's count when this was pushed), and whether HQ withdrew it.
    stores: Annotated[list[StoreId], msgspec.Meta(max_length=500)] | None = None
    max_uses: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1
    uses: Annotated[int, msgspec.Meta(ge=0, le=10_000_000)] = 0
    revoked: bool = False


class ConfigItem(_Item, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """One configuration value (any JSON, kept small)."""

    key: Key
    value: Any


#: Stream -> (the upsert schema, the key field a delete carries).
STREAM_ITEMS: Final[Mapping[str, tuple[type[msgspec.Struct], str]]] = MappingProxyType(
    {
        "catalogue": (CatalogueItem, "sku"),
        "prices": (PriceItem, "sku"),
        "members": (MemberItem, "member_id"),
        "coupons": (CouponItem, "code"),
        "config": (ConfigItem, "key"),
        "staff": (StaffItem, "staff_id"),
    }
)
#: Largest encoded config value, so a config push cannot smuggle a huge blob.
MAX_CONFIG_VALUE_BYTES: Final = 4096


def _delete_key(stream: str, key_field: str, item: Any, index: int) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise ItemError(f"items[{index}]: a {stream} delete is an object with {key_field!r}")
    extra = sorted(set(item) - {key_field})
    if extra:
        raise ItemError(
            f"items[{index}]: a {stream} delete carries only {key_field!r}, "
            f"not {', '.join(map(repr, extra))}"
        )
    try:
        key = msgspec.convert(item.get(key_field), Key)
    except msgspec.ValidationError as err:
        raise ItemError(f"items[{index}].{key_field}: {err}") from err
    return {key_field: key}


def _config_value(index: int, item: dict[str, Any]) -> None:
    """A config value within its size; a rule set also as HQ's rules allow (protocol.rules)."""
    key, value = str(item["key"]), item["value"]
    if not is_rules_key(key):
        if len(msgspec.json.encode(value)) > MAX_CONFIG_VALUE_BYTES:
            raise ItemError(f"items[{index}].value: at most {MAX_CONFIG_VALUE_BYTES} bytes")
        return
    try:
        decode_published(value, key)
    except RulesError as err:
        raise ItemError(f"items[{index}].value: rules {key!r}: {err}") from None


def validate_items(stream: str, kind: str, items: Sequence[Any]) -> list[dict[str, Any]]:
    """Check every item against ``stream``'s schema; return them as plain dicts.

    Raises ItemError naming the item index and field (for example
    ``items[0]: Object missing required field `sku```). Keys must be unique in one push.
    """
    if stream not in STREAM_ITEMS:
        raise ItemError(f"no stream {stream!r}; streams are {', '.join(STREAM_ITEMS)}")
    if len(items) > MAX_ITEMS:
        raise ItemError(f"at most {MAX_ITEMS} items per push, got {len(items)}")
    schema, key_field = STREAM_ITEMS[stream]
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if kind == "delete":
            clean = _delete_key(stream, key_field, item, index)
        else:
            try:
                typed = msgspec.convert(item, schema)
            except msgspec.ValidationError as err:
                raise ItemError(f"items[{index}]: {err}") from err
            given = item or {}
            clean = {
                k: v
                for k, v in msgspec.structs.asdict(typed).items()
                if not (v is None and k not in given)
            }
            if stream == "members":
                # Member changes merge field by field: a default filled in here would erase
                # what the till holds (a tier push once zeroed points and birthdays).
                clean = {k: v for k, v in clean.items() if k in given}
            if stream == "config":
                _config_value(index, clean)
        key = str(clean[key_field])
        if key in seen:
            raise ItemError(f"items[{index}].{key_field}: {key!r} appears twice in one push")
        seen.add(key)
        out.append(clean)
    return out
