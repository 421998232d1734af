"""Points as a ledger of signed deltas: balances, and over-redemptions found on reconciliation."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

REDEEM_REASONS: frozenset[str] = frozenset({"redeem"})


@dataclass(frozen=True, slots=True)
class PointsChange:
    """One event's deltas for one member, in the order the event listed them."""

    member_id: str
    terminal_id: str
    seq: int
    sale_id: str
    deltas: tuple[tuple[int, str], ...]  # (delta, reason)


@dataclass(frozen=True, slots=True)
class OverRedemption:
    """A redemption that took a member's authoritative balance below zero."""

    member_id: str
    amount: int  # points by which this redemption overdrew the balance (positive)
    balance_after: int
    terminal_id: str
    seq: int
    sale_id: str


def balance(deltas: Iterable[int]) -> int:
    """A balance is never stored: it is the sum of the ledger's deltas."""
    return sum(deltas)


def reconcile(
    balances: Mapping[str, int], changes: Sequence[PointsChange]
) -> tuple[dict[str, int], list[OverRedemption]]:
    """Apply ``changes`` in order to ``balances``; report each redemption that overdraws.

    Terminals redeem offline against the balance they last knew, so two stores can each
    spend the same points. The cloud accepts both (the ledger is the truth) and records the
    overdraft: the amount is how much further below zero this event pushed the balance, so a
    member already negative is not reported twice for the same shortfall.
    """
    running = dict(balances)
    found: list[OverRedemption] = []
    for change in changes:
        before = running.get(change.member_id, 0)
        after = before + sum(delta for delta, _ in change.deltas)
        running[change.member_id] = after
        redeems = any(delta < 0 and reason in REDEEM_REASONS for delta, reason in change.deltas)
        overdrawn = max(0, -after) - max(0, -before)
        if redeems and overdrawn > 0:
            found.append(
                OverRedemption(
                    member_id=change.member_id,
                    amount=overdrawn,
                    balance_after=after,
                    terminal_id=change.terminal_id,
                    seq=change.seq,
                    sale_id=change.sale_id,
                )
            )
    return running, found
