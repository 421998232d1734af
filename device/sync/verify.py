"""Check what the cloud says it holds against this store file's own journal.

Every ACK (and the answer to the connect-time Hello) names the highest contiguous seq the
cloud holds, the event id stored there, the highest seq it holds at all and the epoch it
knows. A store file restored from an old backup, or copied to a second device, cannot agree
with all of that: the cloud is ahead of what the file has written, or holds other events at
the file's seqs, or already knows a newer epoch. Such an ACK is never applied (it would delete
unsynced sales) and sync stops until a technician starts a new epoch (docs/sync.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from protocol.envelope import Ack


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


def cloud_behind(ack: Ack, journal: Journal) -> str:
    """What the cloud lost, when its answer to the Hello holds less than it acknowledged before
    (its database restored from a backup); "" otherwise.

    The terminal keeps publishing (the cloud stores what comes above its gap), but it cannot
    send the lost events again by itself: acknowledged events leave the outbox.
    """
    if not ack.hello or ack.acked_seq >= journal.acked_seq:
        return ""
    return (
        f"the cloud holds this terminal's events only up to seq {ack.acked_seq} but had "
        f"acknowledged up to {journal.acked_seq}: its database was restored from an older "
        f"backup; seqs {ack.acked_seq + 1}-{journal.acked_seq} must be recovered at HQ"
    )


def problem(ack: Ack, journal: Journal) -> str:
    """Why ``ack`` cannot be about this store file ("" when it can)."""
    if ack.epoch and journal.epoch and generation(ack.epoch) > generation(journal.epoch):
        return (
            f"the cloud knows store file epoch {ack.epoch}, newer than this file's "
            f"{journal.epoch}: this is an older copy of the store file"
        )
    if ack.acked_seq > journal.last_seq or ack.max_seq > journal.last_seq:
        top = max(ack.acked_seq, ack.max_seq)
        return (
            f"the cloud holds seq {top} of this terminal, but this store file has written only "
            f"up to {journal.last_seq}: it was restored from an older copy or copied"
        )
    if ack.conflicts:
        return (
            f"the cloud holds other events at seqs {ack.conflicts[:5]}: this store file was "
            "restored from an older copy or copied"
        )
    if ack.acked_event_id and ack.acked_seq > journal.acked_seq:
        mine = journal.event_id_at(ack.acked_seq)
        if mine is not None and mine != ack.acked_event_id:
            return (
                f"the cloud's event at seq {ack.acked_seq} is not this store file's: the file "
                "was restored from an older copy or copied"
            )
    return ""
