"""Fixtures for the technicians' tool: an initialised fleet, its running broker, a stand-in HQ."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioning import ports
from provisioning.fleet import Fleet
from provisioning.terminal_root import Layout, holds_store_name
from tests.provisioning.fleet_support import TOKEN, FleetBroker, StandInHQ, cli


@dataclass
class FleetEnv:
    """A fleet directory, its broker (running) and HQ, and helpers to call the tool."""

    dir: Path
    broker: FleetBroker
    hq: StandInHQ
    tmp: Path

    @property
    def fleet(self) -> Fleet:
        return Fleet.open(self.dir)

    def add(self, terminal: str, store: str = "S001", root: Path | None = None, *extra: str):
        root = root or self.tmp / f"root-{terminal}"
        args = ["--store", store, "--terminal", terminal, "--root", str(root), "--token", TOKEN]
        if not holds_store_name(Layout(root)):
            args += ["--store-name", "徐汇店"]  # the first run (or a repair) names the store
        return cli("terminal", "add", "--fleet", str(self.dir), *args, *extra)

    def cmd(self, *argv: str):
        return cli(*argv[:2], "--fleet", str(self.dir), *argv[2:])


@pytest.fixture
def hq() -> Iterator[StandInHQ]:
    server = StandInHQ().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fleet_env(tmp_path: Path, hq: StandInHQ) -> Iterator[FleetEnv]:
    """`fleet init` done and its broker running, as a technician would have it."""
    fleet_dir = tmp_path / "fleet"
    port = ports.free_ports(1)[0]
    done = cli("fleet", "init", "--fleet", str(fleet_dir), "--port", str(port),
               "--hq-url", hq.url)  # fmt: skip
    assert done.code == 0, done.err
    broker = FleetBroker(fleet_dir)
    broker.start()
    try:
        yield FleetEnv(fleet_dir, broker, hq, tmp_path)
    finally:
        broker.stop()
