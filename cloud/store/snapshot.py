"""Reads the full current state of one downstream stream for one store, for a terminal snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from cloud.domain.snapshot import LoggedChange, MemberFacts, fold, members_snapshot
from cloud.store import member_facts
from cloud.store.db import CloudDB, utcnow
from cloud.store.downstream import append_change, current_version
from cloud.store.errors import UnknownStream
from protocol.topics import ALL_STORES, STREAMS

#: Rows fetched per query while walking a large table, so memory stays bounded per page.
_PAGE = 5000


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    """A stream's items for one store as of ``version``; ``left_out`` says who was dropped."""

    stream: str
    store_id: str
    version: int
    items: list[dict[str, Any]]
    left_out: dict[str, str] = field(default_factory=dict)


def build_snapshot(cdb: CloudDB, stream: str, store_id: str) -> StreamSnapshot:
    """The state a terminal of ``store_id`` should hold on ``stream``, with its stream version.

    The version is read before the state: state newer than the version is harmless (the
    terminal then re-applies those changes, which are idempotent upserts and deletes), while
    state older than the version would lose the changes in between.
    """
    if stream not in STREAMS:
        raise UnknownStream(f"stream {stream!r} is not one of {', '.join(STREAMS)}")
    version = current_version(cdb, stream)
    if version == 0:
        # A snapshot needs a version >= 1 for the terminal to record; an empty change gives
        # the stream one (terminals that catch up on it apply nothing).
        with cdb.write():
            version = current_version(cdb, stream) or append_change(
                cdb, stream, store_id, "upsert", [], utcnow()
            )
    streams = ("catalogue", "prices") if stream == "catalogue" else (stream,)
    folded = fold(_logged(cdb, streams, store_id), stream)
    if stream != "members":
        items = [folded.items[k] for k in sorted(folded.items)]
        return StreamSnapshot(stream, store_id, version, items)
    members = members_snapshot(folded, _member_facts(cdb))
    return StreamSnapshot(stream, store_id, version, _with_facts(cdb, members.items),
                          members.left_out)  # fmt: skip


def _with_facts(cdb: CloudDB, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give each member the cloud's current facts, revision and ``asof`` (read in pages)."""
    out = []
    now = utcnow()
    for start in range(0, len(items), _PAGE):
        page = items[start : start + _PAGE]
        facts = {f["member_id"]: f for f in member_facts.items(
            cdb, [i["member_id"] for i in page], now, bump=False)}  # fmt: skip
        for item in page:
            fact = facts.get(item["member_id"], {})
            extra = {k: fact[k] for k in ("rev", "asof", "returns_30d", "cumulative_spend_fen")
                     if k in fact}  # fmt: skip
            out.append({**item, **extra})
    return out


def _logged(cdb: CloudDB, streams: tuple[str, ...], store_id: str) -> Iterator[LoggedChange]:
    m = cdb.models
    last = 0
    while True:
        page = list(
            m.DownChange.select(m.DownChange.id, m.DownChange.stream, m.DownChange.kind,
                                m.DownChange.items)
            .where(m.DownChange.stream.in_(streams)
                   & m.DownChange.scope.in_([store_id, ALL_STORES]) & (m.DownChange.id > last))
            .order_by(m.DownChange.id)
            .limit(_PAGE)
            .tuples()
        )  # fmt: skip
        for row_id, stream, kind, items in page:
            yield LoggedChange(order=int(row_id), stream=stream, kind=kind, items=items)
        if len(page) < _PAGE:
            return
        last = int(page[-1][0])


def _member_facts(cdb: CloudDB) -> list[MemberFacts]:
    """Every member the cloud knows, earliest registered first, with its ledger balance."""
    m = cdb.models
    balances = dict(
        m.PointsLedger.select(m.PointsLedger.member_id, pw.fn.SUM(m.PointsLedger.delta))
        .group_by(m.PointsLedger.member_id)
        .tuples()
    )
    query = (
        m.Member.select(m.Member.member_id, m.Member.phone, m.Member.name, m.Member.tier,
                        m.Member.cumulative_spend_fen, m.Member.duplicate_of)
        .order_by(m.Member.registered_at.asc(nulls="LAST"), m.Member.member_id)
        .tuples()
    )  # fmt: skip
    return [
        MemberFacts(member_id=mid, phone=phone or "", name=name or "", tier=tier,
                    cumulative_spend_fen=int(spend), points_balance=int(balances.get(mid) or 0),
                    duplicate_of=dup)
        for mid, phone, name, tier, spend, dup in query
    ]  # fmt: skip
