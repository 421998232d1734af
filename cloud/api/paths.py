"""Ids in URL paths: a member id may hold any character, ``/`` and ``%`` included.

Member ids come from the tills, from HQ and from imports of earlier systems, which number
members like ``2019/00123``. Starlette routes on the percent-decoded path, so ``A%2F1`` became
``A/1``: two segments, no route, a 404 for a member who exists. The app routes instead on the
path decoded except for ``%2F`` and ``%25`` (``/`` and ``%`` themselves), so an id stays one
segment whatever it holds, and each path parameter that carries free text decodes those two
(``MemberPath`` and its kind). Pages put ids into links with the ``segment`` filter (every reserved
character escaped). No escape keeps an id of exactly ``.`` or ``..`` in a browser's address
(``%2E`` is collapsed as well), so HQ refuses to create such a member
(``cloud.store.member_admin``); tills make their members' ids as UUIDs.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final
from urllib.parse import quote, unquote

from fastapi import Path
from pydantic import BeforeValidator
from starlette.types import ASGIApp, Receive, Scope, Send

#: The escapes left in the routed path: what would otherwise split or re-escape a segment.
_KEPT: Final = re.compile(r"(%2[fF5])")


def routed_path(raw: bytes) -> str:
    """The path to route on: percent-decoded, except ``%2F`` and ``%25``."""
    pieces = _KEPT.split(raw.decode("utf-8", errors="replace"))
    # Odd pieces are the kept escapes; an escape is ASCII, so it never splits a UTF-8 sequence.
    return "".join(p.upper() if i % 2 else unquote(p) for i, p in enumerate(pieces))


def segment_text(value: Any) -> Any:
    """A path parameter's text: the ``/`` and ``%`` the routed path kept escaped, decoded."""
    return unquote(value) if isinstance(value, str) else value


def segment(value: Any) -> str:
    """Text as one URL path segment (for links built in templates): every reserved character
    escaped, ``/`` included."""
    return quote(str(value), safe="")


_DECODED: Final = BeforeValidator(segment_text)
#: A member id as a path parameter (any characters, 1-64 of them).
MemberPath = Annotated[str, Path(min_length=1, max_length=64), _DECODED]
#: A complaint id as a path parameter (a till makes its own).
ComplaintPath = Annotated[str, Path(min_length=1, max_length=64), _DECODED]
#: A member's tag as a path parameter.
TagPath = Annotated[str, Path(min_length=1, max_length=32), _DECODED]


class SlashesInIds:
    """ASGI middleware: route on ``routed_path`` of the raw path the server received."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path") if scope["type"] in ("http", "websocket") else None
        if raw:
            scope = {**scope, "path": routed_path(raw)}
        await self.app(scope, receive, send)
