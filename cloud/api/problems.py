"""A till's problem and the cloud's flag on the HQ page, in the page's language: their message
ids said from the catalogues.

A status's ``problem`` (protocol.problems) comes from a till, so it is untrusted: an id this
HQ does not know, arguments that do not fill its message, or anything else odd, and the
page shows the status's English text instead (escaped by the templates, like every value).
A terminal's ``flag_message`` (cloud.domain.flags) is the cloud's own, said the same way; a
flag stored before ids, or as plain text, shows its English ``flag_reason``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud.api.reasons import Gettext
from cloud.domain.flags import FLAGS
from protocol.envelope import MAX_PROBLEM_DEPTH
from protocol.problems import PROBLEMS, placeholders


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
        part = value if isinstance(value, str) else _said(value, gettext, depth + 1, messages)
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
