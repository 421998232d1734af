"""The HQ console: the HTTP API (OpenAPI at /docs) and the server-rendered pages, by area."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import peewee as pw
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from cloud.api.pages import Renderer
from cloud.api.paths import SlashesInIds
from cloud.api.publisher import Publisher
from cloud.api.reasons import Refused
from cloud.api.routers import AREAS
from cloud.api.security import NotSignedIn, enforcer
from cloud.jobs.config import JobsConfig
from cloud.store.db import SCHEMA_VERSION, CloudDB, open_cloud_db
from cloud.store.pool import MaxConnectionsExceeded, PooledPipelinedPostgres

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
#: Paths answered as JSON for scripts; everything else is the page (errors in the page's frame).
NOT_PAGES = ("/api/", "/openapi", "/docs", "/redoc", "/static")


@dataclass(frozen=True)
class ApiSettings:
    """Operating limits of the API (configuration, not code)."""

    #: A snapshot that would remove more than this share of a till's cached items needs force.
    max_snapshot_removal_share: float = 0.2
    #: The jobs' settings (the same file the scheduler reads), for runs started from HQ.
    jobs: JobsConfig = field(default_factory=JobsConfig)
    #: PostgreSQL connections the API keeps open for its requests (one per request in flight).
    db_pool: int = 16
    #: The fleet CA (PEM): a terminal certificate recorded at HQ must come from it. None (no
    #: --tls-ca): checked by name only.
    fleet_ca: bytes | None = None


@dataclass(frozen=True)
class ApiContext:
    """What the routes reach through ``request.app.state.ctx``."""

    get_cdb: Callable[[], CloudDB]
    publisher: Publisher
    settings: ApiSettings


def _open_once(url: str, pool_size: int) -> tuple[Callable[[], CloudDB], Callable[[], None]]:
    """Open lazily and once, so app creation never blocks on the database."""
    lock = threading.Lock()
    holder: list[CloudDB] = []

    def get() -> CloudDB:
        with lock:
            if not holder:
                holder.append(open_cloud_db(url, pool_size=pool_size))
            return holder[0]

    def close() -> None:
        with lock:
            for cdb in holder:
                cdb.close()
                if isinstance(cdb.database, PooledPipelinedPostgres):
                    cdb.database.close_all()  # the idle connections the pool kept

    return get, close


def _local(path: str, query: str) -> str:
    return f"{path}?{query}" if query else path


def _not_signed_in(request: Request, exc: Exception) -> Response:
    message = exc.message if isinstance(exc, NotSignedIn) else str(exc)
    path = request.url.path
    wants_page = not path.startswith(("/api/", "/openapi")) and request.method == "GET"
    headers = {"WWW-Authenticate": "Bearer"}
    if request.headers.get("hx-request"):
        # An htmx request is a click on a page whose session has ended (expired, signed out
        # elsewhere): htmx drops a 401 silently, so the click did nothing and the dashboard
        # went stale without a word. HX-Redirect sends the browser to sign in and back.
        page = urlsplit(request.headers.get("hx-current-url", ""))
        back = _local(page.path, page.query) if page.path.startswith("/") else "/"
        headers["HX-Redirect"] = f"/login?{urlencode({'next': back})}"
    elif wants_page:
        back = _local(path, request.url.query)
        return RedirectResponse(f"/login?{urlencode({'next': back})}", status_code=303)
    return JSONResponse({"detail": message}, status_code=401, headers=headers)


def _said(request: Request, exc: Exception, answer: JSONResponse) -> JSONResponse:
    """An htmx request's refusal with ``message`` beside FastAPI's ``detail``: the reason in the
    page's language for the page to show, the detail as every client has always read it."""
    who = getattr(request.state, "principal", None)
    body = json.loads(answer.body)
    body["message"] = request.app.state.renderer.say(request, who, exc)
    headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-length"}
    return JSONResponse(body, status_code=answer.status_code, headers=headers)


async def _page_error(request: Request, exc: Exception) -> Response:
    """Pages get an HTML error in the page's frame; the API keeps FastAPI's JSON answer."""
    assert isinstance(exc, HTTPException)
    path = request.url.path
    if request.headers.get("hx-request"):
        answer = await http_exception_handler(request, exc)
        return _said(request, exc, answer) if isinstance(answer, JSONResponse) else answer
    if path.startswith(NOT_PAGES):
        return await http_exception_handler(request, exc)
    who = getattr(request.state, "principal", None)
    return request.app.state.renderer.render(  # type: ignore[no-any-return]
        request, "error.html", who, status=exc.status_code, message=exc, code=exc.status_code
    )


def invalid_fields(exc: RequestValidationError) -> str:
    """FastAPI's validation errors as one line naming each field (``password: String ...``)."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err.get("loc", ())[1:])
        parts.append(f"{where}: {err.get('msg', '')}" if where else str(err.get("msg", "")))
    return "; ".join(parts)


async def _page_invalid(request: Request, exc: Exception) -> Response:
    """A page's bad query or form gets the page's error frame, never a bare JSON document."""
    assert isinstance(exc, RequestValidationError)
    path = request.url.path
    if path.startswith(NOT_PAGES):
        answer = await request_validation_exception_handler(request, exc)
        return _said(request, exc, answer) if request.headers.get("hx-request") else answer
    if request.headers.get("hx-request"):
        return _said(request, exc, JSONResponse({"detail": invalid_fields(exc)}, status_code=422))
    who = getattr(request.state, "principal", None)
    renderer = request.app.state.renderer
    if path == "/login":
        gettext = renderer.gettext(request, None)
        return renderer.render(  # type: ignore[no-any-return]
            request, "login.html", None, status=422, next="/",
            error=gettext("Enter a username and a password (at most 64 and 200 characters)."),
        )  # fmt: skip
    return renderer.render(  # type: ignore[no-any-return]
        request, "error.html", who, status=422, message=exc, code=422
    )


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """The database is down, locked or out of connections: 503 with the reason, never a 500."""
    log.warning("%s %s: database unavailable: %s", request.method, request.url.path, exc)
    refusal = Refused(
        503,
        "the cloud database is not available right now (%(reason)s); try again shortly",
        headers={"Retry-After": "5"},
        reason=exc,
    )
    answer = JSONResponse({"detail": refusal.detail}, status_code=503, headers=refusal.headers)
    return _said(request, refusal, answer) if request.headers.get("hx-request") else answer


def create_app(db_url: str, publisher: Publisher, settings: ApiSettings | None = None) -> FastAPI:
    """Build the console over the cloud database at ``db_url``, pushing through ``publisher``."""
    settings = settings or ApiSettings()
    get_cdb, close_cdb = _open_once(db_url, settings.db_pool)
    app = FastAPI(
        title="POS cloud HQ API",
        version=f"2.schema{SCHEMA_VERSION}",
        description=(
            "Chain-wide reports, member points, terminal health and pushes to stores. Every "
            "route needs a signed-in user (session cookie plus X-CSRF-Token on writes, or "
            "`Authorization: Bearer <token>`) except /api/health and the sign-in itself; each "
            "route's allowed roles are in its `x-policy`."
        ),
        docs_url=None,  # served by the docs router, signed in and from local assets
        redoc_url=None,
        openapi_url=None,  # likewise: /openapi.json needs a signed-in user
    )
    app.state.ctx = ApiContext(get_cdb, publisher, settings)
    app.state.renderer = Renderer()
    app.router.on_shutdown.append(close_cdb)
    app.add_exception_handler(NotSignedIn, _not_signed_in)
    app.add_exception_handler(HTTPException, _page_error)
    app.add_exception_handler(RequestValidationError, _page_invalid)
    for unavailable in (pw.OperationalError, MaxConnectionsExceeded):
        app.add_exception_handler(unavailable, _database_unavailable)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SlashesInIds)  # a member id may hold "/" (docs/hq.md)

    @app.middleware("http")
    async def no_store(request: Request, call_next: Callable[[Request], Any]) -> Response:
        # Pages and answers carry personal data: kept by no cache, the Back button after
        # signing out would show the last member's phone to the next person at the desk.
        response: Response = await call_next(request)
        if not request.url.path.startswith(("/static/", "/docs-assets/")):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    for area in AREAS:
        app.include_router(area.router(enforcer))
    return app


def all_routes(app: FastAPI) -> list[Any]:
    """Every route the app answers, including those of included routers (FastAPI keeps an
    included router as one wrapper entry that points at the original router)."""
    out: list[Any] = []
    pending = list(app.router.routes)
    while pending:
        route = pending.pop(0)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            pending = list(inner.routes) + pending
        else:
            out.append(route)
    return out
