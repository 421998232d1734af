"""Sign-in and sign-out for the page and for scripts (session cookie, HttpOnly, SameSite=Strict)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request, Response
from pydantic import BaseModel, Field

from cloud.api.policy import ANY_SIGNED_IN, PUBLIC, PolicyRouter, Principal, Strict
from cloud.api.security import SESSION_COOKIE, Db, Who, audit, client_ip, principal_for
from cloud.store import hq_access
from cloud.store.db import CloudDB


class Login(Strict):
    """A username and password."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class Me(BaseModel):
    """The signed-in user; ``csrf_token`` goes in X-CSRF-Token on cookie-authenticated writes."""

    username: str
    role: str
    stores: list[str] | None
    language: str
    csrf_token: str = ""


def _me(who: Principal) -> Me:
    stores = None if who.stores is None else sorted(who.stores)
    return Me(
        username=who.username,
        role=who.role.value,
        stores=stores,
        language=who.language,
        csrf_token=who.csrf,
    )


def sign_in(cdb: CloudDB, request: Request, response: Response, username: str, password: str) -> Me:
    """Check the password (with lockout), open a session and set its cookie; audited."""
    with cdb.write():
        found = hq_access.check_login(cdb, username, password)
        if isinstance(found, hq_access.AccessError):
            reason = "locked" if isinstance(found, hq_access.LockedOut) else "password"
            audit(
                cdb,
                request,
                "sign_in",
                {"reason": reason},
                outcome="refused",
                username=username[:64],
            )
        else:
            user = found
            cookie, csrf = hq_access.open_session(cdb, user.user_id, client_ip(request))
            audit(cdb, request, "sign_in", username=user.username)
    if isinstance(found, hq_access.LockedOut):
        raise HTTPException(429, str(found))
    if isinstance(found, hq_access.AccessError):
        raise HTTPException(401, str(found))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        max_age=hq_access.SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return _me(principal_for(user, "session", csrf))


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Sign-in, sign-out, who am I."""
    r = PolicyRouter(enforcer, tags=["auth"])

    @r.post(
        "/api/auth/login",
        policy=PUBLIC,
        responses={
            401: {"description": "wrong credentials"},
            429: {"description": "locked out for a while"},
        },
    )
    def login(cdb: Db, request: Request, response: Response, body: Login) -> Me:
        """Sign in; sets the HttpOnly session cookie and returns the CSRF token for writes."""
        return sign_in(cdb, request, response, body.username, body.password)

    @r.post("/api/auth/logout", policy=ANY_SIGNED_IN)
    def logout(cdb: Db, who: Who, request: Request, response: Response) -> dict[str, str]:
        """End this session (a bearer token stays valid until an admin revokes it)."""
        with cdb.write():
            cookie = request.cookies.get(SESSION_COOKIE)
            if cookie:
                hq_access.close_session(cdb, cookie)
            audit(cdb, request, "sign_out")
        response.delete_cookie(SESSION_COOKIE, path="/")
        return {"status": "signed out"}

    @r.get("/api/auth/me", policy=ANY_SIGNED_IN)
    def me(who: Who) -> Me:
        """Who is signed in, their role and stores."""
        return _me(who)

    return r
