"""Rebase the till's member facts on the cloud's: its value plus this till's own uncounted events.

A pushed member fact says, for this till, up to which seq (and which seqs above it) the
cloud's value already counts this till's events (``asof``). The till keeps the cloud's value
plus the points, spend and returns of its own events the value does not count, so a sale it
made a minute ago is neither lost nor counted twice, whatever order the ACKs and the pushes
arrive in (docs/loyalty.md).
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

# Own member events after a seq: the sale's points and money paid (total less the points and
# coupon tenders, which are not money), and the return's points and money refunded.
_SALE_FIELDS: Final = (
    "SELECT seq, member_id, points_earned - points_redeemed, total_fen - coalesce(("
    "SELECT sum(json_extract(t.value, '$.amount_fen')) FROM json_each(sale.body, '$.tenders') "
    "AS t WHERE json_extract(t.value, '$.kind') IN ('points', 'coupon')), 0) FROM sale "
)
_RETURN_FIELDS: Final = (
    "SELECT r.seq, r.member_id, coalesce((SELECT sum(p.delta) FROM return_points AS p "
    "WHERE p.seq = r.seq AND p.member_id = r.member_id), 0), r.refund_fen - coalesce(("
    "SELECT sum(f.amount_fen) FROM return_refund AS f WHERE f.seq = r.seq "
    "AND f.kind IN ('points', 'coupon')), 0) FROM sale_return AS r "
)
# One member (a push): its own rows through the (member_id, seq) indexes.
_MEMBER_SALES: Final = _SALE_FIELDS + "WHERE member_id = ? AND seq > ?"
_MEMBER_RETURNS: Final = _RETURN_FIELDS + "WHERE r.member_id = ? AND r.seq > ?"
# Every member (a snapshot): one pass over the journal after a seq.
_ALL_SALES: Final = _SALE_FIELDS + "WHERE seq > ? AND member_id IS NOT NULL"
_ALL_RETURNS: Final = _RETURN_FIELDS + "WHERE r.seq > ? AND r.member_id IS NOT NULL"


@dataclass(frozen=True, slots=True)
class Own:
    """One of this till's events for a member: its seq and what it changed."""

    seq: int
    points: int
    spend_fen: int
    is_return: bool


@dataclass(frozen=True, slots=True)
class Asof:
    """Which of this till's seqs a cloud value counts: all up to ``prefix``, and ``extras``."""

    prefix: int
    extras: frozenset[int]

    def counts(self, seq: int) -> bool:
        """Whether the cloud's value already counts this till's event ``seq``."""
        return seq <= self.prefix or seq in self.extras


def asof_for(item: Mapping[str, Any], terminal_id: str) -> Asof:
    """This till's entry of a pushed item's ``asof``: none counted when the till is missing."""
    entry = (item.get("asof") or {}).get(terminal_id)
    if entry is None:
        return Asof(0, frozenset())
    prefix, extras = entry
    return Asof(int(prefix), frozenset(int(s) for s in extras))


def _own(rows: Iterable[tuple[Any, ...]], is_return: bool) -> Iterable[tuple[str, Own]]:
    sign = -1 if is_return else 1
    for seq, member_id, points, money in rows:
        yield str(member_id), Own(int(seq), int(points), sign * int(money), is_return)


def member_events(conn: sqlite3.Connection, member_id: str, after_seq: int) -> list[Own]:
    """This till's events for one member after ``after_seq``."""
    sales = conn.execute(_MEMBER_SALES, (member_id, after_seq))
    returns = conn.execute(_MEMBER_RETURNS, (member_id, after_seq))
    return [own for _, own in (*_own(sales, False), *_own(returns, True))]


def all_events(conn: sqlite3.Connection, after_seq: int) -> dict[str, list[Own]]:
    """This till's member events after ``after_seq``, by member, in one pass."""
    out: dict[str, list[Own]] = defaultdict(list)
    for member_id, own in (*_own(conn.execute(_ALL_SALES, (after_seq,)), False),
                           *_own(conn.execute(_ALL_RETURNS, (after_seq,)), True)):  # fmt: skip
        out[member_id].append(own)
    return out


def uncounted(events: Iterable[Own], asof: Asof) -> tuple[int, int, int]:
    """(points, spend, returns) of the events the cloud's value does not count yet."""
    points = spend = returns = 0
    for event in events:
        if not asof.counts(event.seq):
            points += event.points
            spend += event.spend_fen
            returns += int(event.is_return)
    return points, spend, returns


def this_terminal(conn: sqlite3.Connection) -> str:
    """The terminal id the store file belongs to ("" before a store ever claimed it)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'terminal_id'").fetchone()
    return str(row[0]) if row else ""
