"""Member aliases: a merged member's old id, mapped to the survivor wherever a till still uses it.

A till that was offline during a merge still holds the old id and keeps recording sales under
it. Ingest runs every batch's member changes through ``follow`` before writing them, so the
points, spend and history land on the survivor, exactly as if the till had used the new id.
Aliases are kept flat (an id merged into a member that is later merged again points at the
final survivor), so one lookup is enough.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from cloud.domain.projections import Projection
from cloud.store.db import CloudDB


def survivors(cdb: CloudDB, member_ids: Iterable[str]) -> dict[str, str]:
    """old id -> surviving id, for those of ``member_ids`` that were merged away."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    alias = cdb.jobs.MemberAlias
    rows = alias.select(alias.old_id, alias.new_id).where(alias.old_id.in_(ids)).tuples()
    return {old: new for old, new in rows}


def resolve(cdb: CloudDB, member_id: str) -> str:
    """The id a member is known by now (itself unless it was merged away)."""
    return survivors(cdb, [member_id]).get(member_id, member_id)


def _remap(mapping: Mapping[str, str], merged: Projection) -> Projection:
    spend: dict[str, int] = {}
    for member, fen in merged.spend.items():
        key = mapping.get(member, member)
        spend[key] = spend.get(key, 0) + fen
    return replace(
        merged,
        ledger=tuple(
            replace(r, member_id=mapping.get(r.member_id, r.member_id)) for r in merged.ledger
        ),
        points=tuple(
            replace(c, member_id=mapping.get(c.member_id, c.member_id)) for c in merged.points
        ),
        spend=spend,
    )


def follow(
    cdb: CloudDB, merged: Projection, mapping: Mapping[str, str] | None = None
) -> Projection:
    """The batch's member changes with merged-away ids replaced by their survivors.

    Runs inside the ingest transaction, after the batch's events are stored: their member
    column is moved to the survivor too, so its history, returns count and pushed ``asof``
    include them. Registrations are left alone (a member's own row is never rewritten).
    ``mapping`` is the batch's ``survivors`` when the caller looked them up already.
    """
    if mapping is None:
        mapping = survivors(cdb, set(merged.spend) | {r.member_id for r in merged.ledger})
    if not mapping:
        return merged
    event = cdb.models.Event
    for old, new in sorted(mapping.items()):
        event.update(member_id=new).where(event.member_id == old).execute()
    return _remap(mapping, merged)
