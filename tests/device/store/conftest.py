"""Fixtures: a real store file in tmp_path with cheap PIN hashing and a controllable clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from device.store.store import Store
from tests.device.store.builders import FakeClock, store_config


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "terminal.db"


@pytest.fixture
def store(db_path: Path, clock: FakeClock) -> Iterator[Store]:
    s = Store.open(db_path, store_config(), create=True, clock=clock)
    yield s
    s.close()
