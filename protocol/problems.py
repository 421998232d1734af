"""What a till's status says is wrong: message ids with arguments, and the English of each.

A status carries its problem twice: as English text (``last_problem``, for logs, the JSON
API and an HQ that predates ids) and as a message id with its arguments (``problem``), which
HQ says in its page's language from its catalogues. The English of an id is its template
here, filled with the arguments; an argument is text or, for a part of the sentence that is
a message of its own (a seq range, a clause), a message again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar, Final, Self

from protocol.envelope import MAX_PROBLEM_ARGS, MAX_PROBLEM_CHARS, MAX_PROBLEM_DEPTH, Problem

_ONE_SEQ_TOO_OLD = (
    "; %(seqs)s is older than the %(days)s-day resend window and cannot be sent again: they "
    "must be recovered at HQ from this till's journal (the cloud records them as lost)"
)

#: Every id a till or a technician's tool may send, and its English (the catalogue's msgid).
PROBLEMS: Final = MappingProxyType({
    "renew.key": "certificate renewal: cannot keep a new key: %(error)s",
    "renew.refused": "renewed certificate refused: %(error)s",
    "down.rejected": "%(topic)s: %(reason)s",
    "down.snapshot": "snapshot %(snapshot)s: %(reason)s",
    "sync.step": "%(kind)s: %(error)s",
    "ack.bad": "ack: %(error)s",
    "ack.ignored": "ack %(seq)s ignored: %(reason)s",
    "ack.dead_lettered": "cloud kept seqs %(seqs)s aside as unreadable",
    "ack.refused": "ack %(seq)s: %(error)s",
    "ack.pending": "ack %(seq)s not applied yet: %(error)s",
    "journal.newer_epoch": "the cloud knows store file epoch %(cloud_epoch)s, newer than this "
                           "file's %(epoch)s: this is an older copy of the store file",
    "journal.ahead": "the cloud holds seq %(seq)s of this terminal, but this store file has "
                     "written only up to %(last)s: it was restored from an older copy or copied",
    "journal.conflicts": "the cloud holds other events at seqs %(seqs)s: this store file was "
                         "restored from an older copy or copied",
    "journal.other_event": "the cloud's event at seq %(seq)s is not this store file's: the "
                           "file was restored from an older copy or copied",
    "cloud.behind": "the cloud holds this terminal's events only up to seq %(cloud_seq)s but "
                    "had acknowledged up to %(acked)s: its database was restored from an older "
                    "backup%(before_repair)s%(lost)s%(resend)s",
    "cloud.before_repair": " taken before this store file's repair (epoch %(epoch)s)",
    "cloud.lost_one": _ONE_SEQ_TOO_OLD,
    "cloud.lost_many": _ONE_SEQ_TOO_OLD.replace(" is older", " are older"),
    "cloud.resend": "; sending %(seqs)s again",
    "cloud.gap_lost": "%(seqs)s: lost by the cloud's restore, older than the resend window: "
                      "they must be recovered at HQ from this till's journal",
    "seqs.one": "seq %(seq)s",
    "seqs.range": "seqs %(first)s-%(last)s",
    "store.damaged": "store file damaged: %(reason)s",
    "fleet.revoked": "credentials revoked: %(reason)s",
    "fleet.retired": "retired",
    "selftest.failed": "self-test failed: %(checks)s",
})  # fmt: skip

_PLACEHOLDER: Final = re.compile(r"%\((\w+)\)s")


def placeholders(template: str) -> frozenset[str]:
    """The argument names a template fills."""
    return frozenset(_PLACEHOLDER.findall(template))


class Said(str):
    """A problem's English text that keeps its message id and arguments.

    It is a str, so whatever compares, logs or shows the text goes on as before; the status
    reads ``msg_id`` and ``args`` off it (``to_wire``).
    """

    #: The ids this kind of message may name, and their English (a subclass brings its own).
    MESSAGES: ClassVar[Mapping[str, str]] = PROBLEMS
    msg_id: str
    args: Mapping[str, str | Said]

    def __new__(cls, msg_id: str, /, **args: object) -> Self:
        """The message ``msg_id`` (a key of MESSAGES) with its arguments (texts are cut to the
        wire's bound; a Said stays a message)."""
        kept: dict[str, str | Said] = {
            name: value if isinstance(value, Said) else str(value)[:MAX_PROBLEM_CHARS]
            for name, value in args.items()
        }
        made = super().__new__(cls, cls.MESSAGES[msg_id] % kept)
        made.msg_id, made.args = msg_id, MappingProxyType(kept)
        return made

    def __reduce_ex__(self, protocol: object) -> tuple[object, ...]:
        # A copy or a pickle: the same message, of the same kind.
        return _said, (type(self), self.msg_id, dict(self.args))


def _said(kind: type[Said], msg_id: str, args: dict[str, str | Said]) -> Said:
    return kind(msg_id, **args)


def to_wire(text: str) -> Problem | None:
    """The status's message for a problem (None for plain text, or one too deep to send)."""
    if not isinstance(text, Said):
        return None
    return _wire(text, 1)


def _wire(said: Said, depth: int) -> Problem | None:
    if depth > MAX_PROBLEM_DEPTH or len(said.args) > MAX_PROBLEM_ARGS:
        return None
    args: dict[str, str | Problem] = {}
    for name, value in said.args.items():
        if isinstance(value, Said):
            inner = _wire(value, depth + 1)
            args[name] = str(value)[:MAX_PROBLEM_CHARS] if inner is None else inner
        else:
            args[name] = value
    return Problem(id=said.msg_id, args=args)


def from_wire(message: Problem | None, text: str) -> str:
    """A Said again from a message kept as sent (a halt recorded in the store file); ``text``
    itself when the message is missing or not one this software knows."""
    said = None if message is None else _from_wire(message)
    return text if said is None else said


def _from_wire(message: Problem) -> Said | None:
    template = PROBLEMS.get(message.id)
    if template is None or set(message.args) != placeholders(template):
        return None
    args: dict[str, str | Said] = {}
    for name, value in message.args.items():
        inner = _from_wire(value) if isinstance(value, Problem) else value
        if inner is None:
            return None
        args[name] = inner
    return Said(message.id, **args)
