"""Check what the cloud says it holds against this store file's own journal.

Every ACK (and the answer to the connect-time Hello) names the highest contiguous seq the
cloud holds, the event id stored there, the highest seq it holds at all and the epoch it
knows. A store file restored from an old backup, or copied to a second device, cannot agree
with all of that: the cloud is ahead of what the file has written, or holds other events at
the file's seqs, or already knows a newer epoch. Such an ACK is never applied (it would mark
unsynced sales as acknowledged) and sync stops until a technician starts a new epoch (docs/sync.md).

The other way round, a cloud whose answer to the Hello holds less than this file saw it
acknowledge, lost its own database to an older backup: the till sends the lost events again
from the acknowledged rows its outbox keeps for the resend window (``cloud_behind``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from protocol.envelope import Ack
from protocol.problems import Said


def generation(epoch: str) -> int:
    """The repair generation of an epoch (its first four hex digits; 0 when it has none)."""
    try:
        return int(epoch[:4], 16) if len(epoch) == 16 else 0
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class Journal:
    """Where this store file stands, read when an ACK arrives."""

    epoch: str
    last_seq: int  # highest seq written
    acked_seq: int  # highest seq seen acknowledged
    event_id_at: Callable[[int], str | None]  # id of the unacknowledged event at a seq
    # (acknowledged rows kept to resend have none here: a seq <= acked_seq is not checked)
    epoch_first_seq: int = 0  # the seq of this epoch's epoch_started event (0: never repaired)


@dataclass(frozen=True, slots=True)
class SeqsLost:
    """Seqs a restored cloud lost that this till can no longer send: older than its window."""

    first: int
    last: int
    cloud_seq: int  # the cloud's mark when it answered
    acked_seq: int  # what this till had seen acknowledged
    window_days: int


@dataclass(frozen=True, slots=True)
class CloudBehind:
    """A cloud restored from a backup: what the till sends again, and what it cannot."""

    cloud_seq: int  # resending starts above it: the cloud's mark in its answer to the Hello
    # (or, for a cloud restored to before this file's repair, just below the epoch's start)
    acked_seq: int  # what this till had seen acknowledged; the gap is closed once ACKed again
    lost: SeqsLost | None  # the part older than the resend window (already pruned here)
    text: Said  # for the cashier's status and HQ's terminal list


def cloud_behind(
    ack: Ack, journal: Journal, oldest_kept: int | None = None, window_days: int = 7
) -> CloudBehind | None:
    """What the cloud lost, when its answer to the Hello holds less than it acknowledged before
    (its database restored from a backup); None otherwise.

    The till keeps acknowledged events for its resend window and sends the lost ones again
    (the same seqs, ids, bodies and epoch). ``oldest_kept`` is the lowest seq its outbox still
    holds (None: none): lost seqs below it are past the window and cannot be sent again; the
    till names them, and tells the cloud with a ``seqs_lost`` event so the cloud's mark can
    pass them, and they must be recovered at HQ from the till's journal.

    An answer about an older epoch is usually not this: a repair's new epoch starts its seqs
    above the cloud's, which has not seen that epoch's first event yet. But once the cloud had
    acknowledged the new epoch's events, such an answer means it was restored to a backup
    older than the repair: the till sends again from the epoch's first event (the seqs below
    it were abandoned by the repair, and that event tells the cloud so again).
    """
    if not ack.hello or ack.acked_seq >= journal.acked_seq:
        return None
    floor = ack.acked_seq  # resending starts above it
    before_repair: str = ""
    if ack.epoch and journal.epoch and ack.epoch != journal.epoch:
        start = journal.epoch_first_seq
        kept = oldest_kept is not None and oldest_kept <= start
        if not (
            start and journal.acked_seq >= start and kept
            and generation(ack.epoch) < generation(journal.epoch)
        ):  # fmt: skip
            return None  # the repair on its way (or its start is past the resend window)
        floor = max(floor, start - 1)
        before_repair = Said("cloud.before_repair", epoch=journal.epoch)
    first, last = floor + 1, journal.acked_seq
    kept_from = last + 1 if oldest_kept is None else max(first, oldest_kept)
    lost = None
    too_old: str = ""
    if kept_from > first:
        lost = SeqsLost(first, min(last, kept_from - 1), ack.acked_seq, last, window_days)
        too_old = Said("cloud.lost_one" if lost.first == lost.last else "cloud.lost_many",
                       seqs=span(lost.first, lost.last), days=window_days)  # fmt: skip
    resend = Said("cloud.resend", seqs=span(kept_from, last)) if kept_from <= last else ""
    text = Said("cloud.behind", cloud_seq=ack.acked_seq, acked=last, before_repair=before_repair,
                lost=too_old, resend=resend)  # fmt: skip
    return CloudBehind(floor, last, lost, text)


def span(first: int, last: int) -> Said:
    """A seq range as people read it: "seqs 6-8", or "seq 6" alone."""
    if first == last:
        return Said("seqs.one", seq=first)
    return Said("seqs.range", first=first, last=last)


def problem(ack: Ack, journal: Journal) -> str:
    """Why ``ack`` cannot be about this store file ("" when it can)."""
    if ack.epoch and journal.epoch and generation(ack.epoch) > generation(journal.epoch):
        return Said("journal.newer_epoch", cloud_epoch=ack.epoch, epoch=journal.epoch)
    if ack.acked_seq > journal.last_seq or ack.max_seq > journal.last_seq:
        top = max(ack.acked_seq, ack.max_seq)
        return Said("journal.ahead", seq=top, last=journal.last_seq)
    if ack.conflicts:
        return Said("journal.conflicts", seqs=ack.conflicts[:5])
    if ack.acked_event_id and ack.acked_seq > journal.acked_seq:
        mine = journal.event_id_at(ack.acked_seq)
        if mine is not None and mine != ack.acked_event_id:
            return Said("journal.other_event", seq=ack.acked_seq)
    return ""
