"""Report tables over HTTP: filters checked with clear messages, answers as JSON or CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from typing import Any, Final, Literal

from fastapi.responses import Response
from pydantic import BaseModel

from cloud.api.policy import Principal
from cloud.api.reasons import Refused
from cloud.store import stores
from cloud.store.db import CloudDB
from cloud.store.reports import Filters, Table

EARLIEST: Final = dt.date(2000, 1, 1)
LATEST: Final = dt.date(2100, 12, 31)
MAX_DAYS: Final = 366
Format = Literal["json", "csv"]


class ReportTable(BaseModel):
    """A report as a table; every table is also exported as CSV with ``format=csv``."""

    report: str
    columns: list[str]
    rows: list[list[str | int | float | None]]
    filters: dict[str, Any]


def filters(
    cdb: CloudDB,
    who: Principal,
    *,
    store: str | None,
    terminal: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    limit: int,
) -> Filters:
    """Check the filters (422 for bad dates, 404 for unknown stores/terminals, 403 out of scope)."""
    if store is not None and not stores.store_known(cdb, store):
        raise Refused(404, "unknown store %(store)r", store=store)
    scope = who.scope(store)
    if terminal is not None:
        t = cdb.models.Terminal.get_or_none(cdb.models.Terminal.terminal_id == terminal)
        r = cdb.hq.TerminalRegistration.get_or_none(
            cdb.hq.TerminalRegistration.terminal_id == terminal
        )
        home = t.store_id if t is not None else (r.store_id if r is not None else None)
        if home is None:
            raise Refused(404, "unknown terminal %(terminal)r", terminal=terminal)
        if scope is not None and home not in scope:
            raise Refused(403, "terminal %(terminal)r is outside your stores", terminal=terminal)
    bounds = {"earliest": EARLIEST, "latest": LATEST}
    if date_from is not None and not EARLIEST <= date_from <= LATEST:
        raise Refused(422, "date_from %(day)s is out of range (%(earliest)s to %(latest)s)",
                      day=date_from, **bounds)  # fmt: skip
    if date_to is not None and not EARLIEST <= date_to <= LATEST:
        raise Refused(422, "date_to %(day)s is out of range (%(earliest)s to %(latest)s)",
                      day=date_to, **bounds)  # fmt: skip
    clock = stores.clocks(cdb).get(store or "") or stores.StoreClock(
        stores.zone(stores.DEFAULT_TIMEZONE)
    )
    today = clock.today()
    start, end = date_from or date_to or today, date_to or date_from or today
    if end < start:
        raise Refused(422, "date_to %(end)s is before date_from %(start)s", end=end, start=start)
    if (end - start).days + 1 > MAX_DAYS:
        raise Refused(
            422, "at most %(most)s days per report; asked for %(asked)s", most=MAX_DAYS,
            asked=(end - start).days + 1,
        )  # fmt: skip
    return Filters(stores=scope, date_from=start, date_to=end, terminal=terminal, limit=limit)


def described(f: Filters) -> dict[str, Any]:
    """The filters as applied, for the answer."""
    return {
        "stores": None if f.stores is None else sorted(f.stores),
        "terminal": f.terminal,
        "date_from": f.date_from.isoformat(),
        "date_to": f.date_to.isoformat(),
        "limit": f.limit,
    }


def answer(table: Table, applied: dict[str, Any], fmt: Format) -> ReportTable | Response:
    """JSON, or CSV (UTF-8 with a BOM, so spreadsheet programs show Chinese right)."""
    if fmt == "csv":
        return csv_response(table.report, table.columns, table.rows, applied)
    return ReportTable(report=table.report, columns=table.columns, rows=table.rows, filters=applied)


def csv_response(
    name: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], applied: dict[str, Any]
) -> Response:
    """A CSV download of one table."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow(columns)
    w.writerows(["" if v is None else v for v in row] for row in rows)
    span = f"_{applied['date_from']}_{applied['date_to']}" if "date_from" in applied else ""
    return Response(
        buf.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}{span}.csv"'},
    )


CSV_RESPONSE: Final = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "the table (JSON), or CSV with format=csv",
    }
}
