"""Full stream snapshots, pure: a downstream change log folded into current state, and chunking.

Folding replays the log the way a terminal applies it (device.sync.storage + device.store):
- an upsert replaces the whole item, except that an item without ``barcodes``/``cards`` keeps
  the ones it had (the terminal leaves them unchanged);
- a delete removes the items named by their key;
- a prices change sets ``price_fen`` on products already present and ignores unknown SKUs;
- a change the terminal refuses (a prices or coupons delete) changes nothing here either.
Catalogue and prices are separate streams writing the same product rows, so their changes are
folded together in log order (``order``, the log's row id), not by their per-stream versions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from cloud.domain.errors import DomainError

#: The key naming an item on each stream (as the terminal's caches key them).
STREAM_KEYS: Final = MappingProxyType(
    {"catalogue": "sku", "prices": "sku", "members": "member_id", "coupons": "code",
     "config": "key"}
)  # fmt: skip
#: List fields an upsert without them leaves as they were.
_KEPT_WHEN_ABSENT: Final = ("barcodes", "cards")
#: Streams whose deletes a terminal refuses.
_NO_DELETE: Final = frozenset({"prices", "coupons"})
#: Fewest digits the terminal accepts as a phone number.
MIN_PHONE_DIGITS: Final = 5


class SnapshotError(DomainError):
    """A change log or item that cannot become a snapshot; the message says which and why."""


@dataclass(frozen=True, slots=True)
class LoggedChange:
    """One stored downstream change; ``order`` is its position in the whole log."""

    order: int
    stream: str
    kind: str
    items: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Folded:
    """Current items by key, and the keys whose last change was a delete."""

    items: dict[str, dict[str, Any]]
    deleted: frozenset[str]


def fold(changes: Iterable[LoggedChange], target: str) -> Folded:
    """The state of ``target``'s items after every change, applied in log order.

    For ``target="catalogue"`` pass the catalogue and prices changes together.
    """
    if target not in STREAM_KEYS:
        raise SnapshotError(f"no stream {target!r}; streams are {', '.join(STREAM_KEYS)}")
    key = STREAM_KEYS[target]
    items: dict[str, dict[str, Any]] = {}
    deleted: set[str] = set()
    for change in sorted(changes, key=lambda c: c.order):
        if change.stream == "prices" and target == "catalogue":
            _set_prices(items, change)
            continue
        if change.stream != target:
            raise SnapshotError(f"a {change.stream} change cannot fold into {target}")
        if change.kind == "delete" and change.stream in _NO_DELETE:
            continue
        for index, item in enumerate(change.items):
            name = _key(item, key, change, index)
            if change.kind == "delete":
                items.pop(name, None)
                deleted.add(name)
            elif change.kind == "upsert":
                items[name] = _replaced(items.get(name), item)
                deleted.discard(name)
            else:
                raise SnapshotError(f"change #{change.order} has unknown kind {change.kind!r}")
    return Folded(items, frozenset(deleted))


def _key(item: Mapping[str, Any], key: str, change: LoggedChange, index: int) -> str:
    value = item.get(key) if isinstance(item, Mapping) else None
    if value is None or str(value) == "":
        raise SnapshotError(f"change #{change.order} item {index} has no {key!r}")
    return str(value)


def _replaced(old: dict[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    item = dict(new)
    for name in _KEPT_WHEN_ABSENT:
        if item.get(name) is None and old is not None and old.get(name) is not None:
            item[name] = old[name]
    return item


def _set_prices(items: dict[str, dict[str, Any]], change: LoggedChange) -> None:
    if change.kind != "upsert":
        return
    for index, price in enumerate(change.items):
        sku = _key(price, "sku", change, index)
        if sku in items and "price_fen" in price:
            items[sku] = dict(items[sku], price_fen=price["price_fen"])


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the cloud itself knows of a member (its projections), which wins over the log."""

    member_id: str
    phone: str
    name: str
    tier: str
    cumulative_spend_fen: int
    points_balance: int
    duplicate_of: str | None = None


@dataclass(frozen=True, slots=True)
class MemberSnapshot:
    """Member items ready for a terminal, and why any member was left out."""

    items: list[dict[str, Any]]
    left_out: dict[str, str] = field(default_factory=dict)


def digits(phone: str) -> str:
    """The phone as the terminal stores it: digits only, without a +86 prefix."""
    only = "".join(ch for ch in str(phone) if ch.isdigit())
    return only[2:] if len(only) == 13 and only.startswith("86") else only


def members_snapshot(folded: Folded, facts: Iterable[MemberFacts]) -> MemberSnapshot:
    """Merge the folded member log with the cloud's own facts into loadable member items.

    ``facts`` come in priority order (earliest registered first): the terminal's cache holds
    phones, member codes and cards uniquely, so a later member repeating one is left out (or
    loses the repeated card) rather than making the whole snapshot fail to load. Members the
    cloud marked as duplicates of another, and members HQ deleted, are left out.
    """
    merged: dict[str, dict[str, Any]] = {}
    left_out: dict[str, str] = {}
    order: list[str] = []
    for f in facts:
        if f.duplicate_of:
            left_out[f.member_id] = f"duplicate of {f.duplicate_of}"
            continue
        if f.member_id in folded.deleted:
            left_out[f.member_id] = "deleted by HQ"
            continue
        item = dict(folded.items.get(f.member_id, {}), member_id=f.member_id, tier=f.tier,
                    cumulative_spend_fen=f.cumulative_spend_fen,
                    points_balance=f.points_balance)  # fmt: skip
        if f.phone:
            item["phone"] = f.phone
        if f.name:
            item["name"] = f.name
        merged[f.member_id] = item
        order.append(f.member_id)
    # Members only HQ knows (pushed, never seen at a till) follow, in id order.
    for member_id in sorted(set(folded.items) - set(merged)):
        merged[member_id] = dict(folded.items[member_id])
        order.append(member_id)
    return _unique(merged, order, left_out)


def _unique(
    merged: dict[str, dict[str, Any]], order: list[str], left_out: dict[str, str]
) -> MemberSnapshot:
    phones: dict[str, str] = {}
    codes: dict[str, str] = {}
    cards: set[str] = set()
    kept: list[dict[str, Any]] = []
    for member_id in order:
        item = merged[member_id]
        phone = digits(str(item.get("phone") or ""))
        code = str(item.get("member_code") or "")
        if len(phone) < MIN_PHONE_DIGITS:
            left_out[member_id] = f"no usable phone ({item.get('phone')!r})"
        elif phone in phones:
            left_out[member_id] = f"phone also held by {phones[phone]}"
        elif code and code in codes:
            left_out[member_id] = f"member code also held by {codes[code]}"
        else:
            phones[phone] = member_id
            if code:
                codes[code] = member_id
            if isinstance(item.get("cards"), list):
                own = [str(c) for c in item["cards"] if str(c) not in cards]
                cards.update(own)
                item = dict(item, cards=own)
            kept.append(item)
    kept.sort(key=lambda i: str(i["member_id"]))
    return MemberSnapshot(kept, left_out)


def chunked(
    items: Sequence[Mapping[str, Any]],
    max_items: int,
    max_bytes: int,
    size: Callable[[Mapping[str, Any]], int],
) -> list[list[Mapping[str, Any]]]:
    """Split items, in order, into chunks of at most ``max_items`` and ``max_bytes`` (by size).

    Always at least one chunk, so an empty snapshot still replaces the stream.
    """
    if max_items < 1 or max_bytes < 1:
        raise SnapshotError("chunk limits must be positive")
    chunks: list[list[Mapping[str, Any]]] = [[]]
    used = 0
    for index, item in enumerate(items):
        n = size(item)
        if n > max_bytes:
            raise SnapshotError(f"item {index} is {n} bytes, more than a chunk holds ({max_bytes})")
        if chunks[-1] and (used + n > max_bytes or len(chunks[-1]) >= max_items):
            chunks.append([])
            used = 0
        chunks[-1].append(item)
        used += n
    return chunks
