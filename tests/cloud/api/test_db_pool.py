"""The HQ API on PostgreSQL borrows pooled connections, survives a server that dropped them,
and answers 503 with the reason (never a 500) while the database cannot be reached."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest

from cloud.api.app import ApiSettings, create_app
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.pg import create_database, drop_database

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.pg
POOL = 3


@pytest.fixture
def api(pg_admin_url: str) -> Iterator[dict[str, Any]]:
    url = create_database(pg_admin_url)
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    name = urlsplit(url).path.lstrip("/")
    try:
        headers = bearer(token_for(url, "admin"))
        app = create_app(url, Recorder(), ApiSettings(db_pool=POOL))
        with TestClient(app, headers=headers) as client:
            yield {"client": client, "admin": admin, "name": name}
    finally:
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()
        drop_database(pg_admin_url, url)


def _backends(api: dict[str, Any]) -> set[tuple[int, Any]]:
    with api["admin"].cursor() as cur:
        cur.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE datname = %s",
                    (api["name"],))  # fmt: skip
        return set(cur.fetchall())


def _terminate(api: dict[str, Any]) -> None:
    with api["admin"].cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (api["name"],))  # fmt: skip


def test_requests_borrow_a_few_connections_instead_of_opening_one_each(
    api: dict[str, Any],
) -> None:
    client = api["client"]
    for _ in range(5):
        assert client.get("/api/terminals").status_code == 200
    first = _backends(api)
    assert 1 <= len(first) <= POOL, first  # kept open between requests, and bounded
    for _ in range(30):
        assert client.get("/api/terminals").status_code == 200
    assert _backends(api) == first  # the very same server processes served them


def test_connections_the_server_dropped_are_replaced_without_a_failed_request(
    api: dict[str, Any],
) -> None:
    client = api["client"]
    assert client.get("/api/terminals").status_code == 200
    before = _backends(api)
    _terminate(api)  # a database restart, or an idle timeout on the server
    for _ in range(5):
        got = client.get("/api/terminals")
        assert got.status_code == 200, got.text
    assert _backends(api).isdisjoint(before)


def test_an_unreachable_database_is_a_503_with_the_reason_then_service_resumes(
    api: dict[str, Any],
) -> None:
    client = api["client"]
    assert client.get("/api/terminals").status_code == 200
    with api["admin"].cursor() as cur:
        cur.execute(f'ALTER DATABASE "{api["name"]}" ALLOW_CONNECTIONS false')
    _terminate(api)
    down = client.get("/api/terminals")
    assert down.status_code == 503, down.text
    assert "database is not available" in down.json()["detail"]
    assert down.headers["retry-after"] == "5"
    with api["admin"].cursor() as cur:
        cur.execute(f'ALTER DATABASE "{api["name"]}" ALLOW_CONNECTIONS true')
    assert client.get("/api/terminals").status_code == 200
