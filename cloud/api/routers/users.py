"""Users, API tokens and the HQ audit log: administrators only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from pydantic import BaseModel, Field

from cloud.api.policy import ADMIN_ONLY, PolicyRouter, Principal, Strict
from cloud.api.reasons import Refused
from cloud.api.security import Db, Who, audit
from cloud.store import hq_access
from cloud.store.db import CloudDB
from cloud.store.stores import store_known

RoleName = Literal["admin", "marketing", "store_manager", "analyst", "technician", "sales_guide"]
StoreId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
UserId = Annotated[int, Path(ge=1, le=2**62)]


class NewUser(Strict):
    """A user to create; a store manager needs stores."""

    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=hq_access.MIN_PASSWORD, max_length=200)
    role: RoleName
    stores: list[StoreId] = Field(default_factory=list, max_length=500)
    display_name: str = Field(default="", max_length=100)
    language: Literal["zh_CN", "en"] = "zh_CN"


class User(BaseModel):
    """A user, without any secret."""

    id: int
    username: str
    display_name: str
    role: str
    stores: list[str]
    language: str
    active: bool


class Active(Strict):
    """Enable or disable a user."""

    active: bool


class NewPassword(Strict):
    """A replacement password (ends the user's sessions)."""

    password: str = Field(min_length=hq_access.MIN_PASSWORD, max_length=200)


class NewToken(Strict):
    """An API token for a user's scripts."""

    user_id: int = Field(ge=1, le=2**62)
    name: str = Field(min_length=1, max_length=100)


class Token(BaseModel):
    """A token as listed (the secret itself is shown once, at creation)."""

    id: int
    name: str
    user_id: int
    username: str
    prefix: str
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None


class CreatedToken(BaseModel):
    """A new token; ``token`` is shown only now."""

    id: int
    token: str


class AuditEntry(BaseModel):
    """One audited write."""

    id: int
    at: dt.datetime
    username: str
    role: str
    via: str
    ip: str
    method: str
    path: str
    action: str
    outcome: str
    detail: dict[str, Any]


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """Stored times are naive UTC; answers say so (RFC 3339 with an offset)."""
    return None if value is None else value.replace(tzinfo=dt.UTC)


def _user(u: hq_access.UserRow) -> User:
    return User(
        id=u.user_id,
        username=u.username,
        display_name=u.display_name,
        role=u.role,
        stores=list(u.stores),
        language=u.language,
        active=u.active,
    )


def known_stores(cdb: CloudDB, stores: list[str]) -> None:
    """Refuse store ids that are not in the stores registry (404 naming them)."""
    missing = sorted(s for s in set(stores) if not store_known(cdb, s))
    if missing:
        raise Refused(
            404, "unknown store(s): %(stores)s; add them under /api/stores",
            stores=", ".join(missing),
        )  # fmt: skip


def audit_entries(cdb: CloudDB, limit: int, before: int | None = None) -> list[AuditEntry]:
    """The newest audit entries (before id ``before``)."""
    a = cdb.hq.HqAudit
    q = a.select().order_by(a.id.desc()).limit(limit)
    if before is not None:
        q = q.where(a.id < before)
    return [
        AuditEntry(
            id=e.id,
            at=aware(e.at),
            username=e.username,
            role=e.role,
            via=e.via,
            ip=e.ip,
            method=e.method,
            path=e.path,
            action=e.action,
            outcome=e.outcome,
            detail=e.detail or {},
        )
        for e in q
    ]


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Users, tokens, audit."""
    r = PolicyRouter(enforcer, tags=["users"])

    @r.get("/api/users", policy=ADMIN_ONLY)
    def users(cdb: Db) -> list[User]:
        """Every HQ user."""
        return [_user(u) for u in hq_access.list_users(cdb)]

    @r.post(
        "/api/users",
        policy=ADMIN_ONLY,
        status_code=201,
        responses={409: {"description": "name taken"}, 404: {"description": "unknown store"}},
    )
    def add(cdb: Db, request: Request, body: NewUser) -> User:
        """Create a user (store managers are scoped to the stores given)."""
        return create_user(cdb, request, body)

    @r.post("/api/users/{user_id}/active", policy=ADMIN_ONLY)
    def set_active(cdb: Db, who: Who, request: Request, user_id: UserId, body: Active) -> User:
        """Enable or disable a user (disabling ends their sessions and stops their tokens)."""
        with cdb.write():
            target = _existing(cdb, user_id)
            if target.user_id == who.user_id and not body.active:
                raise Refused(409, "you cannot disable your own account")
            hq_access.set_active(cdb, user_id, body.active)
            audit(cdb, request, "user_active", {"username": target.username, "active": body.active})
        return _user(_existing(cdb, user_id))

    @r.post("/api/users/{user_id}/password", policy=ADMIN_ONLY)
    def password(cdb: Db, request: Request, user_id: UserId, body: NewPassword) -> User:
        """Set a new password; the user's sessions end."""
        with cdb.write():
            target = _existing(cdb, user_id)
            hq_access.set_password(cdb, user_id, body.password)
            audit(cdb, request, "user_password", {"username": target.username})
        return _user(target)

    @r.get("/api/tokens", policy=ADMIN_ONLY)
    def tokens(cdb: Db) -> list[Token]:
        """Every API token (never the secret)."""
        return [
            Token(
                **{**t, "created_at": aware(t["created_at"]), "revoked_at": aware(t["revoked_at"])}
            )
            for t in hq_access.list_tokens(cdb)
        ]

    @r.post("/api/tokens", policy=ADMIN_ONLY, status_code=201)
    def new_token(cdb: Db, who: Who, request: Request, body: NewToken) -> CreatedToken:
        """Create a token for a user's scripts; the token is in this answer only."""
        return create_token(cdb, who, request, body)

    @r.delete("/api/tokens/{token_id}", policy=ADMIN_ONLY)
    def revoke(
        cdb: Db, request: Request, token_id: Annotated[int, Path(ge=1, le=2**62)]
    ) -> dict[str, Any]:
        """Revoke a token at once."""
        return revoke_token(cdb, request, token_id)

    @r.get("/api/audit", policy=ADMIN_ONLY)
    def audit_log(
        cdb: Db,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    ) -> list[AuditEntry]:
        """Audited writes (who, what, when, from where), newest first."""
        return audit_entries(cdb, limit, before)

    return r


def _existing(cdb: CloudDB, user_id: int) -> hq_access.UserRow:
    found = hq_access.get_user(cdb, user_id)
    if found is None:
        raise Refused(404, "no user with id %(user)s", user=user_id)
    return found


def create_user(cdb: CloudDB, request: Request, body: NewUser) -> User:
    """Create a user (audited); 404 for unknown stores, 409 for a taken name."""
    with cdb.write():
        known_stores(cdb, body.stores)
        try:
            created = hq_access.add_user(
                cdb,
                body.username,
                body.password,
                body.role,
                stores=body.stores,
                display_name=body.display_name,
                language=body.language,
            )
        except hq_access.AccessError as err:
            code = 409 if "already exists" in str(err) else 422
            raise Refused.because(code, err) from err
        audit(
            cdb,
            request,
            "user_add",
            {"username": created.username, "role": created.role, "stores": list(created.stores)},
        )
    return _user(created)


def create_token(cdb: CloudDB, who: Principal, request: Request, body: NewToken) -> CreatedToken:
    """Create a token for a user (audited); the secret is only in the answer."""
    with cdb.write():
        _existing(cdb, body.user_id)
        token_id, token = hq_access.create_token(cdb, body.user_id, body.name, who.username)
        audit(
            cdb,
            request,
            "token_create",
            {"token_id": token_id, "user_id": body.user_id, "name": body.name},
        )
    return CreatedToken(id=token_id, token=token)


def revoke_token(cdb: CloudDB, request: Request, token_id: int) -> dict[str, Any]:
    """Revoke a token at once (audited)."""
    with cdb.write():
        if not hq_access.revoke_token(cdb, token_id):
            raise Refused(404, "no active token with id %(token)s", token=token_id)
        audit(cdb, request, "token_revoke", {"token_id": token_id})
    return {"id": token_id, "revoked": True}
