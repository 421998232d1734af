"""Coupons: HQ issues them (codes, a batch, one per member, or by rule), revokes, reports misuse.

Every issue or revoke is stored and audited in one transaction, then pushed on the ``coupons``
stream to every store (tills catch up if the broker is away). The uses come from the sales
tills send; a use that should not have happened (a double use taken offline) is listed at
``/api/coupon-problems``, never hidden.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.api.policy import PolicyRouter, Principal, Role, allow
from cloud.api.publisher import Publisher, PublishError
from cloud.api.security import Db, Who, audit
from cloud.domain.errors import Explained
from cloud.store import coupon_rules, coupons
from cloud.store.db import utcnow
from cloud.store.effects import PendingDown
from cloud.store.stores import store_known
from protocol.codec import encode_down
from protocol.envelope import DownChange, utc_iso
from protocol.items import ItemError, validate_items
from protocol.topics import down_topic

ISSUERS = allow(Role.MARKETING, note="marketing issues and withdraws coupons (campaigns)")
READERS = allow(Role.MARKETING, Role.STORE_MANAGER, Role.ANALYST,
                note="store managers: coupons valid in their stores, uses at them")  # fmt: skip
StoreId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
CouponCode = Annotated[str, Field(pattern=r"^[0-9A-Za-z_-]{1,64}$")]
MemberId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S(.*\S)?$")]
CodePath = Annotated[str, Path(pattern=r"^[0-9A-Za-z_-]{1,64}$")]
MAX_BATCH = 10_000


class NewCoupons(BaseModel):
    """Coupons to issue: give ``codes``, or a ``count`` to generate, or ``member_ids`` (one
    member-bound coupon each). ``value`` is fen for an amount coupon, basis points of the
    sale for a percentage (1500 = 15 % off)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["amount", "percent", "gift"]
    value: Annotated[int, Field(ge=0, le=1_000_000_000)]
    min_spend_fen: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    stores: Annotated[list[StoreId], Field(max_length=500)] = []
    max_uses: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    codes: Annotated[list[CouponCode] | None, Field(min_length=1, max_length=MAX_BATCH)] = None
    count: Annotated[int | None, Field(ge=1, le=MAX_BATCH)] = None
    prefix: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,16}$")] = "C"
    member_ids: Annotated[list[MemberId] | None, Field(min_length=1, max_length=MAX_BATCH)] = None
    note: Annotated[str, Field(max_length=500)] = ""

    @model_validator(mode="after")
    def _consistent(self) -> NewCoupons:
        given = [x for x in (self.codes, self.count, self.member_ids) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of codes, count or member_ids")
        if self.kind == "percent" and not 0 < self.value <= 10_000:
            raise ValueError("a percentage coupon's value is 1-10000 basis points (100 %)")
        if self.kind == "amount" and self.value == 0:
            raise ValueError("an amount coupon must be worth something")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        if self.codes is not None and len(set(self.codes)) != len(self.codes):
            raise ValueError("a code is listed twice")
        return self


class NewRule(BaseModel):
    """Spend at least ``min_total_fen`` in one sale as a member (in ``sale_stores``, or any
    store) and get a coupon valid for ``valid_days`` from that day, bound to the member."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=coupon_rules.NAME_PATTERN)]
    min_total_fen: Annotated[int, Field(ge=1, le=1_000_000_000)]
    sale_stores: Annotated[list[StoreId], Field(max_length=500)] = []
    kind: Literal["amount", "percent"]
    value: Annotated[int, Field(ge=1, le=1_000_000_000)]
    min_spend_fen: Annotated[int, Field(ge=0, le=1_000_000_000)] = 0
    valid_days: Annotated[int, Field(ge=1, le=366)]
    stores: Annotated[list[StoreId], Field(max_length=500)] = []
    max_uses: Annotated[int, Field(ge=1, le=1_000_000)] = 1

    @model_validator(mode="after")
    def _consistent(self) -> NewRule:
        if self.kind == "percent" and self.value > 10_000:
            raise ValueError("a percentage coupon's value is 1-10000 basis points (100 %)")
        return self


class Issued(BaseModel):
    """What was issued, and whether the tills were told at once."""

    codes: list[str]
    versions: list[int]
    published: bool
    detail: str = ""


class Revoked(BaseModel):
    """The coupon as withdrawn."""

    code: str
    published: bool


def publish(publisher: Publisher, down: Sequence[PendingDown]) -> tuple[bool, str]:
    """Publish committed coupons changes; (False, why) when the broker is away."""
    sent_at = utc_iso(dt.datetime.now(dt.UTC))
    try:
        for change in down:
            message = DownChange(stream="coupons", version=change.version, scope=change.scope,
                                 kind="upsert", items=change.items, sent_at=sent_at,
                                 previous=change.previous)  # fmt: skip
            publisher.publish(down_topic(change.scope, change.stream), encode_down(message))
    except PublishError as err:
        why = Explained("stored; tills catch up when the broker is back (%(reason)s)", reason=err)
        return False, str(why)
    return True, ""


def _items(body: NewCoupons) -> list[dict[str, Any]]:
    if body.codes is not None:
        pairs: list[tuple[str, str | None]] = [(code, None) for code in body.codes]
    elif body.member_ids is not None:
        pairs = [(f"{body.prefix}{secrets.token_hex(5).upper()}", m) for m in body.member_ids]
    else:
        pairs = [(f"{body.prefix}{secrets.token_hex(5).upper()}", None)
                 for _ in range(body.count or 0)]  # fmt: skip
    out = []
    for code, member in pairs:
        item: dict[str, Any] = {"code": code, "kind": body.kind, "value": body.value,
                                "min_spend_fen": body.min_spend_fen, "max_uses": body.max_uses,
                                "stores": sorted(set(body.stores))}  # fmt: skip
        if member is not None:
            item["member_id"] = member
        if body.valid_from is not None:
            item["valid_from"] = body.valid_from.isoformat()
        if body.valid_until is not None:
            item["valid_until"] = body.valid_until.isoformat()
        out.append(item)
    return out


def _members_elsewhere(cdb: Any, who: Principal, found: Sequence[dict[str, Any]]) -> set[str]:
    """The members that coupons in ``found`` are bound to whose home is outside the caller's
    stores: a code is redeemable at any till, so another store's member's stays hidden."""
    ids = {c["member_id"] for c in found if c.get("member_id")}
    if not ids or who.stores is None:
        return set()
    m = cdb.models.Member
    home = {r.member_id: r.home_store for r in m.select(m.member_id, m.home_store)
            .where(m.member_id.in_(sorted(ids)))}  # fmt: skip
    return {i for i in ids if home.get(i) not in who.stores}


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Issue, list, show, revoke coupons; their problems."""
    r = PolicyRouter(enforcer, tags=["coupons"])

    @r.post("/api/coupons", policy=ISSUERS, status_code=201,
            responses={404: {"description": "unknown store"},
                       409: {"description": "a code is already issued"}})  # fmt: skip
    def issue(cdb: Db, who: Who, request: Request, body: NewCoupons) -> Issued:
        """Issue coupons and push them to every store's tills."""
        if body.valid_until is not None and body.valid_until < dt.date.today():
            raise HTTPException(422, f"valid_until {body.valid_until} is already past")
        for store in body.stores:
            if not store_known(cdb, store):
                raise HTTPException(404, f"unknown store {store!r}; add it under /api/stores")
        try:
            items = validate_items("coupons", "upsert", _items(body))
        except ItemError as err:
            raise HTTPException(422, f"coupons: {err}") from err
        for item in items:
            item["note"] = body.note  # HQ's own; not sent to tills
        with cdb.write():
            try:
                down = coupons.issue(cdb, items, f"hq:{who.username}", utcnow())
            except coupons.CouponError as err:
                raise HTTPException(409, str(err)) from err
            detail = {"count": len(items), "kind": body.kind, "value": body.value,
                      "codes": [i["code"] for i in items[:20]]}  # fmt: skip
            audit(cdb, request, "coupon_issue", detail)
        sent, detail = publish(request.app.state.ctx.publisher, down)
        return Issued(codes=[i["code"] for i in items], versions=[d.version for d in down],
                      published=sent, detail=detail)  # fmt: skip

    @r.get("/api/coupons", policy=READERS)
    def listing(
        cdb: Db, who: Who,
        member_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 200,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Coupons, newest first, with their uses (store managers: those valid in their stores)."""
        found = coupons.listing(cdb, member_id=member_id, limit=limit)
        if who.stores is None:
            return found
        elsewhere = _members_elsewhere(cdb, who, found)
        return [
            c
            for c in found
            if (not c["stores"] or set(c["stores"]) & who.stores)
            and c.get("member_id") not in elsewhere
        ]

    @r.get("/api/coupons/{code}", policy=READERS, responses={404: {"description": "no coupon"}})
    def one(cdb: Db, who: Who, code: CodePath) -> dict[str, Any]:
        """One coupon and every use of it."""
        found = coupons.get(cdb, code)
        if found is None:
            raise HTTPException(404, f"no coupon {code!r}")
        if who.stores is not None:
            if found["stores"] and not set(found["stores"]) & who.stores:
                raise HTTPException(403, f"coupon {code!r} is not valid in your stores")
            if _members_elsewhere(cdb, who, [found]):
                raise HTTPException(403, f"coupon {code!r} belongs to another store's member")
            found["use_list"] = [u for u in found["use_list"] if u["store_id"] in who.stores]
        return found

    @r.post("/api/coupons/{code}/revoke", policy=ISSUERS,
            responses={404: {"description": "no coupon"}})  # fmt: skip
    def revoke(cdb: Db, request: Request, code: CodePath) -> Revoked:
        """Withdraw a coupon: every till refuses it from its next update on."""
        with cdb.write():
            try:
                down = coupons.revoke(cdb, code, utcnow())
            except coupons.CouponError as err:
                raise HTTPException(404, str(err)) from err
            audit(cdb, request, "coupon_revoke", {"code": code})
        sent, _ = publish(request.app.state.ctx.publisher, down)
        return Revoked(code=code, published=sent)

    @r.post("/api/coupon-rules", policy=ISSUERS, status_code=201,
            responses={404: {"description": "unknown store"},
                       409: {"description": "the name is taken"}})  # fmt: skip
    def new_rule(cdb: Db, who: Who, request: Request, body: NewRule) -> dict[str, Any]:
        """Start issuing a coupon to every member whose sale reaches the amount (满额返券)."""
        for store in {*body.stores, *body.sale_stores}:
            if not store_known(cdb, store):
                raise HTTPException(404, f"unknown store {store!r}; add it under /api/stores")
        fields = body.model_dump(exclude={"name"})
        with cdb.write():
            try:
                coupon_rules.put(cdb, body.name, fields, who.username, utcnow())
            except coupon_rules.RuleError as err:
                raise HTTPException(409, str(err)) from err
            audit(cdb, request, "coupon_rule_add", {"name": body.name, **fields})
        return next(x for x in coupon_rules.listing(cdb) if x["name"] == body.name)

    @r.get("/api/coupon-rules", policy=READERS)
    def rules(cdb: Db) -> list[dict[str, Any]]:
        """Every coupon rule, and how many coupons each has issued."""
        return coupon_rules.listing(cdb)

    @r.post("/api/coupon-rules/{name}/stop", policy=ISSUERS,
            responses={404: {"description": "no such rule"}})  # fmt: skip
    def stop_rule(
        cdb: Db, request: Request, name: Annotated[str, Path(pattern=coupon_rules.NAME_PATTERN)]
    ) -> dict[str, Any]:
        """Stop a rule; the coupons it issued stay valid."""
        with cdb.write():
            if not coupon_rules.stop(cdb, name):
                raise HTTPException(404, f"no coupon rule {name!r}")
            audit(cdb, request, "coupon_rule_stop", {"name": name})
        return {"name": name, "active": False}

    @r.get("/api/coupon-problems", policy=READERS)
    def problems(
        cdb: Db, who: Who, store: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=5000)] = 500,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Uses that should not have happened: double uses (``over_limit``) taken offline,
        unknown or withdrawn coupons, another store's or member's, outside their dates, paying
        more than they are worth (``over_value``), below their minimum spend (``min_spend``),
        or tendered twice on one sale (``repeated``)."""
        return coupons.problems(cdb, who.scope(store), limit)

    return r
