"""Reports: sales and the other HQ figures, from the rollups, as JSON tables or CSV."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import HTTPException, Query

from cloud.api.policy import REPORT_READERS, PolicyRouter, Role, allow
from cloud.api.security import Db, Who
from cloud.store import queries


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Report routes."""
    r = PolicyRouter(enforcer, tags=["reports"])

    @r.get("/api/sales", policy=REPORT_READERS)
    def sales(
        cdb: Db,
        who: Who,
        store: Annotated[str | None, Query(max_length=32)] = None,
        terminal: Annotated[str | None, Query(max_length=32)] = None,
        date: Annotated[dt.date | None, Query(description="store-local day, YYYY-MM-DD")] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    ) -> dict[str, Any]:
        """Totals for the filter, and the latest sales and returns."""
        scope = who.scope(store)
        if scope is not None and store is None:
            if len(scope) != 1:
                raise HTTPException(422, "you manage several stores: pick one with ?store=")
            store = next(iter(scope))
        if terminal and scope is not None:
            t = cdb.models.Terminal.get_or_none(cdb.models.Terminal.terminal_id == terminal)
            if t is not None and t.store_id not in scope:
                raise HTTPException(403, f"terminal {terminal!r} is outside your stores")
        return queries.sales(cdb, store=store, terminal=terminal, day=date, limit=limit)

    @r.get("/api/dead-letters", policy=allow(Role.ANALYST))
    def dead_letters(
        cdb: Db, limit: Annotated[int, Query(ge=1, le=1000)] = 100
    ) -> list[dict[str, Any]]:
        """Messages kept aside as unusable, newest first, with the reason."""
        return queries.dead_letters(cdb, limit)

    return r
