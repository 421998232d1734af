"""Per-terminal sequence bookkeeping: the contiguous high-water mark and the gaps above it."""

from __future__ import annotations

from collections.abc import Iterable


def advance_high_water(current: int, stored_seqs: Iterable[int]) -> int:
    """Return the highest seq reachable from ``current`` without skipping a missing seq.

    ``stored_seqs`` may contain anything already stored (duplicates, seqs at or below
    ``current``, seqs above a gap); only an unbroken run starting at ``current + 1`` moves
    the mark. The ACK names this mark, so a gap keeps the terminal resending from there.
    """
    if current < 0:
        raise ValueError(f"high-water mark cannot be negative: {current}")
    present = set(stored_seqs)
    mark = current
    while mark + 1 in present:
        mark += 1
    return mark


def gaps_above(high_water: int, stored_seqs: Iterable[int]) -> list[tuple[int, int]]:
    """Return the missing ranges (first, last inclusive) between ``high_water`` and the top seq.

    HQ shows these beside a terminal's backlog: events stored above a gap are safe in the
    cloud but not yet acknowledged, because an earlier seq has not arrived.
    """
    above = sorted({s for s in stored_seqs if s > high_water})
    missing: list[tuple[int, int]] = []
    expected = high_water + 1
    for seq in above:
        if seq > expected:
            missing.append((expected, seq - 1))
        expected = seq + 1
    return missing
