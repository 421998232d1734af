"""Test users for the HQ API: a store registry and one user plus bearer token per role."""

from __future__ import annotations

import warnings

from cloud.api.app import create_app
from cloud.store import hq_access, stores
from cloud.store.db import open_cloud_db
from tests.cloud.api.recorder import Recorder

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

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


def signed_in(url: str, username: str) -> TestClient:
    """A client holding the page's session cookie for ``username`` (no bearer token); use it
    as a context manager."""
    client = TestClient(create_app(url, Recorder()))
    client.__enter__()
    got = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert got.status_code == 200, got.text
    return client


def kept_to_s001(db_url: str) -> dict[str, str]:
    """Users kept to store S001 (its manager ``lin`` and sales guide ``guide1``, who sign in
    with ``signed_in``), and HQ's admin: returns the admin's bearer header."""
    admin = bearer(token_for(db_url, "admin"))
    token_for(db_url, "store_manager", store_ids=["S001"], username="lin")
    token_for(db_url, "sales_guide", store_ids=["S001"], username="guide1")
    return admin
