"""Fault-test fixtures: cloud databases on SQLite and on PostgreSQL, as the cloud tests use."""

from tests.cloud.conftest import cloud_url, fresh_pg_url, pg_admin_url

__all__ = ["cloud_url", "fresh_pg_url", "pg_admin_url"]
