"""HQ API test fixtures: the member world of crm_world.py served to a real browser."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.api.app import create_app
from cloud.store.db import open_cloud_db
from tests.cloud.api import crm_world as w
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.browser import Served, Site
from tests.cloud.api.recorder import Recorder

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def crm_db(tmp_path: Path) -> str:
    """crm_world.py's members (M1 at S001, M3 at S002) in a SQLite file; ``boss`` is the HQ
    admin. Add more users with ``token_for(url, ...)``."""
    db_url = f"sqlite:///{tmp_path}/cloud.db"
    admin = bearer(token_for(db_url, "admin", username="boss"))
    cdb = open_cloud_db(db_url)
    try:
        with TestClient(create_app(db_url, Recorder()), headers=admin) as client:
            w.build(cdb, client)
    finally:
        cdb.close()
    return db_url


@pytest.fixture
def crm_site(crm_db: str) -> Iterator[Site]:
    """The crm_db world served by uvicorn, for a browser."""
    with Served(create_app(crm_db, Recorder())) as served:
        yield Site(served.url, crm_db)
