"""Composition helpers: ports over the store, the checkout config, and simulated hardware.

Simulated hardware is the real drivers talking to the byte-level simulators: the printer,
scanner, card reader and pole display over pseudo-terminals, the drawer over gpiozero's mock
pins. So a demo or a test exercises the same ESC/POS, serial and GPIO paths as the shop.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.checkout.config import CheckoutConfig
from device.checkout.ports import Ports
from device.config import TerminalConfig
from device.drivers.card_reader import CardReaderConfig, SerialCardReader
from device.drivers.display import DisplayConfig, PoleDisplay
from device.drivers.drawer import (
    CashDrawer,
    DrawerConfig,
    DrawerMonitor,
    GpioDrawerKicker,
    GpioDrawerSwitch,
)
from device.drivers.events import Emit
from device.drivers.printer import PrinterDriver
from device.drivers.printer_config import PrinterConfig
from device.drivers.scanner import ScannerConfig, SerialScanner
from device.drivers.sim.display_sim import DisplaySim
from device.drivers.sim.drawer_sim import DrawerSim
from device.drivers.sim.magstripe_sim import MagstripeSim
from device.drivers.sim.printer_sim import PrinterSimulator
from device.drivers.sim.scanner_sim import ScannerSim
from device.runtime import Ids, Peripherals
from device.store.store import Store

RELAY_PIN = 17
SWITCH_PIN = 27


def make_ports(store: Store) -> Ports:
    """The checkout machine's ports, all served by the store."""
    return Ports(
        catalogue=store.catalogue,
        members=store.members,
        staff=store.staff,
        journal=store.journal,
        points=store.points,
        clock=store.clock,
        ids=Ids(),
    )


def checkout_config(cfg: TerminalConfig) -> CheckoutConfig:
    """The checkout core's settings from the terminal file (the rest are the defaults)."""
    return CheckoutConfig(
        store_id=cfg.terminal.store_id,
        terminal_id=cfg.terminal.terminal_id,
        language=cfg.terminal.language,
        timezone=cfg.terminal.timezone,
        drawer_alarm_s=cfg.devices.drawer_alarm_s,
    )


def receipt_header(cfg: TerminalConfig) -> tuple[str, ...]:
    """The store header printed on every receipt."""
    name = cfg.terminal.store_name if cfg.terminal.language == "zh" else cfg.terminal.store_name_en
    return (name, f"{cfg.terminal.store_id} / {cfg.terminal.terminal_id}")


@dataclass
class SimHardware:
    """Simulators plus the real drivers pointed at them; start() and stop() the lot."""

    printer_sim: PrinterSimulator
    scanner_sim: ScannerSim
    card_sim: MagstripeSim
    display_sim: DisplaySim
    drawer_sim: DrawerSim
    printer: PrinterDriver
    scanner: SerialScanner
    card_reader: SerialCardReader
    display: PoleDisplay
    drawer: CashDrawer
    monitor: DrawerMonitor
    receipts_dir: Path
    saved: list[tuple[str, str]] = field(default_factory=list)

    def peripherals(self, header: tuple[str, ...], width: int) -> Peripherals:
        """What the runtime drives."""
        return Peripherals(
            printer=self.printer,
            drawer=self.drawer,
            display=self.display,
            receipt_header=header,
            receipt_width=width,
        )

    def start(self) -> None:
        """Start the driver threads (the simulators run from construction)."""
        self.printer.start()
        self.scanner.start()
        self.card_reader.start()
        self.monitor.start()
        self.display.clear()

    def stop(self) -> None:
        """Stop drivers, then simulators."""
        for part in (self.monitor, self.card_reader, self.scanner, self.printer):
            with contextlib.suppress(Exception):
                part.stop()
        for sim in (self.printer_sim, self.scanner_sim, self.card_sim, self.display_sim):
            with contextlib.suppress(Exception):
                sim.stop()
        with contextlib.suppress(Exception):
            self.drawer_sim.stop()


def simulated_hardware(
    cfg: TerminalConfig,
    emit: Emit,
    state_dir: Path,
    on_saved: Callable[[str, str], None] | None = None,
) -> SimHardware:
    """Build simulators and real drivers for a terminal with ``printer.kind = "simulated"``."""
    from gpiozero.pins.mock import MockFactory

    state_dir.mkdir(parents=True, exist_ok=True)
    receipts = Path(cfg.printer.output_dir)
    receipts.mkdir(parents=True, exist_ok=True)
    width = cfg.printer.width
    printer_sim = PrinterSimulator(width=width)
    printer_sim.start()
    scanner_sim = ScannerSim()
    scanner_sim.start()
    card_sim = MagstripeSim()
    card_sim.start()
    display_sim = DisplaySim()
    display_sim.start()
    factory = MockFactory()
    drawer_sim = DrawerSim(factory, RELAY_PIN, SWITCH_PIN)
    drawer_cfg = DrawerConfig(relay_pin=RELAY_PIN, switch_pin=SWITCH_PIN,
                              alarm_after_s=float(cfg.devices.drawer_alarm_s))  # fmt: skip
    kicker = GpioDrawerKicker(drawer_cfg, pin_factory=factory)
    monitor = DrawerMonitor(GpioDrawerSwitch(drawer_cfg, pin_factory=factory), emit,
                            alarm_after_s=drawer_cfg.alarm_after_s)  # fmt: skip
    saved: list[tuple[str, str]] = []

    def printed(job_id: str) -> None:
        pieces = printer_sim.complete_receipts
        if not pieces:
            return
        stem = "receipt-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in job_id)
        txt, png = pieces[-1].save(str(receipts), stem)
        saved.append((txt, png))
        if on_saved is not None:
            on_saved(job_id, os.path.splitext(png)[0])

    printer = PrinterDriver(
        PrinterConfig(kind="serial", path=printer_sim.path, baudrate=19200, width=width,
                      spool_dir=str(state_dir / "print-spool"), retry_max_s=1.0),
        on_status=emit,
        on_printed=printed,
    )  # fmt: skip
    return SimHardware(
        printer_sim=printer_sim,
        scanner_sim=scanner_sim,
        card_sim=card_sim,
        display_sim=display_sim,
        drawer_sim=drawer_sim,
        printer=printer,
        scanner=SerialScanner(ScannerConfig(port=scanner_sim.path), emit),
        card_reader=SerialCardReader(CardReaderConfig(port=card_sim.path), emit),
        display=PoleDisplay(DisplayConfig(port=display_sim.path), emit),
        drawer=CashDrawer(kicker, monitor),
        monitor=monitor,
        receipts_dir=receipts,
        saved=saved,
    )


def open_store(cfg: TerminalConfig, **kwargs: Any) -> Store:
    """Open the terminal's store as configured (creating it only when the config allows)."""
    from device.store.store import StoreConfig

    store_cfg = StoreConfig(terminal_id=cfg.terminal.terminal_id, timezone=cfg.terminal.timezone,
                            **kwargs)  # fmt: skip
    return Store.open(cfg.store.db_path, store_cfg, create=cfg.store.create_if_missing)
