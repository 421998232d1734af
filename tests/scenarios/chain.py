"""Pieces the whole-system scenarios share: a whole till of a store on the broker, waiting.

Each till is the real thing (store file, checkout machine, runtime, simulated hardware, its
sync over MQTT) under its own directory, with the demo catalogue and no members of the cloud's
(its members come from the cloud's pushes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from device.config import BrokerSection, StoreSection, TerminalConfig, TerminalSection
from device.wiring import start_sync
from tests.broker import Broker
from tests.device.harness import Terminal, start_terminal, terminal_config


def start_till(root: Path, broker: Broker, store: str, terminal: str) -> Terminal:
    """Start till ``terminal`` of ``store`` under ``root``, online through ``broker``."""
    section = BrokerSection(host=broker.host, port=broker.port, username=terminal,
                            password=broker.password(terminal))  # fmt: skip
    base = terminal_config(root, section)
    cfg = TerminalConfig(
        terminal=TerminalSection(store_id=store, terminal_id=terminal),
        store=StoreSection(db_path=str(root / "terminal.db"), create_if_missing=True),
        broker=section, printer=base.printer,
    )  # fmt: skip
    term = start_terminal(root, cfg=cfg, members=20)
    term.runtime.sync = start_sync(cfg, term.runtime.paper_state)
    return term


def go_offline(till: Terminal) -> None:
    """Cut the till's link: it sells on, keeping its events in its outbox."""
    sync = till.runtime.sync
    till.runtime.sync = None
    if sync is not None:
        sync.stop()


def go_online(till: Terminal) -> None:
    """Bring the link back: the outbox drains and the missed pushes are caught up."""
    till.runtime.sync = start_sync(till.cfg, till.runtime.paper_state)


def stop_till(till: Terminal) -> None:
    """Stop the till and its link."""
    if till.runtime.sync is not None:
        till.runtime.sync.stop()
    till.stop()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 45.0) -> Any:
    """``check()`` once it is truthy; AssertionError naming ``what`` and the last value if not."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")
