"""What a till holds on a stream as of the versions it reported: what a snapshot would remove."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cloud.domain.snapshot import STREAM_KEYS, LoggedChange, fold
from cloud.store.db import CloudDB
from protocol.topics import ALL_STORES


@dataclass(frozen=True, slots=True)
class Removal:
    """How much of a till's cache a snapshot would remove."""

    cached: int
    removed: int

    @property
    def share(self) -> float:
        """Removed over cached (0 for an empty cache)."""
        return self.removed / self.cached if self.cached else 0.0


def cached_keys(cdb: CloudDB, stream: str, store_id: str, applied: Mapping[str, int]) -> set[str]:
    """Keys the till holds: the store's change log folded up to the versions it applied.

    The catalogue cache is written by the catalogue and prices streams together, so both
    versions bound it. A till that never reported a version holds nothing known.
    """
    streams = ("catalogue", "prices") if stream == "catalogue" else (stream,)
    m = cdb.models
    changes: list[LoggedChange] = []
    for s in streams:
        upto = int(applied.get(s, 0) or 0)
        if upto <= 0:
            continue
        rows = (
            m.DownChange.select(
                m.DownChange.id, m.DownChange.stream, m.DownChange.kind, m.DownChange.items
            )
            .where(
                (m.DownChange.stream == s)
                & (m.DownChange.version <= upto)
                & m.DownChange.scope.in_([store_id, ALL_STORES])
            )
            .tuples()
        )
        changes += [LoggedChange(int(i), st, k, items) for i, st, k, items in rows]
    return set(fold(changes, stream).items) if changes else set()


def removal(
    cached: set[str], snapshot_items: Iterable[Mapping[str, object]], stream: str
) -> Removal:
    """How many cached keys the snapshot's items leave out."""
    key = STREAM_KEYS[stream]
    kept = {str(item.get(key)) for item in snapshot_items}
    return Removal(cached=len(cached), removed=len(cached - kept))
