"""Store-file epochs: which incoming events a terminal's current epoch lets in, defers or fences.

A terminal's store file gets an epoch when it is created. A file restored from a backup, or
copied to a second device, still carries the old epoch and re-uses seqs the cloud already
holds; the technician's repair gives it a new epoch whose first event (``epoch_started``)
sits above every seq the cloud held. An epoch is ``GGGG`` + 12 hex digits: the generation
(0 for a new file, +1 per repair) orders epochs, so the cloud can tell a superseded file
(an older generation, e.g. a clone still running) from a newer one whose ``epoch_started``
it has not seen yet (batches of one terminal may be committed out of order by two workers).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cloud.domain.errors import DomainError
from cloud.domain.flags import Flag

EPOCH_HEX_DIGITS = 16
GENERATION_HEX_DIGITS = 4


def generation(epoch: str) -> int:
    """The repair generation an epoch names (0 for an epoch without one, e.g. old software)."""
    if len(epoch) != EPOCH_HEX_DIGITS:
        return 0
    try:
        return int(epoch[:GENERATION_HEX_DIGITS], 16)
    except ValueError:
        return 0


class Decision(enum.Enum):
    """What ingest does with one event."""

    STORE = "store"  # insert (or find it already held, or a conflict) by (terminal, seq)
    DEFER = "defer"  # a newer epoch whose start is not stored yet: not stored, not acked
    FENCE = "fence"  # written by a superseded store file into the current epoch's seqs


@dataclass(frozen=True, slots=True)
class EpochState:
    """What the cloud knows of a terminal's store file: its epoch and where that epoch starts."""

    epoch: str = ""  # "" until an event carrying one arrives
    since_seq: int = 1  # the epoch's first seq (its epoch_started event; 1 for a new file)
    carry_after: int = 0  # carried events may duplicate ones held above this seq...
    carry_from: int = 0  # ...and are the seqs carry_from..carry_to of this epoch
    carry_to: int = 0


@dataclass(frozen=True, slots=True)
class EpochStart:
    """A validated epoch_started event, as the terminal row and the epochs table record it."""

    seq: int
    epoch: str
    previous_epoch: str
    reason: str
    cloud_high_water: int
    cloud_max_seq: int
    carried_after_seq: int
    carried: int


@dataclass(frozen=True, slots=True)
class Ruling:
    """The decision for one event, with the reason when it is not simply stored."""

    seq: int
    decision: Decision
    reason: str = ""


def _start(seq: int, epoch: str, body: Any) -> EpochStart:
    try:
        return EpochStart(
            seq=seq,
            epoch=str(body["epoch"]),
            previous_epoch=str(body["previous_epoch"]),
            reason=str(body["reason"]),
            cloud_high_water=int(body["cloud_high_water"]),
            cloud_max_seq=int(body["cloud_max_seq"]),
            carried_after_seq=int(body["carried_after_seq"]),
            carried=int(body["carried"]),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise DomainError(f"epoch_started seq {seq}: {err}") from None


def check_start(state: EpochState, start: EpochStart, event_epoch: str) -> str:
    """Why an epoch_started event cannot open its epoch ("" when it can)."""
    if start.epoch != event_epoch:
        return Flag("fence.other_epoch", named=start.epoch, sent=event_epoch)
    if state.epoch and generation(start.epoch) <= generation(state.epoch):
        return Flag("fence.not_newer", epoch=start.epoch, current=state.epoch,
                    generation=generation(start.epoch),
                    current_generation=generation(state.epoch))  # fmt: skip
    if start.seq <= start.cloud_max_seq or start.seq <= start.cloud_high_water:
        return Flag("fence.not_above", seq=start.seq, cloud_seq=start.cloud_max_seq)
    if start.carried_after_seq > start.cloud_max_seq:
        return Flag("fence.carried_above")
    return ""


def rule(
    state: EpochState, high_water: int, events: Sequence[tuple[int, str, str, Any]]
) -> tuple[list[Ruling], list[EpochStart], EpochState]:
    """Decide each event of one batch, in seq order; return the rulings, epochs opened, new state.

    ``events`` are (seq, epoch, type, body). Events without an epoch (software that predates
    epochs) are always stored; their seqs still meet conflict detection.
    """
    rulings: list[Ruling] = []
    starts: list[EpochStart] = []
    for seq, epoch, event_type, body in sorted(events, key=lambda e: e[0]):
        if not epoch:
            rulings.append(Ruling(seq, Decision.STORE))
            continue
        if event_type == "epoch_started":
            start = _start(seq, epoch, body)
            problem = check_start(state, start, epoch) if state.epoch != epoch else ""
            if not problem and state.epoch != epoch and not plausible_abandon(high_water, start):
                problem = Flag("fence.skips", seq=seq, mark=high_water)
            if problem:
                rulings.append(Ruling(seq, Decision.FENCE, problem))
                continue
            if state.epoch != epoch:
                starts.append(start)
                state = EpochState(
                    epoch=epoch,
                    since_seq=seq,
                    carry_after=start.carried_after_seq,
                    carry_from=seq + 1,
                    carry_to=seq + start.carried,
                )
            rulings.append(Ruling(seq, Decision.STORE))
            continue
        if not state.epoch:
            state = replace(state, epoch=epoch)  # first contact: adopt the file's epoch
            rulings.append(Ruling(seq, Decision.STORE))
        elif epoch == state.epoch:
            rulings.append(Ruling(seq, Decision.STORE))
        elif generation(epoch) > generation(state.epoch):
            rulings.append(Ruling(seq, Decision.DEFER, f"epoch {epoch} has not started here yet"))
        elif seq >= state.since_seq:
            rulings.append(
                Ruling(
                    seq,
                    Decision.FENCE,
                    Flag(
                        "fence.superseded", epoch=epoch, current=state.epoch, since=state.since_seq
                    ),
                )
            )
        else:
            rulings.append(Ruling(seq, Decision.STORE))  # below the new epoch: seq rules apply
    return rulings, starts, state


def is_carried(state: EpochState, seq: int) -> bool:
    """Whether ``seq`` is one of the carried events of the terminal's current epoch."""
    return state.carry_from <= seq <= state.carry_to


def abandoned_range(high_water: int, start: EpochStart) -> tuple[int, int] | None:
    """The seqs below an epoch's start that the lost file held and that will never come."""
    first, last = high_water + 1, start.seq - 1
    return (first, last) if first <= last else None


def plausible_abandon(high_water: int, start: EpochStart) -> bool:
    """Whether an epoch start skips no more seqs than its own numbers explain.

    The skipped seqs are the cloud's gap (high water to max seq) plus the restored file's own
    unsent events, which the repair carries; a start far above that would make the cloud
    give up on seqs no repair could explain.
    """
    span = abandoned_range(high_water, start)
    if span is None:
        return True
    return span[1] - span[0] + 1 <= max(0, start.cloud_max_seq - high_water) + start.carried
