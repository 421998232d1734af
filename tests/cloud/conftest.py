"""Cloud test fixtures: real PostgreSQL (see tests/pg.py) and cloud databases on real files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.store.db import CloudDB, open_cloud_db
from tests.pg import PgUnavailable, create_database, drop_database, fresh_database, pg_server


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A PostgreSQL server for the whole run (skips the pg tests with the reason if none)."""
    try:
        with pg_server() as url:
            yield url
    except PgUnavailable as err:
        pytest.skip(f"PostgreSQL unavailable: {err}")


@pytest.fixture(scope="session")
def pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database for the run, dropped at the end."""
    with fresh_database(pg_admin_url) as url:
        yield url


@pytest.fixture
def fresh_pg_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database for one test, dropped afterwards."""
    with fresh_database(pg_admin_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("pg", marks=pytest.mark.pg)])
def cloud_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh cloud database URL: a SQLite file, and (marked pg) a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/cloud.db"
    admin = request.getfixturevalue("pg_admin_url")
    url = create_database(admin)
    request.addfinalizer(lambda: drop_database(admin, url))
    return url


@pytest.fixture
def cloud_db(cloud_url: str) -> Iterator[CloudDB]:
    """The cloud database at cloud_url, open."""
    cdb = open_cloud_db(cloud_url)
    try:
        yield cdb
    finally:
        cdb.close()
