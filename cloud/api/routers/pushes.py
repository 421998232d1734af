"""Pushes to stores: validated items, a preview of what changes, and which tills applied them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args

from fastapi import HTTPException, Query, Request
from pydantic import BaseModel, Field, PrivateAttr

from cloud.api.policy import PolicyRouter, Principal, Role, Strict, allow
from cloud.api.publisher import PublishError
from cloud.api.reasons import Refused
from cloud.api.security import Db, Who, audit
from cloud.domain.snapshot import STREAM_KEYS, LoggedChange, fold
from cloud.store import coupons
from cloud.store.db import CloudDB, utcnow
from cloud.store.downstream import append_linked_change
from cloud.store.stores import store_known
from protocol.codec import encode_down
from protocol.envelope import DownChange, utc_iso
from protocol.errors import BadTopic, Oversized
from protocol.items import ItemError, validate_items
from protocol.rules import is_rules_key
from protocol.topics import ALL_STORES, STREAMS, down_topic, validate_id

Stream = Literal["catalogue", "prices", "members", "coupons", "config"]
# "staff" is left out on purpose: it changes only through /api/staff, which keeps hashes only.
if set(get_args(Stream)) != set(STREAMS) - {"staff"}:  # otherwise it follows the protocol's
    raise ImportError("cloud.api Stream is out of step with protocol.topics.STREAMS")
#: Marketing may push member facts and coupons (campaigns), never prices, catalogue or config.
MARKETING_STREAMS = frozenset({"members", "coupons"})
STREAM_NAMES = frozenset(get_args(Stream))
PUSHERS = allow(Role.MARKETING, note="marketing: members and coupons streams only")
PUSH_READERS = allow(
    Role.MARKETING, Role.ANALYST, Role.STORE_MANAGER, note="store managers: their stores only"
)


class PushRequest(Strict):
    """A change HQ sends to one store or to all stores."""

    scope: str = Field(description='"all" or a store id', examples=["all", "S001"], max_length=32)
    kind: Literal["upsert", "delete"] = "upsert"
    items: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)


class PushResult(BaseModel):
    """Where the change went; published=false means stored only (terminals catch up later)."""

    stream: str
    version: int
    scope: str
    topic: str
    published: bool
    detail: str = ""
    # Why it was stored only, kept for the page to say in its reader's language (the JSON
    # answer keeps ``detail``, its English).
    _reason: Exception | None = PrivateAttr(default=None)

    @property
    def reason(self) -> Exception | str:
        """Why it was stored only: the broker's error, else ``detail``."""
        return self._reason or self.detail


class PreviewItem(BaseModel):
    """One item's effect: new, changed (with the fields), unchanged, removed, or unknown."""

    key: str
    effect: Literal["new", "changed", "unchanged", "removed", "unknown"]
    changes: dict[str, list[Any]] = Field(
        default_factory=dict, description="field -> [before, after]"
    )


class Preview(BaseModel):
    """What a push would change, before it is sent."""

    stream: str
    scope: str
    kind: str
    counts: dict[str, int]
    items: list[PreviewItem]


class PushRecord(BaseModel):
    """A stored change and the terminals in its scope that applied it."""

    stream: str
    version: int
    scope: str
    kind: str
    items: int
    created_at: dt.datetime
    applied: list[str]
    pending: list[str]


def may_push(who: Principal, stream: str) -> None:
    """Marketing pushes members and coupons only."""
    if who.role is Role.MARKETING and stream not in MARKETING_STREAMS:
        raise Refused(403, "the marketing role may not push %(stream)s", stream=stream)


def checked(
    cdb: CloudDB, who: Principal, stream: str, request: PushRequest
) -> list[dict[str, Any]]:
    """The push's items validated against the protocol schema, its scope checked."""
    may_push(who, stream)
    if request.scope != ALL_STORES:
        try:
            validate_id(request.scope, "store id")
        except BadTopic as err:
            raise HTTPException(422, str(err)) from err
        if not store_known(cdb, request.scope):
            raise Refused(
                404, "unknown store %(store)r; add it under /api/stores", store=request.scope
            )
    try:
        items = validate_items(stream, request.kind, request.items)
    except ItemError as err:
        raise Refused(
            422, "%(stream)s %(kind)s: %(problem)s", stream=stream, kind=request.kind, problem=err
        ) from err
    if stream == "members" and request.kind == "upsert":
        # A member HQ sends to tills must be findable there: the phone is the account key.
        # (Facts pushed by the cloud itself may omit it; a till keeps the phone it has.)
        for index, item in enumerate(items):
            if not item.get("phone"):
                raise Refused(
                    422, "members upsert: items[%(index)s]: Object missing required field `phone`",
                    index=index,
                )  # fmt: skip
    ruled = [str(i["key"]) for i in items if stream == "config" and is_rules_key(str(i["key"]))]
    if ruled:
        # The cloud must know every rules version a till can price with: only the rules API
        # stores one before it is pushed.
        raise Refused(422, "config %(key)r: rules are published through /api/rules", key=ruled[0])
    return items


def current_state(cdb: CloudDB, stream: str, scope: str) -> dict[str, dict[str, Any]]:
    """The stream's items for ``scope`` as the change log stands (catalogue folds in prices)."""
    streams = ("catalogue", "prices") if stream in ("catalogue", "prices") else (stream,)
    m = cdb.models
    scopes = [ALL_STORES] if scope == ALL_STORES else [scope, ALL_STORES]
    rows = (
        m.DownChange.select(
            m.DownChange.id, m.DownChange.stream, m.DownChange.kind, m.DownChange.items
        )
        .where(m.DownChange.stream.in_(streams) & m.DownChange.scope.in_(scopes))
        .tuples()
    )
    target = "catalogue" if stream == "prices" else stream
    return fold([LoggedChange(int(i), s, k, items) for i, s, k, items in rows], target).items


def preview(
    cdb: CloudDB, stream: str, scope: str, kind: str, items: list[dict[str, Any]]
) -> Preview:
    """Compare the items with the current state, field by field."""
    state = current_state(cdb, stream, scope)
    key = STREAM_KEYS[stream]
    out: list[PreviewItem] = []
    for item in items:
        name = str(item[key])
        before = state.get(name)
        if kind == "delete":
            out.append(PreviewItem(key=name, effect="removed" if before else "unknown"))
            continue
        if before is None:
            effect = "unknown" if stream == "prices" else "new"  # a till ignores unknown SKUs
            out.append(PreviewItem(key=name, effect=effect))
            continue
        diff = {f: [before.get(f), v] for f, v in item.items() if before.get(f) != v}
        out.append(PreviewItem(key=name, effect="changed" if diff else "unchanged", changes=diff))
    counts: dict[str, int] = {}
    for p in out:
        counts[p.effect] = counts.get(p.effect, 0) + 1
    return Preview(stream=stream, scope=scope, kind=kind, counts=counts, items=out)


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Push, preview, history."""
    r = PolicyRouter(enforcer, tags=["pushes"])

    @r.post("/api/push/{stream}/preview", policy=PUSHERS)
    def push_preview(cdb: Db, who: Who, stream: Stream, body: PushRequest) -> Preview:
        """What the push would change for its scope (nothing is stored or sent)."""
        items = checked(cdb, who, stream, body)
        return preview(cdb, stream, body.scope, body.kind, items)

    @r.post(
        "/api/push/{stream}",
        policy=PUSHERS,
        responses={404: {"description": "unknown store"}, 413: {"description": "too large"}},
    )
    def push(cdb: Db, who: Who, request: Request, stream: Stream, body: PushRequest) -> PushResult:
        """Store a change under the stream's next version, then publish it to the scope."""
        return do_push(cdb, who, request, stream, body)

    @r.get("/api/pushes", policy=PUSH_READERS)
    def pushes(
        cdb: Db,
        who: Who,
        stream: Stream | None = None,
        store: Annotated[str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_-]+$")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[PushRecord]:
        """Recent changes, newest first, with the terminals that applied each (their status)."""
        return history(cdb, who, stream, store, limit)

    return r


def do_push(
    cdb: CloudDB, who: Principal, request: Request, stream: str, body: PushRequest
) -> PushResult:
    """Validate, store under the stream's next version (audited), then publish to the scope."""
    items = checked(cdb, who, stream, body)
    scope = body.scope
    sent_at = utc_iso(dt.datetime.now(dt.UTC))
    probe = DownChange(
        stream=stream, version=1, scope=scope, kind=body.kind, items=items, sent_at=sent_at
    )  # type: ignore[arg-type]
    try:
        encode_down(probe)
    except Oversized as err:
        raise Refused(413, "change too large for one message: %(problem)s", problem=err) from err
    with cdb.write():
        version, previous = append_linked_change(cdb, stream, scope, body.kind, items, utcnow())
        if stream == "coupons" and body.kind == "upsert":  # the cloud checks coupons: its records
            coupons.absorb_push(cdb, items, scope, who.username, utcnow())
        audit(
            cdb,
            request,
            "push",
            {
                "stream": stream,
                "scope": scope,
                "kind": body.kind,
                "version": version,
                "items": len(items),
            },
        )
    change = DownChange(
        stream=stream, version=version, scope=scope, kind=body.kind, items=items, sent_at=sent_at,
        previous=previous,
    )  # type: ignore[arg-type]  # fmt: skip
    topic = down_topic(scope, stream)
    try:
        request.app.state.ctx.publisher.publish(topic, encode_down(change))
    except PublishError as err:
        # Stored with its version: terminals get it by catch-up once the broker is back.
        stored = PushResult(
            stream=stream,
            version=version,
            scope=scope,
            topic=topic,
            published=False,
            detail=str(err),
        )
        stored._reason = err
        return stored
    return PushResult(stream=stream, version=version, scope=scope, topic=topic, published=True)


def history(
    cdb: CloudDB, who: Principal, stream: str | None, store: str | None, limit: int
) -> list[PushRecord]:
    """Recent changes in the caller's scope, with the terminals that applied each."""
    scope = who.scope(store)
    m = cdb.models
    q = m.DownChange.select().order_by(m.DownChange.id.desc()).limit(limit)
    if stream:
        q = q.where(m.DownChange.stream == stream)
    if scope is not None:
        q = q.where(m.DownChange.scope.in_([*scope, ALL_STORES]))
    terminals = [
        (t.terminal_id, t.store_id, (t.status or {}).get("stream_versions", {}))
        for t in m.Terminal.select()
        if scope is None or t.store_id in scope
    ]
    out = []
    for c in q:
        mine = [(tid, v) for tid, sid, v in terminals if c.scope in (ALL_STORES, sid)]
        applied = sorted(tid for tid, v in mine if int(v.get(c.stream, 0)) >= c.version)
        pending = sorted(tid for tid, v in mine if int(v.get(c.stream, 0)) < c.version)
        out.append(
            PushRecord(
                stream=c.stream,
                version=c.version,
                scope=c.scope,
                kind=c.kind,
                items=len(c.items or []),
                created_at=c.created_at.replace(tzinfo=dt.UTC),
                applied=applied,
                pending=pending,
            )
        )
    return out
