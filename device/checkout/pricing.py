"""Pricing a cart: promotions, tier discount, manual discounts, each visible per line.

The order, each step working on the line nets left by the step before:

1. Price override. An overridden line's unit price replaces the catalogue price. The
   manager set that price on purpose, so an overridden line gets no item promotion and
   no tier discount (that would discount it twice); it still takes part in the
   spend-threshold promotion and the manual sale discount, and can have a line discount.
2. Item promotions (device.checkout.promotions): percentage off, member price and
   buy X get Y, on the lines they cover, for the customers and at the times they are
   offered. A line takes part in at most one: buy-X-get-Y claims its lines first, then
   each other line takes whichever percentage or member price saves it most.
3. Member tier discount (silver 10 %, gold 20 % by default) on lines whose product is
   ``tier_discount`` eligible, taken from the net left after the promotion (unless that
   promotion is one that does not combine with it, such as a member price by default).
4. Manual line discount (percentage of the line's net so far, or an amount).
5. Spend-threshold promotion (``spend_get_off``, 满减): when the eligible lines' running
   total reaches the threshold, ``off_fen`` (times how often the threshold is reached
   when ``repeat``) comes off, spread over those lines in proportion to their nets with
   :func:`money.allocate`. Of several such promotions the one saving most applies.
6. Manual sale discount, spread the same way over all lines.

Each percentage is rounded with :func:`money.round_div`; spreading uses
:func:`money.allocate`, whose parts never exceed their weights, so no line net goes
below zero and ``total == sum(line.net) == gross - discount`` holds exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from device.checkout.cart import Cart, CartLine, DiscountSpec
from device.checkout.errors import PricingError
from device.checkout.money import BP_WHOLE, allocate, apply_bp
from device.checkout.promotions import ITEM_KINDS, Promotion, item_promotions
from device.checkout.promotions import PROMO_KINDS as PROMO_KINDS  # where callers found it
from device.checkout.records import Discount, SaleLine, Tier

_DEFAULT_TIER_BP: Mapping[Tier, int] = MappingProxyType(
    {Tier.REGULAR: 0, Tier.SILVER: 1000, Tier.GOLD: 2000}
)


@dataclass(frozen=True, slots=True)
class PricingConfig:
    """Tier discounts, active promotions and the manager-approval threshold."""

    tier_discount_bp: Mapping[Tier, int] = field(
        default_factory=lambda: _DEFAULT_TIER_BP, hash=False
    )
    promotions: tuple[Promotion, ...] = ()
    manager_discount_threshold_bp: int = 1000

    def __post_init__(self) -> None:
        # A read-only copy, so a caller's dict changed later cannot change prices.
        object.__setattr__(self, "tier_discount_bp", MappingProxyType(dict(self.tier_discount_bp)))
        for tier, bp in self.tier_discount_bp.items():
            if not 0 <= bp <= BP_WHOLE:
                raise PricingError(
                    "tier {value}: discount must be 0..10000 bp, not {bp}", value=tier.value, bp=bp
                )
        if not 0 <= self.manager_discount_threshold_bp <= BP_WHOLE:
            raise PricingError("manager discount threshold must be 0..10000 bp")


@dataclass(frozen=True, slots=True)
class PricedCart:
    """A priced cart: the lines as they will be recorded and the totals."""

    lines: tuple[SaleLine, ...]
    gross_fen: int
    discount_fen: int
    total_fen: int
    tier: Tier | None


def needs_manager(spec: DiscountSpec, gross_fen: int, config: PricingConfig) -> bool:
    """True when a manual discount is above the threshold a cashier may give alone."""
    threshold = config.manager_discount_threshold_bp
    if spec.percent_bp is not None:
        return spec.percent_bp > threshold
    assert spec.amount_fen is not None
    return spec.amount_fen > apply_bp(gross_fen, threshold)


def _percent_label(bp: int) -> str:
    whole, frac = divmod(bp, 100)
    return f"{whole}%" if frac == 0 else f"{whole}.{frac:02d}%"


def _spend_off(promo: Promotion, base_fen: int) -> int:
    if base_fen < promo.threshold_fen or base_fen <= 0:
        return 0
    times = base_fen // promo.threshold_fen if promo.repeat else 1
    return min(base_fen, promo.off_fen * times)


def _spread(
    nets: list[int],
    found: list[list[Discount]],
    members: list[int],
    amount: int,
    kind: str,
    label: str,
) -> None:
    """Take ``amount`` off the lines at ``members`` in proportion to their nets."""
    parts = allocate(amount, [nets[i] for i in members])
    for i, part in zip(members, parts, strict=True):
        if part:
            nets[i] -= part
            found[i].append(Discount(kind, label, part))


def price_cart(cart: Cart, config: PricingConfig) -> PricedCart:
    """Price the active lines of a cart in the order given in the module docstring."""
    lines = cart.active_lines()
    tier = cart.member.tier if cart.member is not None else None
    tier_bp = config.tier_discount_bp.get(tier, 0) if tier is not None else 0
    tier_label = f"{tier.value} -{_percent_label(tier_bp)}" if tier is not None else ""
    offered = [p for p in config.promotions if p.offered(tier, cart.opened_at)]
    item_promos = [p for p in offered if p.kind in ITEM_KINDS]
    spend_promos = [p for p in offered if p.kind == "spend_get_off"]

    grosses = [line.gross_fen for line in lines]
    nets = list(grosses)
    found: list[list[Discount]] = [[] for _ in lines]

    # An overridden price is the manager's on purpose: no item promotion, no tier discount.
    open_lines = [i for i, line in enumerate(lines) if not line.price_overridden]
    chosen = item_promotions(
        item_promos, [lines[i] for i in open_lines], [nets[i] for i in open_lines]
    )
    for k, i in enumerate(open_lines):
        promo, off = chosen.get(k, (None, 0))
        if promo is not None and off:
            nets[i] -= off
            found[i].append(Discount("promo", promo.label, off))
        tier_ok = promo is None or promo.with_tier_discount
        if tier_bp and lines[i].product.tier_discount and tier_ok:
            off = min(nets[i], apply_bp(nets[i], tier_bp))
            if off:
                nets[i] -= off
                found[i].append(Discount("tier", tier_label, off))
    for i, line in enumerate(lines):
        if line.line_discount is not None:
            off = line.line_discount.amount_on(nets[i])
            if off:
                nets[i] -= off
                found[i].append(Discount("line", line.line_discount.label(), off))

    best_spend: tuple[int, Promotion, list[int]] | None = None
    for promo in spend_promos:
        members = [i for i, line in enumerate(lines) if promo.covers(line)]
        off = _spend_off(promo, sum(nets[i] for i in members))
        if off and (best_spend is None or off > best_spend[0]):
            best_spend = (off, promo, members)
    if best_spend is not None:
        off, promo, members = best_spend
        _spread(nets, found, members, off, "promo", promo.label)

    if cart.sale_discount is not None:
        off = cart.sale_discount.amount_on(sum(nets))
        if off:
            label = cart.sale_discount.label()
            _spread(nets, found, list(range(len(lines))), off, "sale", label)

    sale_lines = tuple(
        _sale_line(line, grosses[i], tuple(found[i]), nets[i]) for i, line in enumerate(lines)
    )
    gross = sum(grosses)
    total = sum(nets)
    return PricedCart(sale_lines, gross, gross - total, total, tier)


def tax_by_rate(lines: Iterable[SaleLine]) -> dict[int, int]:
    """Tax included in the lines, per tax rate in basis points (each line rounded on its own).

    Rounding per line, then adding, means a report built from stored lines, a return that
    takes some lines back and the cloud's daily totals all give the same figure.
    """
    totals: dict[int, int] = {}
    for line in lines:
        totals[line.tax_rate_bp] = totals.get(line.tax_rate_bp, 0) + line.tax_fen
    return totals


def _sale_line(line: CartLine, gross: int, discounts: tuple[Discount, ...], net: int) -> SaleLine:
    product = line.product
    return SaleLine(
        line_no=line.line_no,
        sku=product.sku,
        barcode=line.barcode,
        name_zh=product.name_zh,
        name_en=product.name_en,
        category=product.category,
        quantity=line.quantity,
        weight_g=line.weight_g,
        unit_price_fen=line.unit_price_fen,
        gross_fen=gross,
        discounts=discounts,
        net_fen=net,
        tax_rate_bp=product.tax_rate_bp,
        returnable=product.returnable,
        price_overridden=line.price_overridden,
    )
