"""Reports: sales and the other HQ figures, from the rollups, as JSON tables or CSV."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from fastapi import HTTPException, Query
from fastapi.responses import Response

from cloud.api.policy import ADMIN_ONLY, REPORT_READERS, PolicyRouter, Role, allow
from cloud.api.routers.terminals import TERMINAL_READERS
from cloud.api.routers.users import audit_entries
from cloud.api.security import Db, Who
from cloud.api.tables import (
    CSV_RESPONSE,
    Format,
    ReportTable,
    answer,
    csv_response,
    described,
    filters,
)
from cloud.store import queries, registry
from cloud.store.reports import REPORTS, STORE_LEVEL

ReportName = Literal[
    "sales",
    "sales-by-store",
    "sales-by-terminal",
    "sales-by-day",
    "sales-by-hour",
    "sales-by-cashier",
    "sales-by-category",
    "sales-by-tender",
    "top-products",
    "bottom-products",
    "baskets",
    "returns",
    "discounts",
    "overrides",
    "no-sales",
    "shifts",
]
if set(get_args(ReportName)) != set(REPORTS):
    raise ImportError("cloud.api ReportName is out of step with cloud.store.reports.REPORTS")
#: A mainland mobile number inside free text, kept as 138****5678.
PHONE = re.compile(r"(?<!\d)(1\d{2})\d{4}(\d{4})(?!\d)")
Id = Annotated[str, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
HEALTH_COLUMNS = [
    "store_id",
    "terminal_id",
    "registration",
    "online",
    "last_seen",
    "outbox_depth",
    "oldest_unsynced_s",
    "printer",
    "software_version",
    "clock_synced",
    "acked_seq",
    "stored_above_gap",
    "problem",
    "flagged",
    "flag_reason",
]


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Report routes."""
    r = PolicyRouter(enforcer, tags=["reports"])

    @r.get(
        "/api/reports/{name}",
        policy=REPORT_READERS,
        responses=CSV_RESPONSE,
        response_model=ReportTable,
    )
    def report(
        cdb: Db,
        who: Who,
        name: ReportName,
        store: Id | None = None,
        terminal: Id | None = None,
        date_from: Annotated[dt.date | None, Query(description="first business day")] = None,
        date_to: Annotated[dt.date | None, Query(description="last business day")] = None,
        limit: Annotated[int, Query(ge=1, le=5000, description="rows for listings")] = 50,
        format: Format = "json",
    ) -> Any:
        """One report over business days (default: today), for one store or the caller's scope."""
        if terminal and name in STORE_LEVEL:
            raise HTTPException(422, f"{name} is kept per store, not per terminal: drop terminal")
        f = filters(
            cdb,
            who,
            store=store,
            terminal=terminal,
            date_from=date_from,
            date_to=date_to,
            limit=limit,
        )
        # Named as the route is, so the CSV file is called what the user asked for.
        table = dataclasses.replace(REPORTS[name](cdb, f), report=name)
        return answer(table, described(f), format)

    @r.get(
        "/api/terminal-health",
        policy=TERMINAL_READERS,
        responses=CSV_RESPONSE,
        response_model=ReportTable,
    )
    def terminal_health(cdb: Db, who: Who, store: Id | None = None, format: Format = "json") -> Any:
        """Terminal health as a table: online, last seen, backlog, printer, version, problem."""
        scope = who.scope(store)
        rows = [
            [t.get(c) for c in HEALTH_COLUMNS]
            for t in registry.terminals_with_registry(cdb)
            if scope is None or t["store_id"] in scope
        ]
        applied = {"stores": None if scope is None else sorted(scope)}
        if format == "csv":
            return csv_response("terminal_health", HEALTH_COLUMNS, rows, applied)
        return ReportTable(
            report="terminal_health", columns=HEALTH_COLUMNS, rows=rows, filters=applied
        )

    @r.get(
        "/api/dead-letters",
        policy=allow(Role.ANALYST),
        responses=CSV_RESPONSE,
        response_model=list[dict[str, Any]],
    )
    def dead_letters(
        cdb: Db,
        who: Who,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        format: Format = "json",
    ) -> Any:
        """Messages kept aside as unusable, newest first, with the reason."""
        found = queries.dead_letters(cdb, limit)
        if not who.sees_personal_data:  # a dead member registration carries a phone number
            for d in found:
                d["payload_preview"] = PHONE.sub(r"\1****\2", d["payload_preview"])
        if format == "csv":
            cols = [
                "id",
                "received_at",
                "topic",
                "terminal_id",
                "claimed_terminal_id",
                "reason",
                "seqs",
                "payload_size",
                "payload_preview",
            ]
            return csv_response("dead_letters", cols, [[d[c] for c in cols] for d in found], {})
        return found

    @r.get("/api/audit.csv", policy=ADMIN_ONLY, responses=CSV_RESPONSE)
    def audit_csv(cdb: Db, limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000) -> Response:
        """The HQ audit log as CSV, newest first."""
        cols = [
            "id",
            "at",
            "username",
            "role",
            "via",
            "ip",
            "method",
            "path",
            "action",
            "outcome",
            "detail",
        ]
        rows = [[getattr(e, c) for c in cols] for e in audit_entries(cdb, limit)]
        return csv_response("audit", cols, rows, {})

    @r.get("/api/sales", policy=REPORT_READERS)
    def sales(
        cdb: Db,
        who: Who,
        store: Id | None = None,
        terminal: Id | None = None,
        date: Annotated[dt.date | None, Query(description="store-local day, YYYY-MM-DD")] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    ) -> dict[str, Any]:
        """Totals for the filter, and the latest sales and returns (the events themselves)."""
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

    return r
