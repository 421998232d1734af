"""High-water mark and gap reporting for per-terminal sequences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.domain.contiguity import advance_high_water, gaps_above


def test_gap_holds_the_mark_until_filled() -> None:
    # Arrivals 3, 1, 2, 2 (the order the ingest test publishes them in).
    stored: set[int] = set()
    marks = []
    for seq in (3, 1, 2, 2):
        stored.add(seq)
        marks.append(advance_high_water(0, stored))
    assert marks == [0, 1, 3, 3]


def test_seqs_at_or_below_the_mark_do_not_matter() -> None:
    assert advance_high_water(5, [1, 2, 5, 6, 8]) == 6


def test_negative_mark_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        advance_high_water(-1, [1])


def test_gaps_above_names_each_missing_range() -> None:
    assert gaps_above(2, [1, 2, 5, 6, 9]) == [(3, 4), (7, 8)]
    assert gaps_above(6, [1, 2, 3]) == []


@settings(max_examples=200, deadline=None)
@given(st.sets(st.integers(min_value=1, max_value=60)))
def test_mark_is_the_largest_prefix(stored: set[int]) -> None:
    mark = advance_high_water(0, stored)
    # Independent definition: largest n with {1..n} all present.
    expected = max((n for n in range(0, 61) if set(range(1, n + 1)) <= stored), default=0)
    assert mark == expected
    missing = [s for a, b in gaps_above(mark, stored) for s in range(a, b + 1)]
    assert missing == [s for s in range(mark + 1, max(stored, default=0)) if s not in stored]
