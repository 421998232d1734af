"""A till's problem and the cloud's flag on the HQ page, in the page's language: their message
ids said from the catalogues.

A status's ``problem`` (protocol.problems) comes from a till, so it is untrusted: an id this
HQ does not know, arguments that do not fill its message, or anything else odd, and the
page shows the status's English text instead (escaped by the templates, like every value).
A terminal's ``flag_message`` (cloud.domain.flags) is the cloud's own, said the same way; a
flag stored before ids, or as plain text, shows its English ``flag_reason``.

Some arguments are words of the wire (an event type, a tier, a tender, a points reason, the
kind of a decoding error): ``WORDS`` says them by the page's own names for them (``tier.gold``,
the names its member and report pages use), so no English word sits inside a Chinese
sentence; a word the catalogue has no name for is shown as sent. A library's own error text
cannot be translated: the catalogue's sentence says the detail follows, and the text follows.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from cloud.api.reasons import Gettext
from cloud.domain.flags import FLAGS
from protocol.envelope import MAX_PROBLEM_DEPTH
from protocol.problems import PROBLEMS, placeholders

#: (message id, argument) -> the catalogue prefix naming the wire word it carries. Ids of the
#: cloud's flags and of a till's problems never coincide, so one table serves both.
WORDS: Final = MappingProxyType({
    ("event.implausible", "type"): "event_type.",
    ("implausible.new_tier", "tier"): "tier.",
    ("implausible.return_tender", "kind"): "tender.",
    ("implausible.points_reason", "reason"): "points_reason.",
    ("status.unreadable", "kind"): "error_kind.",
    ("payload.unreadable", "kind"): "error_kind.",
    ("sync.step", "kind"): "error_kind.",
})  # fmt: skip


def wire_word(msg_id: str, name: str, value: str, gettext: Gettext) -> str:
    """An argument as the page says it: a wire word by its catalogue name, else as sent (a
    word a check quoted, like ``'earn'``, is named without its quotes)."""
    prefix = WORDS.get((msg_id, name))
    if prefix is None:
        return value
    word = value[1:-1] if len(value) > 1 and value[0] == value[-1] == "'" else value
    label = prefix + word
    named = gettext(label)
    return value if named == label else named


def _said(
    message: Any, gettext: Gettext, depth: int, messages: Mapping[str, str] = PROBLEMS
) -> str | None:
    """The message (an id of ``messages``) in the page's language; None when it cannot be
    said as sent."""
    if depth > MAX_PROBLEM_DEPTH or not isinstance(message, Mapping):
        return None
    msg_id, args = message.get("id"), message.get("args", {})
    template = messages.get(msg_id) if isinstance(msg_id, str) else None
    if template is None or not isinstance(args, Mapping) or set(args) != placeholders(template):
        return None
    filled: dict[str, str] = {}
    for name, value in args.items():
        part = (
            wire_word(msg_id, name, value, gettext)
            if isinstance(value, str)
            else _said(value, gettext, depth + 1, messages)
        )
        if part is None:
            return None
        filled[name] = part
    try:
        return gettext(template, **filled)
    except (KeyError, TypeError, ValueError):  # a catalogue entry that does not fit its id
        return None


def said_problem(terminal: Mapping[str, Any], gettext: Gettext) -> str:
    """A terminal's problem (``problem_message`` as the till sent it, else its English
    ``problem``) in the page's language."""
    said = _said(terminal.get("problem_message"), gettext, 1)
    return str(terminal.get("problem") or "") if said is None else said


def said_flag(terminal: Mapping[str, Any], gettext: Gettext) -> str:
    """Why the cloud flagged a terminal (``flag_message``, else its English ``flag_reason``) in
    the page's language."""
    said = _said(terminal.get("flag_message"), gettext, 1, FLAGS)
    return str(terminal.get("flag_reason") or "") if said is None else said
