"""The cart being rung up: immutable lines, quantities, overrides and manual discounts.

Every operation returns a new Cart, so the state machine can keep the previous one for
undo and a suspended sale is just a stored value. Line numbers are never reused: a
voided line keeps its number so the receipt, the audit log and returns agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from device.checkout.errors import CartError, PricingError
from device.checkout.money import BP_WHOLE, format_fen, round_div
from device.checkout.records import Member, Product


@dataclass(frozen=True, slots=True)
class CartLimits:
    """Bounds on what a single line may hold (typing 1000 instead of 10 must be caught)."""

    max_quantity: int = 9999
    min_weight_g: int = 1
    max_weight_g: int = 50_000
    max_unit_price_fen: int = 10_000_000  # ¥100,000 per unit or per kilogram
    max_lines: int = 500

    def __post_init__(self) -> None:
        if self.max_quantity < 1 or self.min_weight_g < 1 or self.max_lines < 1:
            raise CartError("cart limits must be positive")
        if self.max_weight_g < self.min_weight_g:
            raise CartError("cart limits: max_weight_g below min_weight_g")


@dataclass(frozen=True, slots=True)
class DiscountSpec:
    """A manual discount: a percentage in basis points or a fixed amount in fen, not both."""

    percent_bp: int | None = None
    amount_fen: int | None = None

    def __post_init__(self) -> None:
        if (self.percent_bp is None) == (self.amount_fen is None):
            raise PricingError("a discount is either a percentage or an amount")
        if self.percent_bp is not None and not 0 < self.percent_bp <= BP_WHOLE:
            raise PricingError(
                "discount must be between 0.01% and 100%, not {percent_bp}bp",
                percent_bp=self.percent_bp,
            )
        if self.amount_fen is not None and self.amount_fen <= 0:
            raise PricingError(
                "discount must be more than ¥0.00, not {amount}", amount=format_fen(self.amount_fen)
            )

    def amount_on(self, base_fen: int) -> int:
        """The fen this discount takes off ``base_fen``, never more than the base."""
        if base_fen <= 0:
            return 0
        if self.percent_bp is not None:
            return min(base_fen, round_div(base_fen * self.percent_bp, BP_WHOLE))
        assert self.amount_fen is not None  # guaranteed by __post_init__
        return min(base_fen, self.amount_fen)

    def label(self) -> str:
        """Short text for the receipt, e.g. ``-10%`` or ``-¥5.00``."""
        if self.percent_bp is not None:
            whole, frac = divmod(self.percent_bp, 100)
            return f"-{whole}%" if frac == 0 else f"-{whole}.{frac:02d}%"
        assert self.amount_fen is not None
        return "-" + format_fen(self.amount_fen)


@dataclass(frozen=True, slots=True)
class CartLine:
    """One scanned item. For a weighed line ``unit_price_fen`` is per kilogram."""

    line_no: int
    product: Product
    barcode: str
    quantity: int
    weight_g: int | None
    unit_price_fen: int
    price_overridden: bool = False
    line_discount: DiscountSpec | None = None
    voided: bool = False
    embedded_price_fen: int | None = None  # price printed by the scale, kept for the record

    @property
    def gross_fen(self) -> int:
        """Price before discounts: unit x quantity, or per-kg price x weight rounded to fen."""
        if self.weight_g is not None:
            return round_div(self.unit_price_fen * self.weight_g, 1000)
        return self.unit_price_fen * self.quantity

    @property
    def is_weighed(self) -> bool:
        """True when the line is priced by weight."""
        return self.weight_g is not None


@dataclass(frozen=True, slots=True)
class Cart:
    """The lines of the sale in progress, the manual sale discount and the identified member."""

    lines: tuple[CartLine, ...] = ()
    sale_discount: DiscountSpec | None = None
    member: Member | None = None
    limits: CartLimits = CartLimits()
    # Store-local wall time the sale was opened: timed promotions are judged at this moment,
    # so a total does not change while the customer is paying (None: not known).
    opened_at: dt.datetime | None = None

    def add(
        self,
        product: Product,
        barcode: str,
        quantity: int = 1,
        weight_g: int | None = None,
        embedded_price_fen: int | None = None,
    ) -> Cart:
        """Add a line. Weighed products need a weight or a scale-printed price.

        A product scanned twice gets two lines: each scan is visible, and voiding one
        scan does not touch the other.
        """
        limits = self.limits
        if len(self.lines) >= limits.max_lines:
            raise CartError("a sale can have at most {max_lines} lines", max_lines=limits.max_lines)
        if embedded_price_fen is not None:
            if embedded_price_fen < 0 or embedded_price_fen > limits.max_unit_price_fen:
                raise CartError(
                    "price on the label is out of range: {embedded_price_fen} fen",
                    embedded_price_fen=embedded_price_fen,
                )
            if quantity != 1 or weight_g is not None:
                raise CartError("a price-labelled item is added one label at a time")
            # The scale already priced the item: it rings up as one unit at that price.
            return self._append(product, barcode, 1, None, embedded_price_fen, embedded_price_fen)
        if product.sold_by_weight:
            if weight_g is None:
                raise CartError(
                    "{item} is sold by weight: weigh it",
                    item=product.name_en or product.sku,
                    item_zh=product.name_zh or product.name_en or product.sku,
                )
            self._check_weight(weight_g)
            if quantity != 1:
                raise CartError("a weighed item is added one weighing at a time")
        elif weight_g is not None:
            raise CartError(
                "{item} is not sold by weight",
                item=product.name_en or product.sku,
                item_zh=product.name_zh or product.name_en or product.sku,
            )
        else:
            self._check_quantity(quantity)
        if not 0 <= product.price_fen <= limits.max_unit_price_fen:
            raise CartError("catalogue price of {sku} is out of range", sku=product.sku)
        return self._append(product, barcode, quantity, weight_g, product.price_fen, None)

    def _append(
        self,
        product: Product,
        barcode: str,
        quantity: int,
        weight_g: int | None,
        unit_price_fen: int,
        embedded_price_fen: int | None,
    ) -> Cart:
        line_no = max((line.line_no for line in self.lines), default=0) + 1
        line = CartLine(
            line_no=line_no,
            product=product,
            barcode=barcode,
            quantity=quantity,
            weight_g=weight_g,
            unit_price_fen=unit_price_fen,
            embedded_price_fen=embedded_price_fen,
        )
        return replace(self, lines=(*self.lines, line))

    def _check_quantity(self, quantity: int) -> None:
        if not 1 <= quantity <= self.limits.max_quantity:
            raise CartError(
                "quantity must be 1 to {max_quantity}, not {quantity}",
                max_quantity=self.limits.max_quantity,
                quantity=quantity,
            )

    def _check_weight(self, weight_g: int) -> None:
        lo, hi = self.limits.min_weight_g, self.limits.max_weight_g
        if not lo <= weight_g <= hi:
            raise CartError(
                "weight must be {lo} g to {hi} g, not {weight_g} g", lo=lo, hi=hi, weight_g=weight_g
            )

    def line(self, line_no: int) -> CartLine:
        """Return an active line, or raise CartError if there is none with this number."""
        for line in self.lines:
            if line.line_no == line_no:
                if line.voided:
                    raise CartError("line {line_no} is void", line_no=line_no)
                return line
        raise CartError("no line {line_no}", line_no=line_no)

    def _replace_line(self, new: CartLine) -> Cart:
        lines = tuple(new if line.line_no == new.line_no else line for line in self.lines)
        return replace(self, lines=lines)

    def void_line(self, line_no: int) -> Cart:
        """Void a line; it stays in the cart (struck through) and is not priced."""
        return self._replace_line(replace(self.line(line_no), voided=True))

    def set_quantity(self, line_no: int, quantity: int) -> Cart:
        """Change a counted line's quantity."""
        line = self.line(line_no)
        if line.is_weighed:
            raise CartError(
                "line {line_no} is weighed: its quantity cannot change", line_no=line_no
            )
        if line.embedded_price_fen is not None:
            raise CartError("line {line_no} is price-labelled: scan each label", line_no=line_no)
        self._check_quantity(quantity)
        return self._replace_line(replace(line, quantity=quantity))

    def override_price(self, line_no: int, unit_price_fen: int) -> Cart:
        """Replace a line's unit price (per kg for a weighed line); the machine audits it."""
        line = self.line(line_no)
        if not 0 <= unit_price_fen <= self.limits.max_unit_price_fen:
            raise PricingError(
                "price override out of range: {unit_price}", unit_price=format_fen(unit_price_fen)
            )
        return self._replace_line(
            replace(line, unit_price_fen=unit_price_fen, price_overridden=True)
        )

    def discount_line(self, line_no: int, spec: DiscountSpec | None) -> Cart:
        """Set (or with None, remove) a manual line discount."""
        line = self.line(line_no)
        if spec is not None and spec.amount_fen is not None and spec.amount_fen > line.gross_fen:
            raise PricingError(
                "discount {amount} is more than line {line_no}'s {gross}",
                amount=format_fen(spec.amount_fen),
                line_no=line_no,
                gross=format_fen(line.gross_fen),
            )
        return self._replace_line(replace(line, line_discount=spec))

    def discount_sale(self, spec: DiscountSpec | None) -> Cart:
        """Set (or with None, remove) a manual discount on the whole sale."""
        if spec is not None:
            if self.is_empty():
                raise CartError("nothing to discount: the sale has no lines")
            gross = sum(line.gross_fen for line in self.active_lines())
            if spec.amount_fen is not None and spec.amount_fen > gross:
                raise PricingError(
                    "discount {amount} is more than the sale's {gross}",
                    amount=format_fen(spec.amount_fen),
                    gross=format_fen(gross),
                )
        return replace(self, sale_discount=spec)

    def with_member(self, member: Member | None) -> Cart:
        """Attach (or detach) the identified member; prices change with the tier."""
        return replace(self, member=member)

    def active_lines(self) -> tuple[CartLine, ...]:
        """Lines that are not void."""
        return tuple(line for line in self.lines if not line.voided)

    def is_empty(self) -> bool:
        """True when no line is left to pay for."""
        return not any(not line.voided for line in self.lines)

    @property
    def item_count(self) -> int:
        """Units in the cart (a weighed line counts as one), for the customer display."""
        return sum(line.quantity for line in self.active_lines())
