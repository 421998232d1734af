"""A whole terminal for tests: a real store file, simulated hardware on ptys, the runtime."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.checkout.machine import Machine
from device.config import (
    BrokerSection,
    PrinterSection,
    StoreSection,
    TerminalConfig,
    TerminalSection,
)
from device.recovery import CommandLog
from device.runtime import ReceiptSaved, Runtime, View
from device.store.db import DbOptions
from device.store.staff import PinPolicy
from device.store.store import Store
from device.wiring import (
    SimHardware,
    checkout_config,
    make_ports,
    open_store,
    receipt_header,
    simulated_hardware,
)
from provisioning import demo_data
from provisioning.demo import seed_store


def terminal_config(root: Path, broker: BrokerSection | None = None) -> TerminalConfig:
    """A simulated terminal S001-T01 whose files all live under ``root``."""
    return TerminalConfig(
        terminal=TerminalSection(store_id="S001", terminal_id="S001-T01"),
        store=StoreSection(db_path=str(root / "terminal.db"), create_if_missing=True),
        broker=broker or BrokerSection(enabled=False),
        printer=PrinterSection(output_dir=str(root / "receipts")),
    )


def seeded_store(cfg: TerminalConfig, members: int = 200) -> Store:
    """The demo's catalogue and staff, and demo members loaded straight into the cache.

    A real till learns members only from the cloud; tests of the till alone stand in for
    that with a member snapshot.
    """
    store = open_store(cfg, pin_policy=PinPolicy.for_tests())
    seed_store(store)
    store.load_member_snapshot(demo_data.members(members))
    return store


@dataclass
class Terminal:
    """A running terminal; ``views`` collects every published view."""

    cfg: TerminalConfig
    store: Store
    hw: SimHardware
    runtime: Runtime
    views: list[View]

    @property
    def view(self) -> View:
        return self.runtime.view

    def send(self, item: object, timeout: float = 30.0) -> View:
        """Submit an item and return the view once the runtime has handled it."""
        self.runtime.submit(item)
        self.runtime.call(lambda: None, timeout)
        return self.runtime.view

    def wait(self, predicate: Callable[[View], bool], timeout: float = 30.0) -> View:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            view = self.runtime.call(lambda: self.runtime.view)
            if predicate(view):
                return view
            time.sleep(0.02)
        raise AssertionError(f"view never matched; last notice {self.runtime.view.notice}")

    def stop(self) -> None:
        self.runtime.stop()
        self.hw.stop()

    def login_and_open(self, float_fen: int = 50_000) -> View:
        """Cashier 2001 signs in; the shift is opened with the manager's PIN if none is open."""
        from device.checkout import events as ev

        view = self.send(ev.Login("2001", "1234"))
        if view.state.shift is None:
            view = self.send(ev.OpenShift(float_fen, ev.ManagerCreds("1001", "8888")))
        self.runtime.wait_drawer()  # the float's kick has been given
        return view

    def scan(self, code: str) -> View:
        """A scan through the simulated scanner's bytes; returns once the runtime took it."""
        before = self.view.scans
        self.hw.scanner_sim.scan(code)
        return self.wait(lambda v: v.scans > before)

    def swipe(self, card: str) -> View:
        """A member card through the simulated stripe reader."""
        before = self.view.scans
        self.hw.card_sim.swipe(card)
        return self.wait(lambda v: v.scans > before)

    def printed(self) -> list[Any]:
        """Receipts cut by the simulated printer."""
        return self.hw.printer_sim.complete_receipts


def start_terminal(
    root: Path, *, members: int = 200, sync: Any = None, cfg: TerminalConfig | None = None,
    fault: Callable[[str], None] | None = None, db: DbOptions | None = None,
    receipt_files: bool = True,
) -> Terminal:  # fmt: skip
    """Seed (first time only) and start a terminal under ``root``."""
    cfg = cfg or terminal_config(root)
    if not Path(cfg.store.db_path).exists():
        seeded_store(cfg, members).close()
    store = open_store(cfg, pin_policy=PinPolicy.for_tests(), db=db or DbOptions())
    views: list[View] = []
    box: list[Runtime] = []
    hw = simulated_hardware(
        cfg,
        lambda item: box[0].submit(item),
        root / "state",
        on_saved=lambda job, path: box[0].submit(ReceiptSaved(job, path)),
        receipt_files=receipt_files,
    )
    config = checkout_config(cfg)
    runtime = Runtime(
        Machine(make_ports(store), config), store, config, CommandLog(root / "commands.sqlite"),
        hw.peripherals(receipt_header(cfg), cfg.printer.width), sync=sync,
        on_view=views.append, fault=fault,
    )  # fmt: skip
    box.append(runtime)
    hw.start()
    runtime.start()
    return Terminal(cfg, store, hw, runtime, views)
