"""Health: the one route that answers without signing in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from cloud.api.policy import PUBLIC, PolicyRouter
from cloud.api.security import Db
from cloud.store.db import SCHEMA_VERSION


class Health(BaseModel):
    """The service is up and its database answers."""

    status: str
    schema_version: int


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """The health route."""
    r = PolicyRouter(enforcer, tags=["health"])

    @r.get("/api/health", policy=PUBLIC)
    def health(cdb: Db) -> Health:
        """Liveness plus a database round trip."""
        cdb.database.execute_sql("SELECT 1").fetchone()
        return Health(status="ok", schema_version=SCHEMA_VERSION)

    return r
