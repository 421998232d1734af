"""Sync test harness: a real store file with recorded sales, and running SyncServices."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from device.store.db import open_database
from device.store.journal import JournalWriter
from device.sync.client import BrokerSettings
from device.sync.service import SyncService, SyncSettings
from device.sync.storage import SyncStorage
from tests.broker import Broker
from tests.device.sync.builders import price_for, sale

SHANGHAI = ZoneInfo("Asia/Shanghai")


def record_sales(path: Path, count: int, start: int = 0, create: bool = False) -> int:
    """Record sales start..start+count-1 into the store file; returns their total in fen."""
    db = open_database(path, create=create)
    try:
        writer = JournalWriter(db, "S001-T01", SHANGHAI)
        total = 0
        for n in range(start, start + count):
            record = sale(n, unit_price_fen=price_for(n))
            writer.record_sale(record, dt.datetime.now(dt.UTC))
            total += record.total_fen
        return total
    finally:
        db.close()


def expected_total(count: int, start: int = 0) -> int:
    """The fen total of sales start..start+count-1, computed from the prices alone."""
    return sum(price_for(n) for n in range(start, start + count))


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    """An empty, migrated terminal store file."""
    path = tmp_path / "terminal.db"
    open_database(path, create=True).close()
    return path


def broker_settings(broker: Broker, terminal_id: str = "S001-T01", **kw: Any) -> BrokerSettings:
    """Settings for one of the fixture's terminals."""
    store_id = terminal_id.split("-")[0]
    if "password" not in kw:
        kw["password"] = broker.password(terminal_id)
    return BrokerSettings(
        host=broker.host, port=broker.port, store_id=store_id, terminal_id=terminal_id, **kw
    )


@pytest.fixture
def make_service(broker: Broker) -> Iterator[Callable[..., SyncService]]:
    """Start SyncServices on a store file; all are stopped at the end of the test."""
    made: list[SyncService] = []

    def make(path: Path, terminal_id: str = "S001-T01", **kw: Any) -> SyncService:
        broker_fields = {f.name for f in dataclasses.fields(BrokerSettings)}
        service_kw = {k: kw.pop(k) for k in ("printer", "clock_synced") if k in kw}
        bkw = {k: v for k, v in kw.items() if k in broker_fields}
        skw = {k: v for k, v in kw.items() if k not in broker_fields}
        settings = SyncSettings(broker=broker_settings(broker, terminal_id, **bkw), **skw)
        svc = SyncService(settings, open_store=lambda: SyncStorage.open(path), **service_kw)
        svc.start()
        made.append(svc)
        return svc

    yield make
    for svc in made:
        svc.stop()
