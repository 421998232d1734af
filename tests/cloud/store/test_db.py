"""Opening the cloud database: schema creation, durability settings, versioning, bad URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.store.db import SCHEMA_VERSION, CloudDB, configured_url, open_cloud_db
from cloud.store.errors import BadDatabaseUrl, CloudStoreError, SchemaTooNew


def test_schema_is_created_and_versioned(cloud_db: CloudDB) -> None:
    tables = set(cloud_db.database.get_tables())
    assert {"events", "terminals", "dead_letters", "members", "points_ledger",
            "over_redemptions", "sku_sales", "daily_totals", "down_changes"} <= tables  # fmt: skip
    assert cloud_db.models.SchemaMeta.get().value == str(SCHEMA_VERSION)


def test_sqlite_runs_wal_with_full_sync(tmp_path: Path) -> None:
    cdb = open_cloud_db(f"sqlite:///{tmp_path}/c.db")
    try:
        assert cdb.database.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cdb.database.execute_sql("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        cdb.close()


def test_reopen_keeps_rows(cloud_url: str) -> None:
    first = open_cloud_db(cloud_url)
    first.models.Terminal.create(terminal_id="S001-T01", store_id="S001", high_water=7)
    first.close()
    again = open_cloud_db(cloud_url)
    try:
        assert again.models.Terminal.get().high_water == 7
    finally:
        again.close()


def test_newer_schema_is_refused(cloud_url: str) -> None:
    cdb = open_cloud_db(cloud_url)
    cdb.models.SchemaMeta.update(value=str(SCHEMA_VERSION + 1)).execute()
    cdb.close()
    with pytest.raises(SchemaTooNew, match=f"schema v{SCHEMA_VERSION + 1}"):
        open_cloud_db(cloud_url)


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite:///", "cloud.db"])
def test_bad_urls_say_what_is_expected(url: str) -> None:
    with pytest.raises(BadDatabaseUrl, match="sqlite:///path"):
        open_cloud_db(url)


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(CloudStoreError, match="cannot open"):
        open_cloud_db("postgresql://nobody@127.0.0.1:1/none")


def test_database_url_comes_from_the_environment_else_sqlite() -> None:
    pg = "postgresql://pos@db.example:5432/pos"
    assert configured_url({"DATABASE_URL": pg}) == pg
    assert configured_url({"DATABASE_URL": "  "}) == "sqlite:///var/cloud.db"
    assert configured_url({}) == "sqlite:///var/cloud.db"
