"""What the cloud holds of one terminal, and what a terminal's hello says about its store file."""

from __future__ import annotations

from dataclasses import dataclass

from cloud.domain.epochs import generation
from cloud.domain.flags import Flag
from cloud.store.db import CloudDB
from cloud.store.seqs import event_id_at
from protocol.envelope import Hello


@dataclass(frozen=True, slots=True)
class HeldState:
    """The cloud's view of a terminal's seqs: the mark, its event, the top seq, the epoch."""

    high_water: int = 0
    event_id: str = ""
    max_seq: int = 0
    epoch: str = ""


def terminal_state(cdb: CloudDB, terminal_id: str) -> HeldState:
    """What the cloud holds of ``terminal_id`` (all zero for a terminal never heard from)."""
    m = cdb.models
    row = (
        m.Terminal.select(m.Terminal.high_water, m.Terminal.max_seq, m.Terminal.epoch)
        .where(m.Terminal.terminal_id == terminal_id)
        .tuples()
        .first()
    )
    if row is None:
        return HeldState()
    high_water, max_seq, epoch = int(row[0]), int(row[1]), str(row[2] or "")
    return HeldState(high_water, event_id_at(cdb, terminal_id, high_water), max_seq, epoch)


def hello_problem(hello: Hello, held: HeldState) -> str:
    """Why a terminal's store file cannot be the one the cloud heard from ("" if it can be)."""
    if held.epoch and hello.epoch and generation(hello.epoch) < generation(held.epoch):
        return Flag("hello.superseded", epoch=hello.epoch, held=held.epoch)
    if hello.last_seq < held.high_water:
        return Flag("hello.restored", last=hello.last_seq, held=held.high_water)
    return ""
