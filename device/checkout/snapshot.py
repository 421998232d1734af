"""A cart as plain JSON-able data and back, so a suspended sale survives a restart."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict
from typing import Any

from device.checkout.cart import Cart, CartLimits, CartLine, DiscountSpec
from device.checkout.errors import CartError
from device.checkout.records import Member, Product, Tier

# The product is stored whole rather than by SKU: a recalled sale must ring up at the
# prices the customer saw when it was suspended, even if a price push arrived meanwhile.

VERSION = 1


def _spec(spec: DiscountSpec | None) -> dict[str, int | None] | None:
    if spec is None:
        return None
    return {"percent_bp": spec.percent_bp, "amount_fen": spec.amount_fen}


def _spec_back(data: Any) -> DiscountSpec | None:
    if data is None:
        return None
    return DiscountSpec(percent_bp=data.get("percent_bp"), amount_fen=data.get("amount_fen"))


def _member(member: Member | None) -> dict[str, Any] | None:
    if member is None:
        return None
    data = asdict(member)
    data["tier"] = member.tier.value
    data["birthday"] = member.birthday.isoformat() if member.birthday else None
    return data


def _member_back(data: Any) -> Member | None:
    if data is None:
        return None
    fields = dict(data)
    fields["tier"] = Tier(fields["tier"])
    birthday = fields.get("birthday")
    fields["birthday"] = dt.date.fromisoformat(birthday) if birthday else None
    return Member(**fields)


def _time_back(text: Any) -> dt.datetime | None:
    # Absent from snapshots written before timed promotions: the time is then unknown.
    return dt.datetime.fromisoformat(text) if text else None


def cart_to_plain(cart: Cart) -> dict[str, Any]:
    """The cart as dicts, lists, strings, ints and None only."""
    lines = []
    for line in cart.lines:
        product = asdict(line.product)
        product["barcodes"] = list(line.product.barcodes)
        lines.append(
            {
                "line_no": line.line_no,
                "product": product,
                "barcode": line.barcode,
                "quantity": line.quantity,
                "weight_g": line.weight_g,
                "unit_price_fen": line.unit_price_fen,
                "price_overridden": line.price_overridden,
                "line_discount": _spec(line.line_discount),
                "voided": line.voided,
                "embedded_price_fen": line.embedded_price_fen,
            }
        )
    return {
        "version": VERSION,
        "lines": lines,
        "sale_discount": _spec(cart.sale_discount),
        "member": _member(cart.member),
        "opened_at": cart.opened_at.isoformat() if cart.opened_at else None,
    }


def cart_from_plain(data: dict[str, Any], limits: CartLimits | None = None) -> Cart:
    """Rebuild a cart written by :func:`cart_to_plain`; a damaged snapshot raises CartError."""
    try:
        if data.get("version") != VERSION:
            raise CartError(
                "suspended sale has unknown format {version}", version=data.get("version")
            )
        lines = []
        for raw in data["lines"]:
            product_fields = dict(raw["product"])
            product_fields["barcodes"] = tuple(product_fields.get("barcodes", ()))
            lines.append(
                CartLine(
                    line_no=int(raw["line_no"]),
                    product=Product(**product_fields),
                    barcode=str(raw["barcode"]),
                    quantity=int(raw["quantity"]),
                    weight_g=raw["weight_g"],
                    unit_price_fen=int(raw["unit_price_fen"]),
                    price_overridden=bool(raw["price_overridden"]),
                    line_discount=_spec_back(raw["line_discount"]),
                    voided=bool(raw["voided"]),
                    embedded_price_fen=raw["embedded_price_fen"],
                )
            )
        return Cart(
            lines=tuple(lines),
            sale_discount=_spec_back(data.get("sale_discount")),
            member=_member_back(data.get("member")),
            limits=limits or CartLimits(),
            opened_at=_time_back(data.get("opened_at")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CartError("suspended sale cannot be read: {err}", err=err) from err
