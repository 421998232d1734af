"""Integrity: held (implausible) events to accept or reject, seq conflicts and store-file epochs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from cloud.api.policy import ADMIN_ONLY, PolicyRouter, Role, allow
from cloud.api.publisher import PublishError
from cloud.api.security import Db, Who, audit
from cloud.domain.errors import DomainError
from cloud.store import flags, stores
from cloud.store.effects import IngestRules
from cloud.store.rules import RuleBook
from protocol.codec import encode_down
from protocol.envelope import DownChange, utc_iso
from protocol.topics import down_topic

READERS = allow(Role.STORE_MANAGER, Role.ANALYST, note="store managers: their stores only")
TerminalPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
SeqPath = Annotated[int, Path(ge=1, le=2**53 - 1)]


class Decision(BaseModel):
    """HQ's decision on a held event, and why (the note is what an auditor reads)."""

    note: str = Field(default="", max_length=2000)


class Decided(BaseModel):
    """The decision as recorded."""

    terminal_id: str
    seq: int
    state: Literal["accepted", "rejected"]
    member_changes_published: int = 0


def _rules(request: Request, cdb: Any) -> IngestRules:
    # Every published rules version: an accepted sale upgrades tiers by its own version's.
    base = IngestRules(timezones=stores.timezones(cdb))
    return RuleBook(base).load(cdb)


def _scoped(cdb: Any, who: Any) -> list[str] | None:
    return None if who.stores is None else flags.terminals_of(cdb, who.stores)


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Held events, their decisions, conflicts and epochs."""
    r = PolicyRouter(enforcer, tags=["integrity"])

    @r.get("/api/integrity/held", policy=READERS)
    def held(
        cdb: Db, who: Who,
        state: Annotated[Literal["open", "accepted", "rejected"] | None, Query()] = "open",
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Events stored but kept out of every figure until HQ decides, with the reasons."""
        return flags.flags(cdb, state=state, stores=who.stores, limit=limit)

    @r.post("/api/integrity/held/{terminal_id}/{seq}/accept", policy=ADMIN_ONLY,
            responses={409: {"description": "already decided, or unknown"}})  # fmt: skip
    def accept(
        cdb: Db, who: Who, request: Request, terminal_id: TerminalPath, seq: SeqPath,
        body: Decision,
    ) -> Decided:  # fmt: skip
        """Apply a held event to the figures, member spend and points, as ingest would have."""
        try:
            down = flags.accept(cdb, terminal_id, seq, who.username, body.note,
                                _rules(request, cdb))  # fmt: skip
        except (flags.DecisionError, DomainError) as err:
            raise HTTPException(409, str(err)) from err
        with cdb.write():
            audit(cdb, request, "held_accept", {"terminal_id": terminal_id, "seq": seq,
                                                "note": body.note})  # fmt: skip
        sent = 0
        for change in down:
            fields = {"stream": change.stream, "version": change.version, "scope": change.scope,
                      "kind": change.kind, "items": change.items, "previous": change.previous,
                      "sent_at": utc_iso(dt.datetime.now(dt.UTC))}  # fmt: skip
            message = DownChange(**fields)
            try:
                request.app.state.ctx.publisher.publish(
                    down_topic(change.scope, change.stream), encode_down(message)
                )
                sent += 1
            except PublishError:
                pass  # stored with its version: tills catch up
        return Decided(terminal_id=terminal_id, seq=seq, state="accepted",
                       member_changes_published=sent)  # fmt: skip

    @r.post("/api/integrity/held/{terminal_id}/{seq}/reject", policy=ADMIN_ONLY,
            responses={409: {"description": "already decided, or unknown"},
                       422: {"description": "no note"}})  # fmt: skip
    def reject(
        cdb: Db, who: Who, request: Request, terminal_id: TerminalPath, seq: SeqPath,
        body: Decision,
    ) -> Decided:  # fmt: skip
        """Keep a held event out of the figures for good; say why."""
        if not body.note.strip():
            raise HTTPException(422, "say why the event is rejected (note)")
        try:
            flags.reject(cdb, terminal_id, seq, who.username, body.note)
        except flags.DecisionError as err:
            raise HTTPException(409, str(err)) from err
        with cdb.write():
            audit(cdb, request, "held_reject", {"terminal_id": terminal_id, "seq": seq,
                                                "note": body.note})  # fmt: skip
        return Decided(terminal_id=terminal_id, seq=seq, state="rejected")

    @r.get("/api/integrity/conflicts", policy=READERS)
    def conflicts(
        cdb: Db, who: Who, limit: Annotated[int, Query(ge=1, le=1000)] = 200
    ) -> list[dict[str, Any]]:
        """Seqs a terminal sent again with other content: both versions are kept."""
        return flags.conflicts(cdb, terminal_ids=_scoped(cdb, who), limit=limit)

    @r.get("/api/integrity/epochs", policy=READERS)
    def epochs(cdb: Db, who: Who) -> list[dict[str, Any]]:
        """Store files given a new epoch after a restore, and the seqs their old file took."""
        return flags.epochs(cdb, terminal_ids=_scoped(cdb, who))

    return r
