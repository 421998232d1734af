"""Ingest fixtures: an in-process worker on a real SQLite file against the real test broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings
from tests.broker import Broker


def ingest_settings(broker: Broker) -> BrokerSettings:
    """Connection settings for the ingest service user of ``broker``."""
    return BrokerSettings(
        host=broker.host, port=broker.port, username="ingest", password=broker.password("ingest")
    )


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A SQLite file for the cloud."""
    return f"sqlite:///{tmp_path}/cloud.db"


@pytest.fixture
def worker(broker: Broker, db_url: str) -> Iterator[IngestWorker]:
    """One running ingest worker."""
    w = IngestWorker(db_url, ingest_settings(broker), client_id="ingest-test-1")
    w.start()
    try:
        yield w
    finally:
        w.stop()
