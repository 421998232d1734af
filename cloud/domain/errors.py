"""The cloud's exception bases: messages the HQ page can say in its reader's language, and the
cloud domain's own (an event whose body breaks the rules projections need)."""

from __future__ import annotations

from typing import Any, Self


class Explained(Exception):
    """An error whose message is an English catalogue id with ``%(name)s`` placeholders.

    ``msgid`` and ``params`` keep the two apart, so the HQ page looks the message up in its
    catalogues (zh_CN, en) and says it in the reader's language; ``str(err)`` is the English
    with the parameters filled in (logs, the JSON API, tests).
    """

    def __init__(self, message: object = "", /, *more: object, **params: Any) -> None:
        self.msgid = message if isinstance(message, str) else ""
        self.params = params
        text = self.msgid % params if params and self.msgid else message
        super().__init__(text, *more)

    @classmethod
    def like(cls, err: BaseException) -> Self:
        """``err``'s message (its catalogue id and parameters kept) as this kind of error."""
        return cls(getattr(err, "msgid", "") or str(err), **getattr(err, "params", {}))


class DomainError(Explained):
    """An event body the projections cannot use; ``str(err)`` names the field and the problem."""
