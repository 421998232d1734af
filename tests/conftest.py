"""Project-wide pytest fixtures: a real Mosquitto per test (see tests/broker.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests.broker import Broker

# Property tests on a busy machine: no per-example deadline, and no failure because drawing
# the examples was slow (the health check times the generator against the wall clock).
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
# `make mutation` runs each mutant with the same examples every time (and no example database),
# so a survivor is a gap in the tests, not an unlucky draw.
settings.register_profile(
    "mutation", parent=settings.get_profile("suite"), derandomize=True, database=None
)
settings.load_profile("suite")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A running Mosquitto: terminals S001-T01, S001-T02, S002-T01; ingest, ingest-2, hq, admin."""
    b = Broker(tmp_path / "broker")
    b.start()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Broker]]:
    """Make more brokers: broker_factory(terminals=..., services=..., tls=True, start=True)."""
    made: list[Broker] = []

    def make(*, start: bool = True, **kwargs: Any) -> Broker:
        b = Broker(tmp_path / f"broker{len(made)}", **kwargs)
        made.append(b)
        if start:
            b.start()
        return b

    try:
        yield make
    finally:
        for b in made:
            b.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failed test, attach the log tail of every Broker it used to the report."""
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for name, value in funcargs.items():
            if isinstance(value, Broker):
                report.sections.append((f"mosquitto log ({name})", value.log_tail(60)))
    return report
