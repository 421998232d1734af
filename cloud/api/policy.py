"""Roles, the signed-in principal, and the router that makes every route declare who may call it.

A route is added through ``PolicyRouter.get/post/...`` with a ``policy=`` argument, or not at
all: the router refuses a route without one at import time, and the role x route test reads
the policy back from each route's ``openapi_extra["x-policy"]`` (which survives
``include_router``), so a route added any other way fails that test.

To add an area: write ``cloud/api/routers/<area>.py`` with a ``router() -> PolicyRouter``
function, declare each route's policy from the table below, and list the module in
``cloud.api.routers.AREAS``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict

from cloud.api.reasons import Refused


class Role(enum.StrEnum):
    """HQ console roles (MISSION: HQ staff; issue 11 access list; technicians for provisioning)."""

    ADMIN = "admin"  # everything
    MARKETING = "marketing"  # members, segments, campaigns; no prices, no users
    STORE_MANAGER = "store_manager"  # their own stores only
    ANALYST = "analyst"  # read-only, personal data masked
    TECHNICIAN = "technician"  # registers terminals and reads the terminal list, nothing else
    # MISSION staff roles: "sales guide: member lookup and follow-up notes" (their stores only).
    SALES_GUIDE = "sales_guide"


ALL_ROLES = frozenset(Role)
#: Roles that may see personal data (phone numbers, names) unmasked.
PERSONAL_DATA_ROLES = frozenset({Role.ADMIN, Role.MARKETING})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a user signed in with a session cookie or a bearer token."""

    user_id: int
    username: str
    role: Role
    stores: frozenset[str] | None  # None: every store
    via: str  # "session" | "token"
    csrf: str = ""  # the session's CSRF token ("" for bearer tokens, which need none)
    language: str = "zh_CN"

    @property
    def sees_personal_data(self) -> bool:
        """True for roles allowed to see phone numbers and names unmasked."""
        return self.role in PERSONAL_DATA_ROLES

    def may_see_store(self, store_id: str) -> bool:
        """True when the store is within this principal's scope."""
        return self.stores is None or store_id in self.stores

    def scope(self, requested: str | None) -> frozenset[str] | None:
        """The stores a query may read: the one asked for (if in scope) or the whole scope.

        Raises 403 naming the store when it is outside the scope.
        """
        if requested is None:
            return self.stores
        if not self.may_see_store(requested):
            raise Refused(403, "store %(store)r is outside your stores", store=requested)
        return frozenset({requested})


@dataclass(frozen=True, slots=True)
class Policy:
    """Which roles may call a route; ``public`` routes answer without signing in."""

    roles: frozenset[Role] = field(default_factory=frozenset)
    public: bool = False
    note: str = ""

    def allows(self, role: Role) -> bool:
        """True when ``role`` may call the route."""
        return self.public or role in self.roles

    def describe(self) -> dict[str, Any]:
        """What the OpenAPI document and the role x route test see."""
        return {
            "public": self.public,
            "roles": sorted(r.value for r in self.roles),
            "note": self.note,
        }


def allow(*roles: Role, note: str = "") -> Policy:
    """A policy for the named roles (admin is always included: admin may do everything)."""
    return Policy(roles=frozenset({Role.ADMIN, *roles}), note=note)


PUBLIC = Policy(public=True, note="answers without signing in")
#: Every signed-in role.
ANY_SIGNED_IN = allow(*ALL_ROLES)
#: Reading reports: everyone but technicians (store managers see their stores only).
REPORT_READERS = allow(
    Role.MARKETING, Role.STORE_MANAGER, Role.ANALYST, note="store managers: their stores only"
)
ADMIN_ONLY = allow()


class Problem(BaseModel):
    """Every refusal: ``detail`` says what is wrong (a list for FastAPI's field errors)."""

    detail: str | list[dict[str, Any]]


class Strict(BaseModel):
    """Request bodies refuse fields they do not know (a typo is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid")


#: The refusals every route may answer with, documented once for all of them.
ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    code: {"model": Problem, "description": text}
    for code, text in (
        (401, "not signed in"),
        (403, "role or store not allowed"),
        (404, "not found"),
        (409, "conflicts with what is stored"),
        (413, "too large"),
        (422, "invalid input"),
        (429, "locked out for a while"),
        (503, "the broker did not take it"),
    )
}


class MissingPolicy(TypeError):
    """A route was added without a role policy."""


def policy_of(route: Any) -> Policy | None:
    """The policy a route was declared with, read back from its OpenAPI extension."""
    extra = getattr(route, "openapi_extra", None) or {}
    described = extra.get("x-policy")
    if described is None:
        return None
    return Policy(
        roles=frozenset(Role(r) for r in described["roles"]),
        public=bool(described["public"]),
        note=described.get("note", ""),
    )


class PolicyRouter(APIRouter):
    """An APIRouter whose every route must name a Policy, enforced by a dependency."""

    def __init__(self, enforce: Callable[[Policy], Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._enforce = enforce

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        policy = kwargs.pop("policy", None)
        if not isinstance(policy, Policy):
            raise MissingPolicy(f"{path}: every HQ route declares a role policy")
        kwargs["dependencies"] = [
            Depends(self._enforce(policy)),
            *(kwargs.get("dependencies") or []),
        ]
        kwargs["responses"] = {**ERRORS, **(kwargs.get("responses") or {})}
        kwargs["openapi_extra"] = {
            **(kwargs.get("openapi_extra") or {}),
            "x-policy": policy.describe(),
        }
        super().add_api_route(path, endpoint, **kwargs)

    def _verb(self, method: str, path: str, policy: Policy, **kwargs: Any) -> Callable[..., Any]:
        def decorate(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            self.add_api_route(path, endpoint, methods=[method], policy=policy, **kwargs)
            return endpoint

        return decorate

    def get(self, path: str, *, policy: Policy, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        """Declare a GET route with its policy."""
        return self._verb("GET", path, policy, **kwargs)

    def post(self, path: str, *, policy: Policy, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        """Declare a POST route with its policy."""
        return self._verb("POST", path, policy, **kwargs)

    def put(self, path: str, *, policy: Policy, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        """Declare a PUT route with its policy."""
        return self._verb("PUT", path, policy, **kwargs)

    def delete(self, path: str, *, policy: Policy, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        """Declare a DELETE route with its policy."""
        return self._verb("DELETE", path, policy, **kwargs)

    def patch(self, path: str, *, policy: Policy, **kwargs: Any) -> Callable[..., Any]:  # type: ignore[override]
        """Declare a PATCH route with its policy."""
        return self._verb("PATCH", path, policy, **kwargs)


def stores_text(stores: Iterable[str] | None) -> str:
    """A store scope for people: "all" or the ids."""
    return "all" if stores is None else ",".join(sorted(stores))
