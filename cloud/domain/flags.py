"""Why the cloud flags a terminal for HQ: message ids with arguments, and the English of each.

A flag is kept twice, like a till's problem (protocol.problems): as English text
(``flag_reason``: logs, the JSON API, the CSV, an HQ that predates ids) and as a message id
with its arguments (``flag_message``), which the HQ page says in its reader's language from
its catalogues. ``Flag`` is the text itself, a str that keeps its id and arguments; an
argument is text (a till's own words, a decoder's error) or a Flag again: a plausibility
check's reason (cloud.domain.implausible), the reason a till gave for a new epoch.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Final

import msgspec

from cloud.domain.implausible import REASONS
from protocol.problems import Said, to_wire

_RESTORED_OR_COPIED = ": a restored or copied store file?"

#: Every id the cloud flags a terminal with, and its English (the catalogue's msgid).
FLAGS: Final = MappingProxyType({
    "hello.superseded": "store file epoch %(epoch)s was superseded by %(held)s: a copy of an "
                        "older store file is running; it must not publish (see docs/sync.md)",
    "hello.restored": "store file restored from an older copy: it has written up to seq "
                      "%(last)s, the cloud holds up to %(held)s; the terminal stops publishing "
                      "until a technician starts a new epoch (docs/sync.md)",
    "lost.too_many": "seqs_lost seq %(seq)s names %(count)s seqs, more than one event may "
                     "(%(most)s): not recorded",
    "lost.recorded": "seqs %(first)s-%(last)s of this terminal were lost when the cloud database "
                     "was restored from an older backup, and are older than the till's "
                     "%(days)s-day resend window: recover those sales from the till's journal",
    "epoch.started": "store file epoch %(epoch)s started at seq %(seq)s (%(reason)s); "
                     "%(abandoned)s seq(s) of the old file abandoned",
    "event.unusable": "unusable event body: %(reason)s",
    "event.implausible": "implausible %(type)s seq %(seq)s: %(reason)s",
    "seq.other_content": "seq %(seq)s already holds other content" + _RESTORED_OR_COPIED,
    "seq.other_event": "seq %(seq)s already holds event %(event)s" + _RESTORED_OR_COPIED,
    "fence.superseded": "written by store file epoch %(epoch)s, superseded by %(current)s from "
                        "seq %(since)s (a copied or restored store file still running?)",
    "fence.other_epoch": "epoch_started names epoch '%(named)s' but was sent under '%(sent)s'",
    "fence.not_newer": "epoch %(epoch)s is not newer than the current epoch %(current)s "
                       "(generation %(generation)s <= %(current_generation)s)",
    "fence.not_above": "epoch starts at seq %(seq)s, not above the cloud's seq %(cloud_seq)s",
    "fence.carried_above": "carried_after_seq is above the cloud's max seq the repair was told",
    "fence.skips": "epoch starts at seq %(seq)s, skipping more seqs above the cloud's mark "
                   "%(mark)s than its carried events and the cloud's gap explain",
    "status.unreadable": "status: %(kind)s: %(error)s",
    "payload.bad_topic": "bad topic: %(error)s",
    "payload.unreadable": "%(kind)s: %(error)s",  # a till's "sync.step" says the same
    # why a till started a new epoch (protocol.bodies.EpochStartedBody.reason), as it says it
    "epoch.restored": "restored",
    "epoch.cloned": "cloned",
    "epoch.technician": "technician",
    **REASONS,
})  # fmt: skip


class Flag(Said):
    """Why the cloud flags a terminal: English text keeping its id (a key of FLAGS)."""

    MESSAGES: ClassVar[Mapping[str, str]] = FLAGS


def epoch_reason(reason: str) -> str:
    """The reason a till gave for a new epoch, as a message when it is one this cloud knows."""
    msg_id = f"epoch.{reason}"
    return Flag(msg_id) if msg_id in FLAGS else reason


def stored_message(reason: str) -> dict[str, Any] | None:
    """What ``flag_message`` keeps of a reason: its id and arguments (None for plain text)."""
    message = to_wire(reason) if isinstance(reason, Flag) else None
    return None if message is None else msgspec.to_builtins(message)
