"""HQ's member management: add, edit, import members, adjust points by hand, merge duplicates.

Every change is written, audited and pushed to the tills in one transaction, then published
(``cloud.store.member_admin``, ``cloud.store.adjustments``, ``cloud.jobs.merge``). A refused
change answers 404 (no such member), 409 (it contradicts what the cloud holds) or 422 (the
request is malformed), with the reason, and leaves an audit row saying so.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.paths import MemberPath
from cloud.api.policy import ADMIN_ONLY, PolicyRouter, Role, allow
from cloud.api.reasons import Refused
from cloud.api.security import Db, Who, audit
from cloud.domain.crm import mask_phone
from cloud.jobs.merge import merge_member
from cloud.jobs.publish import publish_changes
from cloud.store import member_admin
from cloud.store.adjustments import (
    MemberAdminError,
    MemberConflict,
    MemberInvalid,
    MemberNotFound,
    adjust_points,
)
from cloud.store.db import CloudDB, utcnow
from cloud.store.effects import PendingDown
from protocol.bounds import MAX_POINTS, TEXT_CHARS

MEMBER_EDITORS = allow(Role.MARKETING, note="admin and marketing")
STATUS = {MemberNotFound: 404, MemberConflict: 409, MemberInvalid: 422}
Card = Annotated[str, Field(min_length=1, max_length=64)]


class Profile(BaseModel):
    """Member fields HQ sets; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")
    phone: str | None = Field(default=None, max_length=32, examples=["13812345678"])
    name: str | None = Field(default=None, max_length=128)
    birthday: dt.date | None = None
    gender: Literal["", "f", "m", "x"] | None = None
    opt_out_sms: bool | None = None
    member_code: str | None = Field(default=None, max_length=64)
    cards: list[Card] | None = Field(default=None, max_length=16)
    home_store: str | None = Field(default=None, max_length=32)

    def given(self) -> dict[str, Any]:
        """The fields the request carried (an explicit null included)."""
        return {k: getattr(self, k) for k in self.model_fields_set}


class NewMember(Profile):
    """A member HQ adds (the phone is required; the id is made up when left out)."""

    member_id: str | None = Field(default=None, min_length=1, max_length=64)
    phone: str = Field(max_length=32, examples=["13812345678"])  # type: ignore[assignment]


class ImportMember(BaseModel):
    """One member of a bulk import, with the opening figures from the previous system."""

    model_config = ConfigDict(extra="forbid")
    member_id: str = Field(min_length=1, max_length=64)
    phone: str = Field(max_length=32)
    name: str = Field(default="", max_length=128)
    birthday: dt.date | None = None
    gender: Literal["", "f", "m", "x"] = ""
    opt_out_sms: bool = False
    member_code: str = Field(default="", max_length=64)
    cards: list[Card] = Field(default_factory=list, max_length=16)
    tier: Literal["regular", "silver", "gold"] = "regular"
    cumulative_spend_fen: int = Field(default=0, ge=0, le=10**15)
    points_balance: int = Field(default=0, ge=0, le=MAX_POINTS, description="opening points")


class ImportRequest(BaseModel):
    """Members to bring in, all or none."""

    model_config = ConfigDict(extra="forbid")
    home_store: str = Field(default="", max_length=32)
    members: list[ImportMember] = Field(min_length=1, max_length=5000)


class Adjustment(BaseModel):
    """Points to add (positive) or take (negative), and why."""

    model_config = ConfigDict(extra="forbid")
    delta: int = Field(ge=-MAX_POINTS, le=MAX_POINTS)
    reason: str = Field(default="", max_length=TEXT_CHARS)
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="send the same id when retrying: the adjustment is made once",
    )


class MergeRequest(BaseModel):
    """The member this one is joined into, why, and (when their phones differ) the phone the
    merged member keeps."""

    model_config = ConfigDict(extra="forbid")
    into: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=TEXT_CHARS)
    keep_phone: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        examples=["13912345678"],
        description="required when the two phones differ: one of them, kept by the merged "
        "member; the other no longer finds it",
    )
    dry_run: bool = Field(default=False, description="say what the merge would do; change nothing")


def _refused(
    cdb: CloudDB, request: Request, action: str, err: MemberAdminError, detail: dict[str, Any]
) -> Refused:
    status = next((code for kind, code in STATUS.items() if isinstance(err, kind)), 409)
    with cdb.write():
        audit(cdb, request, action, {**detail, "refused": str(err)}, outcome="refused")
    return Refused.because(status, err)


def _publish(request: Request, down: Sequence[PendingDown]) -> int:
    return publish_changes(request.app.state.ctx.publisher, down)


def _scope(request: Request) -> str:
    return str(request.app.state.ctx.settings.jobs.member_scope)


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Create, edit, import, adjust, merge."""
    r = PolicyRouter(enforcer, tags=["member admin"])

    @r.post(
        "/api/members",
        policy=MEMBER_EDITORS,
        status_code=201,
        responses={409: {"description": "phone, code or card in use; id taken"}},
    )
    def create(cdb: Db, request: Request, body: NewMember) -> Any:
        """Add a member to the cloud's register and push it to the tills."""
        member_id = body.member_id or uuid.uuid4().hex
        given = {k: v for k, v in body.given().items() if k != "member_id"}
        given["phone"] = body.phone
        detail = {"member_id": member_id}
        try:
            with cdb.write():
                created, down = member_admin.create_member(
                    cdb, member_id, given, now=utcnow(), scope=_scope(request)
                )
                audit(cdb, request, "member_create", {**detail, "created": created})
        except MemberAdminError as err:
            raise _refused(cdb, request, "member_create", err, detail) from err
        answer = {"member_id": member_id, "created": created, "published": _publish(request, down)}
        return answer if created else JSONResponse(answer, status_code=200)

    @r.patch("/api/members/{member_id}", policy=MEMBER_EDITORS)
    def edit(cdb: Db, request: Request, member_id: MemberPath, body: Profile) -> dict[str, Any]:
        """Change profile fields; the tills get the member's new facts."""
        detail: dict[str, Any] = {"member_id": member_id, "fields": sorted(body.model_fields_set)}
        try:
            with cdb.write():
                changed, down = member_admin.edit_member(
                    cdb, member_id, body.given(), now=utcnow(), scope=_scope(request)
                )
                audit(cdb, request, "member_edit", {**detail, "changed": sorted(changed)})
        except MemberAdminError as err:
            raise _refused(cdb, request, "member_edit", err, detail) from err
        return {"member_id": member_id, "changed": changed, "published": _publish(request, down)}

    @r.post(
        "/api/members/import",
        policy=ADMIN_ONLY,
        responses={409: {"description": "ids, phones, codes or cards in use"}},
    )
    def import_(cdb: Db, who: Who, request: Request, body: ImportRequest) -> dict[str, Any]:
        """Bring in members with their opening spend, tier and points; again changes nothing."""
        rows = [
            member_admin.ImportRow(
                member_id=m.member_id,
                points=m.points_balance,
                spend_fen=m.cumulative_spend_fen,
                tier=m.tier,
                profile=m.model_dump(
                    exclude={"member_id", "points_balance", "cumulative_spend_fen", "tier"},
                    exclude_unset=False,
                    exclude_none=True,
                ),
            )
            for m in body.members
        ]
        detail = {"members": len(rows), "home_store": body.home_store}
        try:
            with cdb.write():
                done = member_admin.import_members(
                    cdb,
                    rows,
                    actor=who.username,
                    now=utcnow(),
                    home_store=body.home_store,
                    scope=_scope(request),
                )
                audit(
                    cdb,
                    request,
                    "member_import",
                    {
                        **detail,
                        "created": len(done.created),
                        "already_imported": len(done.already_imported),
                    },
                )
        except MemberAdminError as err:
            raise _refused(cdb, request, "member_import", err, detail) from err
        return {
            "created": len(done.created),
            "already_imported": len(done.already_imported),
            "published": _publish(request, done.down),
        }

    @r.post(
        "/api/members/{member_id}/points/adjust",
        policy=MEMBER_EDITORS,
        status_code=201,
        responses={
            404: {"description": "no such member"},
            409: {"description": "below zero, merged, or request id reused"},
            422: {"description": "no reason, or 0 points"},
        },
    )
    def adjust(cdb: Db, who: Who, request: Request, member_id: MemberPath, body: Adjustment) -> Any:
        """Add or take points by hand, with the reason; the tills get the new balance."""
        request_id = body.request_id or uuid.uuid4().hex
        detail = {
            "member_id": member_id,
            "delta": body.delta,
            "reason": body.reason,
            "request_id": request_id,
        }
        try:
            with cdb.write():
                done = adjust_points(
                    cdb,
                    member_id,
                    body.delta,
                    body.reason,
                    actor=who.username,
                    request_id=request_id,
                    now=utcnow(),
                    scope=_scope(request),
                )
                audit(
                    cdb,
                    request,
                    "points_adjust",
                    {**detail, "adjustment_id": done.adjustment_id, "replayed": done.replayed},
                )
        except MemberAdminError as err:
            raise _refused(cdb, request, "points_adjust", err, detail) from err
        answer = {
            "adjustment_id": done.adjustment_id,
            "request_id": done.request_id,
            "member_id": done.member_id,
            "delta": done.delta,
            "reason": done.reason,
            "actor": done.actor,
            "balance_after": done.balance_after,
            "replayed": done.replayed,
            "published": _publish(request, done.down),
        }
        return JSONResponse(answer, status_code=200) if done.replayed else answer

    @r.post(
        "/api/members/{member_id}/merge",
        policy=MEMBER_EDITORS,
        responses={
            404: {"description": "no such member"},
            409: {"description": "phones differ and no keep_phone, kept phone held, or merged "
                   "elsewhere"},
            422: {"description": "no reason, into itself, or keep_phone neither member's"},
        },
    )  # fmt: skip
    def merge(
        cdb: Db, who: Who, request: Request, member_id: MemberPath, body: MergeRequest
    ) -> dict[str, Any]:
        """Join this member into ``into``: ledger, spend, history; the id aliased. Members with
        different phones need ``keep_phone``; the other phone then finds nobody."""
        detail: dict[str, Any] = {"member_id": member_id, "into": body.into,
                                  "reason": body.reason, "dry_run": body.dry_run}  # fmt: skip
        if body.keep_phone is not None:
            detail["keep_phone"] = mask_phone(body.keep_phone)
        try:
            if not body.reason.strip():
                raise MemberInvalid("say why the members are merged (reason)")
            with cdb.write():
                done = merge_member(
                    cdb,
                    member_id,
                    body.into,
                    now=utcnow(),
                    actor=who.username,
                    reason=body.reason.strip(),
                    config=request.app.state.ctx.settings.jobs,
                    dry_run=body.dry_run,
                    keep_phone=body.keep_phone,
                )
                audit(
                    cdb,
                    request,
                    "member_merge",
                    {
                        **detail,
                        "survivor": done.survivor,
                        "already": done.already,
                        "moved": done.moved,
                        "phone_dropped": mask_phone(done.phone_dropped),
                    },
                )
        except MemberAdminError as err:
            raise _refused(cdb, request, "member_merge", err, detail) from err
        return {
            "old_id": done.old_id,
            "survivor": done.survivor,
            "already": done.already,
            "moved": done.moved,
            "tier": done.tier,
            "cards_left_out": list(done.cards_left_out),
            "phone": done.phone,
            "phone_dropped": done.phone_dropped,
            "dry_run": body.dry_run,
            "published": _publish(request, done.down),
        }

    return r
