"""Promotions HQ pushes: what each one covers, when it runs, and the item-level arithmetic.

Kinds:

- ``item_percent``: a percentage off the covered lines.
- ``member_price`` (会员价): an identified member pays the listed unit price (per kg for a
  weighed item) instead of the catalogue price, when it is lower.
- ``buy_x_get_y`` (买X送Y, 第二件半价): the covered units are lined up dearest first and cut
  into groups of ``buy + get``; the ``get`` cheapest units of each full group are
  ``get_percent_bp`` off (10000: free). One group only unless ``repeat``. Units come from
  counted lines; weighed and price-labelled lines take no part.
- ``spend_get_off`` (满减): see pricing step 5.

A promotion may be limited to member tiers (``tiers``; empty: every customer) and to a
schedule in the store's local time (:class:`Schedule`), checked against the time the sale
was opened (``Cart.opened_at``), so the total does not change while the customer pays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from device.checkout.cart import CartLine
from device.checkout.errors import PricingError
from device.checkout.money import BP_WHOLE, apply_bp, round_div
from device.checkout.records import Tier

PROMO_KINDS = ("spend_get_off", "item_percent", "member_price", "buy_x_get_y")
ITEM_KINDS = ("item_percent", "member_price", "buy_x_get_y")
_DAY_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a promotion runs, in store-local wall time; the defaults mean "always".

    ``starts`` is inclusive and ``ends`` exclusive; ``weekdays`` are ISO (1 Monday .. 7
    Sunday; empty: every day); the daily window runs from ``from_minute`` (inclusive) to
    ``until_minute`` (exclusive), minutes after midnight.
    """

    starts: dt.datetime | None = None
    ends: dt.datetime | None = None
    weekdays: frozenset[int] = frozenset()
    from_minute: int = 0
    until_minute: int = _DAY_MINUTES

    def __post_init__(self) -> None:
        if not 0 <= self.from_minute < self.until_minute <= _DAY_MINUTES:
            raise PricingError("a promotion's daily window must start before it ends")
        if any(not 1 <= day <= 7 for day in self.weekdays):
            raise PricingError("weekdays are 1 (Monday) to 7 (Sunday)")
        if self.starts is not None and self.ends is not None and self.ends <= self.starts:
            raise PricingError("a promotion must end after it starts")

    @property
    def always(self) -> bool:
        """True when nothing limits it in time."""
        return self == Schedule()

    def active(self, at: dt.datetime | None) -> bool:
        """Whether the promotion runs at local time ``at`` (unknown time: only if always)."""
        if self.always:
            return True
        if at is None:
            return False  # a limited offer is never given on a guess
        if self.starts is not None and at < self.starts:
            return False
        if self.ends is not None and at >= self.ends:
            return False
        if self.weekdays and at.isoweekday() not in self.weekdays:
            return False
        minute = at.hour * 60 + at.minute
        return self.from_minute <= minute < self.until_minute


@dataclass(frozen=True, slots=True)
class Promotion:
    """A promotion pushed by HQ (see the module docstring for the kinds)."""

    promo_id: str
    label: str
    kind: str
    threshold_fen: int = 0
    off_fen: int = 0
    percent_bp: int = 0
    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    repeat: bool = False  # spend_get_off: "every ¥200 get ¥20 off"; buy_x_get_y: every group
    prices: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    buy_qty: int = 0
    get_qty: int = 0
    tiers: frozenset[Tier] = frozenset()  # only members of these tiers; empty: everyone
    with_tier_discount: bool = True  # False: a line this promotion discounts gets no tier off
    schedule: Schedule = field(default_factory=Schedule)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prices", MappingProxyType(dict(self.prices)))
        name = f"promotion {self.promo_id}"
        if self.kind not in PROMO_KINDS:
            raise PricingError("{name}: unknown kind {kind!r}", name=name, kind=self.kind)
        if self.kind in ("item_percent", "buy_x_get_y") and not 0 < self.percent_bp <= BP_WHOLE:
            raise PricingError("{name}: percent must be 1..10000 bp", name=name)
        if self.kind == "spend_get_off":
            if self.off_fen <= 0 or self.threshold_fen < 0:
                raise PricingError("{name}: needs a positive amount off", name=name)
            if self.repeat and self.threshold_fen <= 0:
                raise PricingError("{name}: a repeating one needs a threshold", name=name)
        if self.kind == "member_price" and (
            not self.prices or any(p < 0 for p in self.prices.values())
        ):
            raise PricingError("{name}: member prices must name SKUs at prices >= 0", name=name)
        if self.kind == "buy_x_get_y" and (self.buy_qty < 1 or self.get_qty < 1):
            raise PricingError("{name}: buy and get must both be at least 1", name=name)

    def covers(self, line: CartLine) -> bool:
        """Whether this promotion applies to a line."""
        if self.kind == "member_price":
            return line.product.sku in self.prices
        if not self.skus and not self.categories:
            return True
        return line.product.sku in self.skus or line.product.category in self.categories

    def offered(self, tier: Tier | None, at: dt.datetime | None) -> bool:
        """Whether this customer (tier None: not a member) gets it at local time ``at``."""
        if self.kind == "member_price" and tier is None:
            return False
        if self.tiers and tier not in self.tiers:
            return False
        return self.schedule.active(at)


def percent_off(promo: Promotion, line: CartLine, net: int) -> int:
    """What an item percentage takes off a line's ``net``."""
    return min(net, apply_bp(net, promo.percent_bp))


def member_price_off(promo: Promotion, line: CartLine, net: int) -> int:
    """What paying the member price takes off the line (0 when it is not cheaper)."""
    price = promo.prices[line.product.sku]
    if line.weight_g is not None:
        member_gross = round_div(price * line.weight_g, 1000)
    else:
        member_gross = price * line.quantity
    return max(0, min(net, line.gross_fen - member_gross))


def _counted(line: CartLine) -> bool:
    return line.weight_g is None and line.embedded_price_fen is None


def buy_x_get_y(
    promo: Promotion, lines: Sequence[CartLine], candidates: Sequence[int]
) -> tuple[dict[int, int], set[int]]:
    """The discount per line index and the lines taking part, for one buy-X-get-Y.

    Units are lined up dearest first (ties: earlier line first, so the result does not
    depend on scan order within a price) and cut into groups of buy + get; the last ``get``
    units of each full group are discounted, each unit rounded on its own.
    """
    units = sorted(
        ((lines[i].unit_price_fen, i) for i in candidates if _counted(lines[i])
         for _ in range(lines[i].quantity)),
        key=lambda unit: (-unit[0], unit[1]),
    )  # fmt: skip
    size = promo.buy_qty + promo.get_qty
    groups = len(units) // size
    if not promo.repeat:
        groups = min(groups, 1)
    off: dict[int, int] = {}
    used: set[int] = set()
    for g in range(groups):
        group = units[g * size : (g + 1) * size]
        for _, i in group:
            used.add(i)
        for price, i in group[promo.buy_qty :]:
            off[i] = off.get(i, 0) + apply_bp(price, promo.percent_bp)
    return {i: amount for i, amount in off.items() if amount}, used


def _candidates(promos: Sequence[Promotion]) -> Callable[[CartLine], list[int]]:
    """Which of ``promos`` cover a line (indices, in order), by SKU and category lookups.

    The same answer as asking each promotion's ``covers``, without trying every promotion
    on every line (a chain's rule set can hold hundreds).
    """
    by_key: dict[tuple[str, str], list[int]] = {}
    everywhere: list[int] = []
    for k, promo in enumerate(promos):
        if promo.kind == "member_price":
            keys = [("sku", sku) for sku in promo.prices]
        else:
            keys = [("sku", s) for s in promo.skus] + [("cat", c) for c in promo.categories]
        if not keys:
            everywhere.append(k)
        for key in keys:
            by_key.setdefault(key, []).append(k)

    def find(line: CartLine) -> list[int]:
        hits = by_key.get(("sku", line.product.sku), []) + by_key.get(
            ("cat", line.product.category), []
        )
        return sorted(set(hits + everywhere))

    return find


def _claim_groups(
    groups: Sequence[Promotion], lines: Sequence[CartLine], nets: list[int]
) -> tuple[dict[int, tuple[Promotion, int]], set[int]]:
    """Buy-X-get-Y promotions, the one saving most first, each taking the lines it groups."""
    find = _candidates(groups)
    covered: dict[int, list[int]] = {}
    for i, line in enumerate(lines):
        for k in find(line):
            covered.setdefault(k, []).append(i)
    found = {k: buy_x_get_y(groups[k], lines, covered[k]) for k in covered if covered[k]}
    chosen: dict[int, tuple[Promotion, int]] = {}
    taken: set[int] = set()
    while found:
        # Most saving first; on a tie the one HQ listed first (max keeps the first maximum).
        k = max(sorted(found), key=lambda j: sum(found[j][0].values()))
        offs, used = found.pop(k)
        if not offs:
            break
        for i in used:
            chosen[i] = (groups[k], min(nets[i], offs.get(i, 0)))
        taken |= used
        for j in list(found):
            if used.intersection(covered[j]):  # only those sharing lines need working again
                covered[j] = [i for i in covered[j] if i not in used]
                found[j] = buy_x_get_y(groups[j], lines, covered[j])
    return chosen, taken


def item_promotions(
    promos: Sequence[Promotion], lines: Sequence[CartLine], nets: list[int]
) -> dict[int, tuple[Promotion, int]]:
    """Each eligible line's item promotion and what it takes off: at most one per line.

    Buy-X-get-Y promotions go first, the one saving most first (ties: HQ's order); the lines
    whose units they group are theirs. Every other line takes whichever of its percentage
    and member-price promotions saves most (ties: HQ's order). ``lines`` are only the lines
    that may take an item promotion (not price-overridden), with ``nets`` their nets.
    """
    groups = [p for p in promos if p.kind == "buy_x_get_y"]
    chosen, taken = _claim_groups(groups, lines, nets)
    singles = [p for p in promos if p.kind in ("item_percent", "member_price")]
    find = _candidates(singles)
    for i, line in enumerate(lines):
        if i in taken:
            continue
        pick: tuple[Promotion, int] | None = None
        for k in find(line):
            promo = singles[k]
            if promo.kind == "item_percent":
                amount = percent_off(promo, line, nets[i])
            else:
                amount = member_price_off(promo, line, nets[i])
            if amount and (pick is None or amount > pick[1]):
                pick = (promo, amount)
        if pick is not None:
            chosen[i] = pick
    return chosen
