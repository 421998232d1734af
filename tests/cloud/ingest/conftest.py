"""Ingest fixtures: an in-process worker on SQLite and on PostgreSQL against the real broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings
from tests.broker import Broker


def ingest_settings(broker: Broker, username: str = "ingest") -> BrokerSettings:
    """Connection settings for an ingest identity of ``broker`` (one identity per worker)."""
    return BrokerSettings(
        host=broker.host, port=broker.port, username=username, password=broker.password(username)
    )


@pytest.fixture
def db_url(cloud_url: str) -> str:
    """The cloud database: a SQLite file, and (marked pg) a fresh PostgreSQL database."""
    return cloud_url


@pytest.fixture
def worker(broker: Broker, db_url: str) -> Iterator[IngestWorker]:
    """One running ingest worker."""
    w = IngestWorker(db_url, ingest_settings(broker), client_id="ingest-test-1")
    w.start()
    try:
        yield w
    finally:
        w.stop()
