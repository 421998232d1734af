"""Why a request was refused, in the page reader's language; the JSON API keeps its English.

A refusal carries its English catalogue message apart from its parameters (``Refused`` here,
``cloud.domain.errors.Explained`` below the API), so ``say`` looks it up in the page's
catalogue. Validation errors from FastAPI and pydantic are said by their error type
(``invalid.<type>``, with the type's context) and field (``field.<name>``), which are
catalogue messages too; a message missing from the catalogue is said in English.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Self

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

Gettext = Callable[..., str]
#: Where FastAPI says a value came from; not a field the reader typed.
_SOURCES: Final = frozenset({"body", "query", "path", "form", "header", "cookie"})
#: The validation errors the page's forms and filters can meet, said by the catalogues (each
#: message takes the named parameters from pydantic's context of the error).
INVALID: Final = {
    "missing": (),
    "string_type": (),
    "string_too_short": ("min_length",),
    "string_too_long": ("max_length",),
    "string_pattern_mismatch": (),
    "int_parsing": (),
    "int_type": (),
    "int_from_float": (),
    "float_parsing": (),
    "bool_parsing": (),
    "greater_than": ("gt",),
    "greater_than_equal": ("ge",),
    "less_than": ("lt",),
    "less_than_equal": ("le",),
    "date_parsing": (),
    "date_from_datetime_parsing": (),
    "date_from_datetime_inexact": (),
    "literal_error": ("expected",),
    "enum": ("expected",),
    "list_type": (),
    "too_short": ("min_length",),
    "too_long": ("max_length",),
    "extra_forbidden": (),
    "json_invalid": (),
    "dict_type": (),
    "model_type": (),
}


#: The push schema's words (``protocol.items``, worded by msgspec), which carry no catalogue
#: id: each is read back into a catalogue message and its parts (``problem`` and ``at`` are
#: said again). The English messages give the text back exactly as it came.
WORDED: Final = tuple((re.compile(pattern), msgid) for pattern, msgid in (
    (r"items\[(?P<index>\d+)\]: (?P<problem>.+)", "items[%(index)s]: %(problem)s"),
    (r"items\[(?P<index>\d+)\]\.(?P<field>\w+): (?P<problem>.+)",
     "items[%(index)s].%(field)s: %(problem)s"),
    (r"Object missing required field `(?P<field>[^`]+)`(?P<at>.*)",
     "Object missing required field `%(field)s`%(at)s"),
    (r"Object contains unknown field `(?P<field>[^`]+)`(?P<at>.*)",
     "Object contains unknown field `%(field)s`%(at)s"),
    (r"Expected `(?P<expected>[^`]+)`, got `(?P<got>[^`]+)`(?P<at>.*)",
     "Expected `%(expected)s`, got `%(got)s`%(at)s"),
    (r"Expected `(?P<expected>[^`]+)` of length (?P<op>[<>]=?) (?P<bound>\d+)(?P<at>.*)",
     "Expected `%(expected)s` of length %(op)s %(bound)s%(at)s"),
    (r"Expected `(?P<expected>[^`]+)` (?P<op>[<>]=?) (?P<bound>\S+)(?P<at>.*)",
     "Expected `%(expected)s` %(op)s %(bound)s%(at)s"),
    (r"(?P<key>'.*') appears twice in one push", "%(key)s appears twice in one push"),
    (r" - at `(?P<path>[^`]+)`", " - at `%(path)s`"),
))  # fmt: skip
#: The parts of a worded message that are worded messages themselves.
_NESTED: Final = frozenset({"problem", "at"})


class Refused(HTTPException):
    """An HTTP refusal whose reason is a catalogue message with parameters; its ``detail`` is
    the English, as the JSON API has always answered."""

    def __init__(
        self,
        status: int,
        message: str,
        /,
        *,
        headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(status, message % params if params else message, dict(headers or {}))
        self.msgid, self.params = message, params

    @classmethod
    def because(cls, status: int, err: BaseException) -> Self:
        """A refusal for a store or domain error, keeping its catalogue message."""
        return cls(status, getattr(err, "msgid", "") or str(err), **getattr(err, "params", {}))


def _said(gettext: Gettext, msgid: str, fallback: str, **params: Any) -> str:
    text = gettext(msgid, **params)
    return fallback if text == msgid and msgid != fallback else text


def field(name: str, gettext: Gettext) -> str:
    """A field's name as the page calls it (``field.<name>``), else the name itself."""
    return _said(gettext, f"field.{name}", name)


def invalid(errors: Sequence[Mapping[str, Any]], gettext: Gettext) -> str:
    """Validation errors as one line naming each field: ``标签：最多 400 个字符``."""
    parts = []
    for err in errors:
        where = [str(x) for x in err.get("loc", ()) if str(x) not in _SOURCES]
        kind = str(err.get("type", ""))
        ctx = err.get("ctx") or {}
        if kind in INVALID:
            params = {name: ctx.get(name, "") for name in INVALID[kind]}
            text = _said(gettext, f"invalid.{kind}", str(err.get("msg", "")), **params)
        else:
            text = str(err.get("msg", ""))
        name = ".".join(field(x, gettext) for x in where)
        parts.append(gettext("%(field)s: %(problem)s", field=name, problem=text) if name else text)
    return gettext("; ").join(parts)


def worded(text: str, gettext: Gettext) -> str:
    """Text with no catalogue id: read back by ``WORDED``, else looked up as it is."""
    for pattern, msgid in WORDED:
        found = pattern.fullmatch(text)
        if found:
            params = {k: worded(v, gettext) if k in _NESTED and v else v or ""
                      for k, v in found.groupdict().items()}  # fmt: skip
            return gettext(msgid, **params)
    return gettext(text)


def say(reason: Any, gettext: Gettext) -> str:
    """A refusal, an error or a text in the page's language (English where the catalogue has
    no such message)."""
    if isinstance(reason, RequestValidationError | ValidationError):
        return invalid(reason.errors(), gettext)
    msgid = getattr(reason, "msgid", "")
    if msgid:
        params = {
            k: say(v, gettext) if isinstance(v, BaseException) else v
            for k, v in getattr(reason, "params", {}).items()
        }
        return gettext(msgid, **params)
    if isinstance(reason, HTTPException):  # a fixed English detail may be a catalogue message
        return worded(str(reason.detail), gettext)
    if isinstance(reason, BaseException):
        return worded(str(reason), gettext)
    return "" if reason is None else str(reason)
