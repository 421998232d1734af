"""The cloud domain's one exception base: an event whose body breaks the rules projections need."""

from __future__ import annotations


class DomainError(Exception):
    """An event body the projections cannot use; ``str(err)`` names the field and the problem."""
