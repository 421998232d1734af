"""The OpenAPI document and its Swagger UI and ReDoc pages, signed in, from local assets only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from cloud.api.policy import ANY_SIGNED_IN, PUBLIC, PolicyRouter

#: Swagger UI and ReDoc bundles shipped inside the fastapi-offline wheel (a pinned dependency).
ASSETS = Path(fastapi_offline.__file__).parent / "static"
_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"}


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """/openapi.json, /docs, /redoc and their assets."""
    r = PolicyRouter(enforcer, include_in_schema=False)

    @r.get("/openapi.json", policy=ANY_SIGNED_IN)
    def openapi(request: Request) -> JSONResponse:
        return JSONResponse(request.app.openapi())

    @r.get("/docs", policy=ANY_SIGNED_IN)
    def swagger(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=request.app.title + " - Swagger UI",
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon.png",
        )

    @r.get("/redoc", policy=ANY_SIGNED_IN)
    def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url="/openapi.json",
            title=request.app.title + " - ReDoc",
            redoc_js_url="/docs-assets/redoc.standalone.js",
            redoc_favicon_url="/docs-assets/favicon.png",
            with_google_fonts=False,
        )

    @r.get("/docs-assets/{name}", policy=PUBLIC)
    def asset(name: str) -> FileResponse:
        if name not in _FILES:
            raise HTTPException(404, f"no documentation asset {name!r}")
        return FileResponse(ASSETS / name)

    return r
