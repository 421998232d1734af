"""The HQ page (server-rendered, htmx updates): sign-in, dashboard, store, products, cashiers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloud.api import i18n
from cloud.api.pages import LANG_COOKIE, chart
from cloud.api.policy import ANY_SIGNED_IN, PUBLIC, REPORT_READERS, PolicyRouter, Principal, Role
from cloud.api.reasons import Refused
from cloud.api.routers.auth import sign_in
from cloud.api.security import SESSION_COOKIE, Db, Who, audit
from cloud.api.tables import filters
from cloud.store import hq_access, registry, stores
from cloud.store.db import CloudDB
from cloud.store.reports import REPORTS, Filters

Id = Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]*$")]
Day = Annotated[dt.date | None, Query()]
#: Terminal problems that put it on the dashboard's attention list.
STALE_BACKLOG_S = 300
#: A till whose certificate ends within this is shown for a rotation (`terminal rotate`).
CERT_DUE = dt.timedelta(days=30)


def rows_of(table: Any) -> list[dict[str, Any]]:
    """A report Table as dicts by column."""
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def attention(t: dict[str, Any], now: dt.datetime | None = None) -> list[str]:
    """Why a terminal needs attention (English keys, translated in the template)."""
    why = []
    if not t["online"]:
        why.append("offline")
    # "none": no printer fitted; "unknown": not reported yet. Neither needs anyone to act.
    if t.get("printer") not in (None, "ok", "none", "unknown"):
        why.append("printer")
    if (t.get("oldest_unsynced_s") or 0) > STALE_BACKLOG_S:
        why.append("backlog")
    if t.get("flagged"):
        why.append("flagged")
    if t.get("problem"):
        why.append("problem")
    if t.get("cert_mismatch"):
        why.append("cert_mismatch")
    if t.get("registration") == "revoked":
        why.append("revoked")
    elif cert_due(t, now or dt.datetime.now(dt.UTC)):
        why.append("certificate")
    return why


def cert_due(t: dict[str, Any], now: dt.datetime) -> bool:
    """Whether the till's certificate (as its last status says) ends within CERT_DUE."""
    if not t.get("cert_not_after"):
        return False
    try:
        end = dt.datetime.fromisoformat(str(t["cert_not_after"]))
    except ValueError:
        return False  # statuses are checked at ingest; an odd one is no reason to fail the page
    return end.replace(tzinfo=end.tzinfo or dt.UTC) - now <= CERT_DUE


def _filters(
    cdb: CloudDB,
    who: Principal,
    store: str | None,
    date_from: dt.date | None,
    date_to: dt.date | None,
    limit: int = 20,
) -> Filters:
    return filters(
        cdb,
        who,
        store=store or None,
        terminal=None,
        date_from=date_from,
        date_to=date_to,
        limit=limit,
    )


def _hourly_chart(rows: list[dict[str, Any]], label: str) -> str:
    by_hour = {r["hour"]: r["sales_fen"] for r in rows}
    return chart(
        {
            "animation": False,  # a dashboard that refreshes itself should not replay animations
            "tooltip": {"trigger": "axis"},
            "grid": {"left": 60, "right": 16, "top": 24, "bottom": 32},
            "xAxis": {"type": "category", "data": [f"{h:02d}" for h in range(24)]},
            "yAxis": {"type": "value", "name": "¥"},
            "series": [
                {
                    "name": label,
                    "type": "bar",
                    "data": [round(by_hour.get(h, 0) / 100, 2) for h in range(24)],
                }
            ],
        }
    )


def dashboard_context(cdb: CloudDB, who: Principal, f: Filters, gettext: Any) -> dict[str, Any]:
    """Today (or the chosen days) by store, the hourly chart, top products, terminals to see."""
    by_store = rows_of(REPORTS["sales-by-store"](cdb, f))
    hourly = rows_of(REPORTS["sales-by-hour"](cdb, f))
    top = rows_of(REPORTS["top-products"](cdb, Filters(f.stores, f.date_from, f.date_to, None, 10)))
    terms = [
        t
        for t in registry.terminals_with_registry(cdb)
        if f.stores is None or t["store_id"] in f.stores
    ]
    needing = [(t, attention(t)) for t in terms if attention(t)]
    [total] = rows_of(REPORTS["sales"](cdb, f)) or [{}]
    return {
        "by_store": by_store,
        "hourly_chart": _hourly_chart(hourly, gettext("Sales")),
        "top": top,
        "needing": needing,
        "total": total,
        "terminal_count": len(terms),
        "f": f,
    }


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """The page routes (not in the OpenAPI document)."""
    r = PolicyRouter(enforcer, include_in_schema=False)

    def page(request: Request, template: str, who: Principal | None, **ctx: Any) -> HTMLResponse:
        return request.app.state.renderer.render(request, template, who, **ctx)

    def gettext(request: Request, who: Principal | None) -> Any:
        return request.app.state.renderer.gettext(request, who)

    @r.get("/login", policy=PUBLIC)
    def login_form(request: Request, next: Annotated[str, Query(max_length=300)] = "/") -> Response:
        return page(request, "login.html", None, next=_safe_next(next), error="")

    @r.post("/login", policy=PUBLIC)
    def login(
        cdb: Db,
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=200)],
        next: Annotated[str, Form(max_length=300)] = "/",
    ) -> Response:
        target = _safe_next(next)
        response = RedirectResponse(target, status_code=303)
        try:
            sign_in(cdb, request, response, username, password)
        except HTTPException as err:
            _ = gettext(request, None)
            message = (
                _("Too many failed sign-ins; try again later.")
                if err.status_code == 429
                else _("Wrong username or password.")
            )
            return request.app.state.renderer.render(
                request, "login.html", None, status=err.status_code, next=target, error=message
            )
        return response

    @r.post("/logout", policy=ANY_SIGNED_IN)
    def logout(cdb: Db, request: Request) -> Response:
        with cdb.write():
            cookie = request.cookies.get(SESSION_COOKIE)
            if cookie:
                hq_access.close_session(cdb, cookie)
            audit(cdb, request, "sign_out")
        response = Response(status_code=204, headers={"HX-Redirect": "/login"})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @r.get("/lang/{code}", policy=ANY_SIGNED_IN)
    def language(
        request: Request, code: str, back: Annotated[str, Query(max_length=300)] = "/"
    ) -> Response:
        if code not in i18n.LANGUAGES:
            raise Refused(
                404, "no language %(code)r; one of %(languages)s", code=code,
                languages=", ".join(i18n.LANGUAGES),
            )  # fmt: skip
        response = RedirectResponse(_safe_next(back), status_code=303)
        response.set_cookie(
            LANG_COOKIE, code, max_age=365 * 86400, samesite="strict", httponly=True
        )
        return response

    @r.get("/", policy=ANY_SIGNED_IN)
    def dashboard(
        cdb: Db,
        who: Who,
        request: Request,
        store: Id = None,
        date_from: Day = None,
        date_to: Day = None,
    ) -> Response:
        if who.role is Role.TECHNICIAN:
            return RedirectResponse("/terminals", status_code=303)
        if who.role is Role.SALES_GUIDE:  # member lookup and notes: no sales reports
            return RedirectResponse("/members", status_code=303)
        f = _filters(cdb, who, store, date_from, date_to)
        ctx = dashboard_context(cdb, who, f, gettext(request, who))
        name = "_dashboard.html" if request.headers.get("hx-request") else "dashboard.html"
        return page(
            request, name, who, stores=stores.list_stores(cdb, who.stores), store=store or "", **ctx
        )

    @r.get("/stores/{store_id}", policy=REPORT_READERS)
    def store_page(
        cdb: Db,
        who: Who,
        request: Request,
        store_id: str,
        date_from: Day = None,
        date_to: Day = None,
    ) -> Response:
        f = _filters(cdb, who, store_id, date_from, date_to)
        ctx = dashboard_context(cdb, who, f, gettext(request, who))
        return page(
            request,
            "store.html",
            who,
            store=store_id,
            info=next(iter(stores.list_stores(cdb, frozenset({store_id}))), None),
            by_terminal=rows_of(REPORTS["sales-by-terminal"](cdb, f)),
            by_tender=rows_of(REPORTS["sales-by-tender"](cdb, f)),
            by_category=rows_of(REPORTS["sales-by-category"](cdb, f)),
            returns=rows_of(REPORTS["returns"](cdb, f)),
            **ctx,
        )

    @r.get("/products", policy=REPORT_READERS)
    def products(
        cdb: Db,
        who: Who,
        request: Request,
        store: Id = None,
        date_from: Day = None,
        date_to: Day = None,
    ) -> Response:
        f = _filters(cdb, who, store, date_from, date_to, limit=30)
        return page(
            request,
            "products.html",
            who,
            f=f,
            store=store or "",
            stores=stores.list_stores(cdb, who.stores),
            top=rows_of(REPORTS["top-products"](cdb, f)),
            bottom=rows_of(REPORTS["bottom-products"](cdb, f)),
            categories=rows_of(REPORTS["sales-by-category"](cdb, f)),
        )

    @r.get("/cashiers", policy=REPORT_READERS)
    def cashiers(
        cdb: Db,
        who: Who,
        request: Request,
        store: Id = None,
        date_from: Day = None,
        date_to: Day = None,
    ) -> Response:
        f = _filters(cdb, who, store, date_from, date_to, limit=100)
        return page(
            request,
            "cashiers.html",
            who,
            f=f,
            store=store or "",
            stores=stores.list_stores(cdb, who.stores),
            cashiers=rows_of(REPORTS["sales-by-cashier"](cdb, f)),
            shifts=rows_of(REPORTS["shifts"](cdb, f)),
            overrides=rows_of(REPORTS["overrides"](cdb, f)),
            no_sales=rows_of(REPORTS["no-sales"](cdb, f)),
        )

    @r.get("/reports", policy=REPORT_READERS)
    def reports(
        cdb: Db,
        who: Who,
        request: Request,
        name: Annotated[str, Query(max_length=40)] = "sales-by-day",
        store: Id = None,
        date_from: Day = None,
        date_to: Day = None,
    ) -> Response:
        if name not in REPORTS:
            raise Refused(404, "no report %(name)r", name=name)
        f = _filters(cdb, who, store, date_from, date_to, limit=500)
        table = REPORTS[name](cdb, f)
        return page(
            request,
            "reports.html",
            who,
            f=f,
            store=store or "",
            name=name,
            names=list(REPORTS),
            table=table,
            stores=stores.list_stores(cdb, who.stores),
        )

    return r


def _safe_next(target: str) -> str:
    """Only a local path (no scheme, no //host): an open redirect would help phishing."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
