"""HQ staff management: accounts, roles, stores, and one-time codes for the first sign-in at a till.

``make_router(get_db, publisher, guard)`` returns the routes; the app includes it with its own
database dependency and a role guard (managers of HQ only). A one-time code is in the answer
of the request that made it and nowhere else: HQ hands it to the person, who signs in at a
till with their staff number and the code once and chooses a PIN there. Every change is
published on the staff stream of each store the person works in.
"""

# No `from __future__ import annotations`: FastAPI must see the closure's aliases as types.
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, Field

from cloud.api.publisher import Publisher, PublishError
from cloud.store import staff
from cloud.store.db import CloudDB, utcnow
from protocol.codec import encode_down
from protocol.envelope import DownChange, utc_iso
from protocol.topics import down_topic

StoreId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


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


def _publish(publisher: Publisher, changes: list[dict[str, Any]]) -> bool:
    sent_at = utc_iso(dt.datetime.now(dt.UTC))
    try:
        for change in changes:
            publisher.publish(down_topic(change["scope"], change["stream"]),
                              encode_down(DownChange(sent_at=sent_at, **change)))  # fmt: skip
    except PublishError:
        return False  # stored with its version: tills get it by catch-up
    return True


def make_router(
    get_db: Callable[..., CloudDB], publisher: Publisher, guard: Callable[..., Any] | None = None
) -> APIRouter:
    """The /api/staff routes, using the app's database dependency and role guard."""
    router = APIRouter(
        prefix="/api/staff", tags=["staff"],
        dependencies=[Depends(guard)] if guard is not None else [],
    )  # fmt: skip
    Db = Annotated[CloudDB, Depends(get_db)]
    StaffIdPath = Annotated[str, Path(pattern=r"^[0-9]{1,12}$")]

    def absorb(cdb: CloudDB) -> None:
        _publish(publisher, staff.absorb_pin_events(cdb, utcnow()))

    @router.get("")
    def list_staff(cdb: Db) -> list[dict[str, Any]]:
        """Every staff account: role, stores, whether a PIN is set or a code is pending."""
        absorb(cdb)
        return staff.listing(cdb)

    @router.post("", status_code=201)
    def create(cdb: Db, body: NewStaff) -> CodeIssued:
        """Add a person; the answer holds their one-time code for the first sign-in."""
        try:
            issued = staff.create(cdb, body.staff_id, body.name, body.role, body.stores, utcnow())
        except staff.StaffError as err:
            raise HTTPException(409, str(err)) from err
        return CodeIssued(staff_id=body.staff_id, one_time_code=issued.code,
                          expires_at=issued.expires,
                          published=_publish(publisher, issued.changes))  # fmt: skip

    @router.post("/{staff_id}/code")
    def new_code(cdb: Db, staff_id: StaffIdPath) -> CodeIssued:
        """A new one-time code (a forgotten PIN): the old PIN stops working at the tills."""
        absorb(cdb)
        try:
            issued = staff.reissue_code(cdb, staff_id, utcnow())
        except staff.StaffError as err:
            raise HTTPException(404, str(err)) from err
        return CodeIssued(staff_id=staff_id, one_time_code=issued.code,
                          expires_at=issued.expires,
                          published=_publish(publisher, issued.changes))  # fmt: skip

    @router.patch("/{staff_id}")
    def change(cdb: Db, staff_id: StaffIdPath, body: StaffChange) -> dict[str, Any]:
        """Rename, change role or stores, or deactivate."""
        absorb(cdb)
        try:
            changes = staff.update(cdb, staff_id, body.model_dump(exclude_none=True), utcnow())
        except staff.StaffError as err:
            raise HTTPException(404, str(err)) from err
        return {"staff_id": staff_id, "published": _publish(publisher, changes),
                "versions": [c["version"] for c in changes]}  # fmt: skip

    return router
