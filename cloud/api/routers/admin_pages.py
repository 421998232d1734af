"""The HQ page's operations views: terminals, pushes (preview, send, applied versions), users."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from cloud.api.policy import ADMIN_ONLY, PolicyRouter
from cloud.api.reasons import Refused
from cloud.api.routers import pushes as push_api
from cloud.api.routers import users as users_api
from cloud.api.routers.pages import attention
from cloud.api.routers.terminals import TERMINAL_READERS
from cloud.api.security import Db, Who
from cloud.domain.errors import Explained
from cloud.store import hq_access, registry, stores

Scope = Annotated[str, Form(max_length=32)]
Kind = Annotated[str, Form(max_length=16)]
Items = Annotated[str, Form(max_length=2_000_000)]
StreamF = Annotated[str, Form(max_length=16)]


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Terminals, pushes and users pages and their htmx actions."""
    r = PolicyRouter(enforcer, include_in_schema=False)

    def page(
        request: Request, template: str, who: Any, status: int = 200, **ctx: Any
    ) -> HTMLResponse:
        return request.app.state.renderer.render(request, template, who, status=status, **ctx)

    @r.get("/terminals", policy=TERMINAL_READERS)
    def terminals(cdb: Db, who: Who, request: Request) -> Response:
        rows = [
            t
            for t in registry.terminals_with_registry(cdb)
            if who.stores is None or t["store_id"] in who.stores
        ]
        return page(request, "terminals.html", who, terminals=[(t, attention(t)) for t in rows])

    def _push_request(stream: str, scope: str, kind: str, items: str) -> push_api.PushRequest:
        """The form as a push (ValidationError or a refusal when it is not one)."""
        if stream not in push_api.STREAM_NAMES:
            raise Refused(422, "no stream %(stream)r", stream=stream)
        try:
            parsed = json.loads(items)
        except json.JSONDecodeError as err:
            # The decoder's own words ("Expecting value") are catalogue messages too.
            raise Refused(422, "items are not JSON: %(problem)s at line %(line)s",
                          problem=Explained(err.msg), line=err.lineno) from err  # fmt: skip
        if isinstance(parsed, dict):
            parsed = [parsed]
        return push_api.PushRequest(scope=scope, kind=kind, items=parsed)

    @r.get("/pushes", policy=push_api.PUSHERS)
    def pushes(cdb: Db, who: Who, request: Request) -> Response:
        return page(
            request,
            "pushes.html",
            who,
            stores=stores.list_stores(cdb, who.stores),
            history=_history(cdb, who),
        )

    def _history(cdb: Any, who: Any) -> list[Any]:
        return push_api.history(cdb, who, None, None, 30)

    @r.get("/pushes/history", policy=push_api.PUSHERS)
    def push_history(cdb: Db, who: Who, request: Request) -> Response:
        return page(request, "_push_history.html", who, history=_history(cdb, who))

    @r.post("/pushes/preview", policy=push_api.PUSHERS)
    def preview(
        cdb: Db, who: Who, request: Request, stream: StreamF, scope: Scope, kind: Kind, items: Items
    ) -> Response:
        try:
            body = _push_request(stream, scope, kind, items)
            clean = push_api.checked(cdb, who, stream, body)
        except (HTTPException, ValidationError) as err:
            return page(request, "_push_error.html", who, status=200, error=err)
        shown = push_api.preview(cdb, stream, body.scope, body.kind, clean)
        return page(
            request,
            "_push_preview.html",
            who,
            preview=shown,
            stream=stream,
            scope=scope,
            kind=kind,
            items=items,
        )

    @r.post("/pushes/send", policy=push_api.PUSHERS)
    def send(
        cdb: Db, who: Who, request: Request, stream: StreamF, scope: Scope, kind: Kind, items: Items
    ) -> Response:
        try:
            body = _push_request(stream, scope, kind, items)
            result = push_api.do_push(cdb, who, request, stream, body)
        except (HTTPException, ValidationError) as err:
            return page(request, "_push_error.html", who, error=err)
        return page(request, "_push_sent.html", who, result=result, history=_history(cdb, who))

    @r.get("/users", policy=ADMIN_ONLY)
    def users(cdb: Db, who: Who, request: Request) -> Response:
        return page(
            request,
            "users.html",
            who,
            users=hq_access.list_users(cdb),
            tokens=hq_access.list_tokens(cdb),
            stores=stores.list_stores(cdb),
            roles=hq_access.ROLES,
            created="",
            error="",
        )

    @r.post("/users/add", policy=ADMIN_ONLY)
    def add_user(
        cdb: Db,
        who: Who,
        request: Request,
        username: Annotated[str, Form(max_length=64)],
        password: Annotated[str, Form(max_length=200)],
        role: Annotated[str, Form(max_length=16)],
        store_ids: Annotated[list[str] | None, Form(max_length=500)] = None,
    ) -> Response:
        error: Exception | None = None  # said in the page's language by the template
        try:
            body = users_api.NewUser(
                username=username, password=password, role=role, stores=store_ids or []
            )
            users_api.create_user(cdb, request, body)
        except (ValidationError, HTTPException) as err:
            error = err
        return page(
            request,
            "_users.html",
            who,
            users=hq_access.list_users(cdb),
            tokens=hq_access.list_tokens(cdb),
            error=error,
            created="",
        )

    @r.post("/tokens/add", policy=ADMIN_ONLY)
    def add_token(
        cdb: Db,
        who: Who,
        request: Request,
        user_id: Annotated[int, Form(ge=1, le=2**62)],
        name: Annotated[str, Form(min_length=1, max_length=100)],
    ) -> Response:
        error: HTTPException | None = None
        created = ""
        try:
            created = users_api.create_token(
                cdb, who, request, users_api.NewToken(user_id=user_id, name=name)
            ).token
        except HTTPException as err:
            error = err
        return page(
            request,
            "_users.html",
            who,
            users=hq_access.list_users(cdb),
            tokens=hq_access.list_tokens(cdb),
            error=error,
            created=created,
        )

    @r.post("/tokens/{token_id}/revoke", policy=ADMIN_ONLY)
    def revoke_token(cdb: Db, who: Who, request: Request, token_id: int) -> Response:
        error: HTTPException | None = None
        try:
            users_api.revoke_token(cdb, request, token_id)
        except HTTPException as err:
            error = err
        return page(
            request,
            "_users.html",
            who,
            users=hq_access.list_users(cdb),
            tokens=hq_access.list_tokens(cdb),
            error=error,
            created="",
        )

    return r
