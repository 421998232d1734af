"""HQ's rules for the tills: loyalty, tiers, returns and promotions, published by version.

A rule set is checked in full before anything is stored (protocol.rules_check: the field at
fault is named), stored under its version and pushed on the config stream to the chain or to
one store in one transaction. The overview shows which version each till reports using.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Body, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from cloud.api.policy import PolicyRouter, Principal, Role, allow
from cloud.api.publisher import PublishError
from cloud.api.security import Db, Who, audit
from cloud.store import rules as rules_store
from cloud.store.db import CloudDB, utcnow
from cloud.store.effects import PendingDown
from cloud.store.stores import list_stores, store_known
from protocol.codec import encode_down
from protocol.envelope import DownChange, utc_iso
from protocol.errors import Oversized
from protocol.rules import RulesError, default_rules
from protocol.rules_check import decode_body, to_plain
from protocol.topics import ALL_STORES, down_topic

RULE_READERS = allow(Role.MARKETING, Role.STORE_MANAGER, Role.ANALYST,
                     note="store managers: their stores and the chain's rules")  # fmt: skip
RULE_PUBLISHERS = allow(note="rules set prices and points: admins only")
ScopePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$",
                                description='"all" for the chain, or a store id')]  # fmt: skip
VersionPath = Annotated[str, Path(pattern=r"^r[0-9]{1,12}$", examples=["r7"])]
RULES_EXAMPLE = to_plain(default_rules())


class Published(BaseModel):
    """Where a published rule set went; published=false: stored, tills get it by catch-up."""

    version: str
    scope: str
    config_version: int
    topic: str
    published: bool
    detail: str = ""


class InForce(BaseModel):
    """The rule set a scope's tills use, and whose it is."""

    scope: str
    version: str = Field(description='"" means the built-in defaults')
    own: bool = Field(description="the store's own rule set (else the chain's)")
    rules: dict[str, Any]


class TillRules(BaseModel):
    """One terminal's rules as it last reported them."""

    terminal_id: str
    store_id: str
    reports: str = Field(description="rules version in the till's status")
    expected: str = Field(description="the version in force for its store")
    problem: str = ""


class Overview(BaseModel):
    """Every store's rules in force and every till's report."""

    chain: str
    stores: dict[str, str]
    own: list[str]
    tills: list[TillRules]


def _scope(cdb: CloudDB, who: Principal, scope: str) -> str:
    if scope != ALL_STORES:
        who.scope(scope)  # 403 outside the caller's stores
        if not store_known(cdb, scope):
            raise HTTPException(404, f"unknown store {scope!r}; add it under /api/stores")
    return scope


def _checked(data: Any) -> Any:
    try:
        return decode_body(data)
    except RulesError as err:
        raise HTTPException(422, f"rules refused: {err}") from err


def _send(request: Request, change: PendingDown) -> tuple[str, bool, str]:
    down = DownChange(stream=change.stream, version=change.version, scope=change.scope,
                      kind=change.kind, items=change.items,  # type: ignore[arg-type]
                      sent_at=utc_iso(dt.datetime.now(dt.UTC)),
                      previous=change.previous)  # fmt: skip
    topic = down_topic(change.scope, change.stream)
    try:
        request.app.state.ctx.publisher.publish(topic, encode_down(down))
    except PublishError as err:
        return topic, False, str(err)
    return topic, True, ""


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Overview, read, check, publish, withdraw, history."""
    r = PolicyRouter(enforcer, tags=["rules"])

    @r.get("/api/rules", policy=RULE_READERS)
    def overview(cdb: Db, who: Who) -> Overview:
        """The chain's version, each store's in force, and what each till reports using."""
        chain, _ = rules_store.in_force(cdb, ALL_STORES)
        stores: dict[str, str] = {}
        own: list[str] = []
        for store in list_stores(cdb, who.stores):
            found, is_own = rules_store.in_force(cdb, store["store_id"])
            stores[store["store_id"]] = found.version if found else ""
            if is_own:
                own.append(store["store_id"])
        m = cdb.models
        tills = []
        for t in m.Terminal.select().order_by(m.Terminal.terminal_id):
            if not who.may_see_store(t.store_id) or t.store_id not in stores:
                continue
            status = t.status or {}
            tills.append(TillRules(terminal_id=t.terminal_id, store_id=t.store_id,
                                   reports=str(status.get("rules_version", "")),
                                   expected=stores[t.store_id],
                                   problem=str(status.get("last_problem", ""))[:300]))  # fmt: skip
        return Overview(chain=chain.version if chain else "", stores=stores, own=own, tills=tills)

    @r.get("/api/rules/defaults", policy=RULE_READERS)
    def defaults() -> dict[str, Any]:
        """The built-in defaults (version ""): a starting point for a new rule set."""
        return RULES_EXAMPLE

    @r.get("/api/rules/history", policy=RULE_READERS)
    def rules_history(
        cdb: Db, who: Who,
        scope: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Published rule sets, newest first."""
        scopes = None if who.stores is None else [ALL_STORES, *who.stores]
        if scope is not None:
            scopes = [_scope(cdb, who, scope)]
        return rules_store.history(cdb, scopes, limit)

    @r.get("/api/rules/version/{version}", policy=RULE_READERS)
    def rules_version(cdb: Db, who: Who, version: VersionPath) -> dict[str, Any]:
        """A published rule set by version (what a sale naming it was priced with)."""
        found = rules_store.by_version(cdb, version)
        if found is None or (found.scope != ALL_STORES and not who.may_see_store(found.scope)):
            raise HTTPException(404, f"no rules version {version!r}")
        return to_plain(found)

    @r.get("/api/rules/store/{scope}", policy=RULE_READERS)
    def rules_in_force(cdb: Db, who: Who, scope: ScopePath) -> InForce:
        """The rule set the scope's tills use now (the store's own, else the chain's)."""
        found, own = rules_store.in_force(cdb, _scope(cdb, who, scope))
        plain = to_plain(found) if found is not None else RULES_EXAMPLE
        return InForce(scope=scope, version=found.version if found else "", own=own, rules=plain)

    @r.post("/api/rules/store/{scope}/check", policy=RULE_PUBLISHERS,
            responses={422: {"description": "refused, naming the field"}})  # fmt: skip
    def check(
        cdb: Db, who: Who, scope: ScopePath,
        body: Annotated[dict[str, Any], Body(examples=[RULES_EXAMPLE])],
    ) -> dict[str, Any]:  # fmt: skip
        """Check a rule set as publishing would, storing and sending nothing."""
        _scope(cdb, who, scope)
        return {"ok": True, "rules": to_plain(_checked(body))}

    @r.put("/api/rules/store/{scope}", policy=RULE_PUBLISHERS,
           responses={422: {"description": "refused, naming the field"},
                      404: {"description": "unknown store"}})  # fmt: skip
    def publish(
        cdb: Db, who: Who, request: Request, scope: ScopePath,
        body: Annotated[dict[str, Any], Body(examples=[RULES_EXAMPLE])],
    ) -> Published:  # fmt: skip
        """Publish a whole rule set to the chain ("all") or one store, as the next version.

        Every section is required, so nothing falls back to a default by being left out.
        """
        _scope(cdb, who, scope)
        rules = _checked(body)
        with cdb.write():
            published, change = rules_store.publish_rules(cdb, rules, scope, who.username,
                                                          utcnow())  # fmt: skip
            audit(cdb, request, "rules_publish", {"scope": scope, "version": published.version,
                                                  "config_version": change.version})  # fmt: skip
        try:
            topic, sent, detail = _send(request, change)
        except Oversized as err:  # bounded well below a message; kept for the catch-up path
            topic, sent, detail = down_topic(scope, "config"), False, str(err)
        return Published(version=published.version, scope=scope, config_version=change.version,
                         topic=topic, published=sent, detail=detail)  # fmt: skip

    @r.delete("/api/rules/store/{scope}", policy=RULE_PUBLISHERS,
              responses={409: {"description": "no rule set of the store's own"}})  # fmt: skip
    def withdraw(cdb: Db, who: Who, request: Request, scope: ScopePath) -> Published:
        """Take back a store's own rule set: its tills go back to the chain's."""
        if scope == ALL_STORES:
            raise HTTPException(409, "the chain's rules are replaced, never withdrawn")
        _scope(cdb, who, scope)
        with cdb.write():
            try:
                version, change = rules_store.withdraw_rules(cdb, scope, utcnow())
            except rules_store.RulesStoreError as err:
                raise HTTPException(409, str(err)) from err
            audit(cdb, request, "rules_withdraw", {"scope": scope, "version": version})
        topic, sent, detail = _send(request, change)
        return Published(version=version, scope=scope, config_version=change.version,
                         topic=topic, published=sent, detail=detail)  # fmt: skip

    return r
