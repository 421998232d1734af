"""Test users for the HQ API: a store registry and one user plus bearer token per role."""

from __future__ import annotations

from cloud.store import hq_access, stores
from cloud.store.db import open_cloud_db

STORES = ("S001", "S002")
PASSWORD = "correct horse battery"


def seed_stores(db_url: str, store_ids: tuple[str, ...] = STORES) -> None:
    """Register the test stores (Shanghai time, day from midnight)."""
    cdb = open_cloud_db(db_url)
    try:
        with cdb.write():
            for s in store_ids:
                stores.put_store(cdb, s, f"Store {s}", "Asia/Shanghai", 0)
    finally:
        cdb.close()


def token_for(
    db_url: str,
    role: str = "admin",
    *,
    store_ids: list[str] | None = None,
    username: str | None = None,
) -> str:
    """Create a user with ``role`` (store managers get S001 unless told) and return a token."""
    cdb = open_cloud_db(db_url)
    try:
        with cdb.write():
            for s in STORES:
                if not cdb.hq.Store.get_or_none(cdb.hq.Store.store_id == s):
                    stores.put_store(cdb, s, f"Store {s}", "Asia/Shanghai", 0)
            if role in ("store_manager", "sales_guide") and store_ids is None:
                store_ids = ["S001"]
            user = hq_access.add_user(
                cdb, username or f"{role}-user", PASSWORD, role, stores=store_ids
            )
            _, token = hq_access.create_token(cdb, user.user_id, "tests", "tests")
        return token
    finally:
        cdb.close()


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for a token."""
    return {"Authorization": f"Bearer {token}"}
