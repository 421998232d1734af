"""The stores registry: id, name, time zone and business-day start (admins change it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import HTTPException, Path, Request
from pydantic import Field

from cloud.api.policy import ADMIN_ONLY, PolicyRouter, Role, Strict, allow
from cloud.api.security import Db, Who, audit
from cloud.store import stores

StorePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="store id")]


class StoreBody(Strict):
    """A store's settings."""

    name: str = Field(min_length=1, max_length=100)
    timezone: str = Field(
        default=stores.DEFAULT_TIMEZONE, min_length=1, max_length=64, examples=["Asia/Shanghai"]
    )
    day_start_hour: int = Field(
        default=0, ge=0, le=12, description="local hour a business day starts (late trading)"
    )


class Store(StoreBody):
    """A registered store."""

    store_id: str


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """List and put stores."""
    r = PolicyRouter(enforcer, tags=["stores"])

    @r.get(
        "/api/stores",
        policy=allow(
            Role.MARKETING,
            Role.STORE_MANAGER,
            Role.ANALYST,
            note="store managers: their stores only",
        ),
    )
    def list_stores(cdb: Db, who: Who) -> list[Store]:
        """Registered stores within the caller's scope."""
        return [Store(**s) for s in stores.list_stores(cdb, who.stores)]

    @r.put("/api/stores/{store_id}", policy=ADMIN_ONLY)
    def put_store(cdb: Db, request: Request, store_id: StorePath, body: StoreBody) -> Store:
        """Create or change a store. Ingest reads time zones when it starts; reports use the
        business-day start from the next event on (rollups already written keep their day)."""
        with cdb.write():
            try:
                stores.put_store(cdb, store_id, body.name, body.timezone, body.day_start_hour)
            except stores.BadStore as err:
                raise HTTPException(422, str(err)) from err
            audit(cdb, request, "store_put", {"store_id": store_id, **body.model_dump()})
        return Store(store_id=store_id, **body.model_dump())

    return r
