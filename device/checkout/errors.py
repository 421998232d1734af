"""The checkout core's one exception base and its cases, each with a cashier-readable reason."""

from __future__ import annotations


class CheckoutError(Exception):
    """Base for every error the checkout core raises.

    The first argument is the English message with ``{field}`` placeholders: it is also the
    message id in the till's catalogues, so the screen shows it in the cashier's language.
    ``str(err)`` is the English text (logs, tests).
    """

    def __init__(self, message: str = "", /, **params: object) -> None:
        self.msgid = message
        self.params = {name: str(value) for name, value in params.items()}
        super().__init__(message.format(**self.params) if params else message)


class BarcodeError(CheckoutError):
    """A scanned or typed code is not a valid barcode (wrong length, bad check digit, ...)."""


class CartError(CheckoutError):
    """An operation on the cart is not possible (no such line, bad quantity, ...)."""


class PricingError(CheckoutError):
    """A discount or price override is out of bounds."""


class LoyaltyError(CheckoutError):
    """A points operation is not possible (too few points, not a whole block, over the cap)."""


class ReturnError(CheckoutError):
    """A return is refused (outside the window, over-return, limit reached, ...)."""


class TenderError(CheckoutError):
    """A tender is refused (missing approval code, overpaying by card, ...)."""


class PermissionDenied(CheckoutError):
    """The signed-in staff member's role does not allow the operation."""


class ShiftError(CheckoutError):
    """A shift operation is not possible in the current shift state."""
