"""FIFO points expiry: which earned points are old enough to expire and were never spent.

Points are a ledger of signed deltas (MISSION). Every positive row is a lot: the points it
added, dated when the cloud recorded it. Every negative row takes points from lots, oldest
first (a spend "consumes the oldest first"), with two exceptions that take from one lot
before the oldest: an expiry row takes the lot it expired (it names it), and a return's
reversal takes the points its own sale earned (same origin sale) before any other. A
negative row that finds no points left is a debt (an over-redemption the cloud reconciled):
the next lots pay it first. What a lot still holds when it is older than the expiry period
is due to expire, and nothing else.

Rows are taken in the order the cloud recorded them (their ledger id), never by clock: the
cloud writes a member's rows only while holding the member's row lock, so id order is the
order the balance changed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

EXPIRY: Final = "expiry"
RETURN_REVERSAL: Final = "return_reversal"


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger row as the expiry reads it."""

    entry_id: int  # the ledger row's id: the order the cloud recorded rows in
    at: dt.datetime  # when the cloud recorded it (naive UTC): a lot's age
    delta: int
    reason: str
    origin: str = ""  # the sale it came from (origin_sale_id)
    lot: int | None = None  # an expiry row: the entry id of the lot it expired


@dataclass(frozen=True, slots=True)
class Lot:
    """Points one positive row added, and how many of them are still there."""

    entry_id: int
    at: dt.datetime
    origin: str
    added: int
    left: int


@dataclass(frozen=True, slots=True)
class Expiry:
    """Points of one lot that expire now."""

    lot: int  # entry id of the lot
    points: int  # > 0
    origin: str  # the sale that earned them
    added_at: dt.datetime


@dataclass(frozen=True, slots=True)
class Holdings:
    """What a member's ledger holds: its lots (oldest first) and any unpaid debt."""

    lots: tuple[Lot, ...]
    debt: int

    @property
    def balance(self) -> int:
        """The points the lots hold, less the debt: always the sum of the deltas."""
        return sum(lot.left for lot in self.lots) - self.debt


class _Book:
    """Lots in ledger order, with the left-over counts a consumption changes."""

    def __init__(self) -> None:
        self.ids: list[int] = []
        self.left: list[int] = []
        self.index: dict[int, int] = {}
        self.by_origin: dict[str, list[int]] = {}
        self.head = 0  # every lot before it is empty
        self.debt = 0

    def add(self, entry: Entry) -> None:
        paid = min(self.debt, entry.delta)
        self.debt -= paid
        self.index[entry.entry_id] = len(self.ids)
        if entry.origin:
            self.by_origin.setdefault(entry.origin, []).append(len(self.ids))
        self.ids.append(entry.entry_id)
        self.left.append(entry.delta - paid)

    def _take_at(self, i: int, need: int) -> int:
        took = min(need, self.left[i])
        self.left[i] -= took
        return need - took

    def take(self, entry: Entry) -> None:
        need = -entry.delta
        if entry.reason == EXPIRY and entry.lot in self.index:
            need = self._take_at(self.index[entry.lot], need)
        elif entry.reason == RETURN_REVERSAL and entry.origin:
            for i in self.by_origin.get(entry.origin, ()):
                if need == 0:
                    break
                need = self._take_at(i, need)
        while need > 0 and self.head < len(self.left):
            need = self._take_at(self.head, need)
            if self.left[self.head] == 0:
                self.head += 1
        self.debt += need


def holdings(entries: Iterable[Entry]) -> Holdings:
    """Replay a member's ledger in the order it was recorded."""
    ordered = sorted(entries, key=lambda e: e.entry_id)
    book = _Book()
    for entry in ordered:
        if entry.delta > 0:
            book.add(entry)
        elif entry.delta < 0:
            book.take(entry)
    by_id = {e.entry_id: e for e in ordered}
    lots = tuple(
        Lot(
            entry_id=i,
            at=by_id[i].at,
            origin=by_id[i].origin,
            added=by_id[i].delta,
            left=book.left[n],
        )
        for n, i in enumerate(book.ids)
    )
    return Holdings(lots, book.debt)


def cutoff(now: dt.datetime, after_days: int) -> dt.datetime:
    """Points recorded at or before this moment have reached the end of their period."""
    return now - dt.timedelta(days=after_days)


def due(entries: Iterable[Entry], before: dt.datetime) -> list[Expiry]:
    """What expires now: what every lot recorded at or before ``before`` still holds.

    Never more than the balance (a lot holds nothing while a debt is unpaid), never a point
    twice (an expiry row takes its lot's points, so the lot holds nothing afterwards).
    """
    return [
        Expiry(lot=lot.entry_id, points=lot.left, origin=lot.origin, added_at=lot.at)
        for lot in holdings(entries).lots
        if lot.left > 0 and lot.at <= before
    ]
