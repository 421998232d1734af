"""Staff: HQ adds people and their stores; a one-time code lets each set a PIN at a till."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Path, Request
from pydantic import BaseModel, Field

from cloud.api.policy import ADMIN_ONLY, PolicyRouter, Role, allow
from cloud.api.publisher import Publisher, PublishError
from cloud.api.security import Db, Who, audit
from cloud.store import staff, stores
from cloud.store.db import CloudDB, utcnow
from protocol.codec import encode_down
from protocol.envelope import DownChange, utc_iso
from protocol.topics import down_topic

StoreId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
StaffIdPath = Annotated[str, Path(pattern=r"^[0-9]{1,12}$")]
READERS = allow(Role.STORE_MANAGER, note="store managers: staff of their stores only")


class NewStaff(BaseModel):
    """A person HQ adds."""

    staff_id: Annotated[str, Field(pattern=r"^[0-9]{1,12}$")]
    name: Annotated[str, Field(min_length=1, max_length=64)]
    role: Literal["manager", "cashier", "guide"]
    stores: Annotated[list[StoreId], Field(min_length=1, max_length=200)]


class StaffChange(BaseModel):
    """Fields HQ changes (absent ones stay)."""

    name: Annotated[str | None, Field(min_length=1, max_length=64)] = None
    role: Literal["manager", "cashier", "guide"] | None = None
    stores: Annotated[list[StoreId] | None, Field(min_length=1, max_length=200)] = None
    active: bool | None = None


class CodeIssued(BaseModel):
    """The one-time code, shown this once."""

    staff_id: str
    one_time_code: str
    expires_at: str
    published: bool


def publish_changes(publisher: Publisher, changes: list[dict[str, Any]]) -> bool:
    """Publish staff-stream changes; False when the broker is away (tills catch up later)."""
    sent_at = utc_iso(dt.datetime.now(dt.UTC))
    try:
        for change in changes:
            publisher.publish(
                down_topic(change["scope"], change["stream"]),
                encode_down(DownChange(sent_at=sent_at, **change)),
            )
    except PublishError:
        return False
    return True


def refusal(cdb: CloudDB, name: str | None, store_ids: list[str] | None) -> HTTPException | None:
    """Why a person cannot be added or changed as asked: a blank name (a till would show an
    empty cashier), or a store HQ does not know (the person would sign in nowhere)."""
    if name is not None and not name.strip():
        return HTTPException(422, "a staff member needs a name, not only spaces")
    unknown = [s for s in store_ids or [] if not stores.store_known(cdb, s)]
    if unknown:
        return HTTPException(
            404, f"unknown store(s) {', '.join(unknown)}; add them under /api/stores"
        )
    return None


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """List, add, change staff; reissue a first-sign-in code."""
    r = PolicyRouter(enforcer, tags=["staff"])

    def publisher(request: Request) -> Publisher:
        found: Publisher = request.app.state.ctx.publisher
        return found

    def absorb(request: Request, cdb: Any) -> None:
        publish_changes(publisher(request), staff.absorb_pin_events(cdb, utcnow()))

    @r.get("/api/staff", policy=READERS)
    def list_staff(cdb: Db, who: Who, request: Request) -> list[dict[str, Any]]:
        """Every staff account in the caller's stores: role, stores, PIN set or code pending."""
        absorb(request, cdb)
        rows = staff.listing(cdb)
        if who.stores is None:
            return rows
        return [row for row in rows if set(row.get("stores") or ()) & who.stores]

    @r.post(
        "/api/staff",
        policy=ADMIN_ONLY,
        status_code=201,
        responses={409: {"description": "staff id taken"}},
    )
    def create(cdb: Db, request: Request, body: NewStaff) -> CodeIssued:
        """Add a person; the answer holds their one-time code for the first sign-in."""
        refused = refusal(cdb, body.name, body.stores)
        if refused is not None:
            with cdb.write():
                audit(cdb, request, "staff_add", {"staff_id": body.staff_id,
                      "refused": refused.detail}, outcome="refused")  # fmt: skip
            raise refused
        try:
            issued = staff.create(cdb, body.staff_id, body.name, body.role, body.stores, utcnow())
        except staff.StaffError as err:
            raise HTTPException(409, str(err)) from err
        with cdb.write():
            audit(
                cdb,
                request,
                "staff_add",
                {"staff_id": body.staff_id, "role": body.role, "stores": body.stores},
            )
        return CodeIssued(
            staff_id=body.staff_id,
            one_time_code=issued.code,
            expires_at=issued.expires,
            published=publish_changes(publisher(request), issued.changes),
        )

    @r.post(
        "/api/staff/{staff_id}/code",
        policy=ADMIN_ONLY,
        responses={404: {"description": "no such staff"}},
    )
    def new_code(cdb: Db, request: Request, staff_id: StaffIdPath) -> CodeIssued:
        """A new one-time code (a forgotten PIN): the old PIN stops working at the tills."""
        absorb(request, cdb)
        try:
            issued = staff.reissue_code(cdb, staff_id, utcnow())
        except staff.StaffError as err:
            raise HTTPException(404, str(err)) from err
        with cdb.write():
            audit(cdb, request, "staff_code", {"staff_id": staff_id})
        return CodeIssued(
            staff_id=staff_id,
            one_time_code=issued.code,
            expires_at=issued.expires,
            published=publish_changes(publisher(request), issued.changes),
        )

    @r.patch(
        "/api/staff/{staff_id}",
        policy=ADMIN_ONLY,
        responses={404: {"description": "no such staff"}},
    )
    def change(
        cdb: Db, request: Request, staff_id: StaffIdPath, body: StaffChange
    ) -> dict[str, Any]:
        """Rename, change role or stores, or deactivate."""
        refused = refusal(cdb, body.name, body.stores)
        if refused is not None:
            with cdb.write():
                audit(cdb, request, "staff_change", {"staff_id": staff_id,
                      "refused": refused.detail}, outcome="refused")  # fmt: skip
            raise refused
        absorb(request, cdb)
        fields = body.model_dump(exclude_none=True)
        try:
            changes = staff.update(cdb, staff_id, fields, utcnow())
        except staff.StaffError as err:
            raise HTTPException(404, str(err)) from err
        with cdb.write():
            audit(cdb, request, "staff_change", {"staff_id": staff_id, **fields})
        return {
            "staff_id": staff_id,
            "published": publish_changes(publisher(request), changes),
            "versions": [c["version"] for c in changes],
        }

    return r
