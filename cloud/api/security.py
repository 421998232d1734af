"""Who is calling (session cookie or bearer token), whether their role may, CSRF, and the audit log.

Cookie-authenticated writes must carry the session's CSRF token in ``X-CSRF-Token`` (the page
sends it on every htmx request); bearer-token calls carry no ambient credential and need none.
Every write is audited in the same transaction as the change (``audit``), and every refused
write is audited on its own.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from typing import Annotated, Any, Final

from fastapi import Depends, Request

from cloud.api.policy import Policy, Principal, Role
from cloud.api.reasons import Refused
from cloud.store import hq_access
from cloud.store.db import CloudDB, utcnow

SESSION_COOKIE: Final = "hq_session"
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
#: Roles kept to their own stores.
STORE_SCOPED: Final = frozenset({Role.STORE_MANAGER, Role.SALES_GUIDE})


class NotSignedIn(Exception):
    """No valid session or token; the API answers 401, a page redirects to the sign-in page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def db(request: Request) -> Iterator[CloudDB]:
    """The cloud database, with this thread's connection open for the request."""
    cdb: CloudDB = request.app.state.ctx.get_cdb()
    cdb.database.connect(reuse_if_open=True)
    try:
        yield cdb
    finally:
        cdb.database.close()


Db = Annotated[CloudDB, Depends(db)]


def client_ip(request: Request) -> str:
    """The peer address (a reverse proxy in front would be configured to pass its own)."""
    return request.client.host if request.client else ""


def principal_for(user: hq_access.UserRow, via: str, csrf: str = "") -> Principal:
    role = Role(user.role)
    stores = frozenset(user.stores) if role in STORE_SCOPED else None
    return Principal(user.user_id, user.username, role, stores, via, csrf, user.language)


def resolve(request: Request, cdb: CloudDB) -> Principal:
    """The caller, from ``Authorization: Bearer`` first, else the session cookie."""
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotSignedIn("Authorization must be 'Bearer <token>'")
        user = hq_access.token_user(cdb, token.strip())
        if user is None:
            raise NotSignedIn("unknown or revoked API token")
        return principal_for(user, "token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotSignedIn("sign in first (session cookie or bearer token)")
    found = hq_access.session_user(cdb, cookie)
    if found is None:
        raise NotSignedIn("your session has ended; sign in again")
    user, csrf = found
    return principal_for(user, "session", csrf)


def audit(
    cdb: CloudDB,
    request: Request,
    action: str,
    detail: dict[str, Any] | None = None,
    *,
    outcome: str = "ok",
    username: str | None = None,
) -> None:
    """Record a write: who, what, when, from where, and how it ended."""
    who: Principal | None = getattr(request.state, "principal", None)
    cdb.hq.HqAudit.create(
        at=utcnow(),
        username=(username or (who.username if who else ""))[:64],
        role=who.role.value if who else "",
        via=who.via if who else "anonymous",
        ip=client_ip(request)[:64],
        method=request.method[:8],
        path=request.url.path[:300],
        action=action[:64],
        outcome=outcome,
        detail=detail or {},
    )


def enforcer(policy: Policy) -> Callable[..., Principal | None]:
    """The dependency that makes a route obey ``policy``."""

    def enforce(request: Request, cdb: Db) -> Principal | None:
        if policy.public:
            return None
        who = resolve(request, cdb)
        request.state.principal = who
        unsafe = request.method not in SAFE_METHODS
        if not policy.allows(who.role):
            if unsafe:
                with cdb.write():
                    audit(cdb, request, "refused", {"reason": "role"}, outcome="refused")
            raise Refused(
                403,
                "the %(role)s role may not use %(path)s",
                role=who.role.value,
                path=request.url.path,
            )
        if unsafe and who.via == "session":
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent or not hmac.compare_digest(sent, who.csrf):
                with cdb.write():
                    audit(cdb, request, "refused", {"reason": "csrf"}, outcome="refused")
                raise Refused(
                    403, "missing or wrong %(header)s header for this session", header=CSRF_HEADER
                )
        return who

    return enforce


def principal(request: Request) -> Principal:
    """The caller, as the route's policy dependency resolved it."""
    who: Principal | None = getattr(request.state, "principal", None)
    if who is None:  # a public route asked for a principal: treat as not signed in
        raise NotSignedIn("sign in first")
    return who


Who = Annotated[Principal, Depends(principal)]
