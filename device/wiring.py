"""Composition helpers: ports over the store, the checkout config, and simulated hardware.

Simulated hardware is the real drivers talking to the byte-level simulators: the printer,
scanner, card reader and pole display over pseudo-terminals, the drawer over gpiozero's mock
pins. So a demo or a test exercises the same ESC/POS, serial and GPIO paths as the shop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.checkout.barcodes import Gs1Layout
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
from device.drivers.ioboard import IoBoard, IoBoardConfig
from device.drivers.keypad import EvdevKeypad, KeypadConfig, MatrixKeypad
from device.drivers.printer import PrinterDriver
from device.drivers.printer_config import PrinterConfig
from device.drivers.scanner import ScannerConfig, SerialScanner
from device.drivers.sim.display_sim import DisplaySim
from device.drivers.sim.drawer_sim import DrawerSim
from device.drivers.sim.magstripe_sim import MagstripeSim
from device.drivers.sim.printer_sim import PrinterSimulator
from device.drivers.sim.scanner_sim import ScannerSim
from device.readers import Readers, build_readers
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
        clock=store.clock,
        ids=Ids(),
        coupons=store.coupons,
    )


def checkout_config(cfg: TerminalConfig) -> CheckoutConfig:
    """The checkout core's settings from the terminal file (the rest are the defaults)."""
    codes = cfg.barcodes
    return CheckoutConfig(
        store_id=cfg.terminal.store_id,
        terminal_id=cfg.terminal.terminal_id,
        language=cfg.terminal.language,
        timezone=cfg.terminal.timezone,
        drawer_alarm_s=cfg.devices.drawer_alarm_s,
        gs1=Gs1Layout.from_specs(
            tuple(codes.scale_labels), frozenset(codes.numeric_code128_lengths)
        ),
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
    jobs_printed: list[int] = field(default_factory=lambda: [0])  # one counter, shared by ref
    board_sim: Any = None  # device.drivers.sim.ioboard_sim.BoardSim when [ioboard] is on
    board: IoBoard | None = None

    def peripherals(self, header: tuple[str, ...], width: int) -> Peripherals:
        """What the runtime drives."""
        return Peripherals(
            printer=self.printer,
            drawer=self.drawer,
            display=self.display,
            receipt_header=header,
            receipt_width=width,
            buzzer=self.board.buzzer if self.board is not None else None,
        )

    def start(self) -> None:
        """Start the driver threads (the simulators run from construction)."""
        if self.board is not None:
            self.board.start()
            self.board.link.connected.wait(15)
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
        for part in (self.board, self.board_sim):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()


def simulated_hardware(
    cfg: TerminalConfig,
    emit: Emit,
    state_dir: Path,
    on_saved: Callable[[str, str], None] | None = None,
    receipt_files: bool = True,
) -> SimHardware:
    """Build simulators and real drivers for a terminal with ``printer.kind = "simulated"``."""
    from gpiozero.pins.mock import MockFactory  # type: ignore[import-untyped]

    state_dir.mkdir(parents=True, exist_ok=True)
    receipts = Path(cfg.printer.output_dir)
    receipts.mkdir(parents=True, exist_ok=True)
    width = cfg.printer.width
    printer_sim = PrinterSimulator(width=width, code_set=cfg.printer.code_set)
    printer_sim.start()
    scanner_sim = ScannerSim()
    scanner_sim.start()
    card_sim = MagstripeSim()
    card_sim.start()
    d = cfg.devices
    display_sim = DisplaySim(command_set=d.display_command_set, encoding=d.display_encoding,
                             columns=d.display_columns)  # fmt: skip
    display_sim.start()
    factory = MockFactory()
    drawer_sim = DrawerSim(factory, RELAY_PIN, SWITCH_PIN)
    drawer_cfg = DrawerConfig(relay_pin=RELAY_PIN, switch_pin=SWITCH_PIN,
                              alarm_after_s=float(cfg.devices.drawer_alarm_s))  # fmt: skip
    kicker = GpioDrawerKicker(drawer_cfg, pin_factory=factory)
    monitor = DrawerMonitor(GpioDrawerSwitch(drawer_cfg, pin_factory=factory), emit,
                            alarm_after_s=drawer_cfg.alarm_after_s)  # fmt: skip
    saved: list[tuple[str, str]] = []
    counts = [0]

    def printed(job_id: str) -> None:
        counts[0] += 1
        pieces = printer_sim.complete_receipts
        if not pieces or not receipt_files:
            if not receipt_files:
                # Long runs (benchmarks) keep no paper: the simulator would hold every receipt.
                with printer_sim.model.lock:
                    printer_sim.model.receipts.clear()
                if on_saved is not None:
                    on_saved(job_id, "")  # printed, no file
            return
        stem = "receipt-" + "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in job_id)
        txt, png = pieces[-1].save(str(receipts), stem)
        saved.append((txt, png))
        if on_saved is not None:
            on_saved(job_id, os.path.splitext(png)[0])

    printer = PrinterDriver(
        PrinterConfig(kind="serial", path=printer_sim.path, baudrate=19200, width=width,
                      code_set=cfg.printer.code_set, spool_dir=str(state_dir / "print-spool"),
                      retry_max_s=1.0),
        on_status=emit,
        on_printed=printed,
    )  # fmt: skip
    hw = SimHardware(
        printer_sim=printer_sim,
        scanner_sim=scanner_sim,
        card_sim=card_sim,
        display_sim=display_sim,
        drawer_sim=drawer_sim,
        printer=printer,
        scanner=SerialScanner(ScannerConfig(port=scanner_sim.path), emit),
        card_reader=SerialCardReader(CardReaderConfig(port=card_sim.path), emit),
        display=PoleDisplay(display_config(cfg, display_sim.path), emit),
        drawer=CashDrawer(kicker, monitor),
        monitor=monitor,
        receipts_dir=receipts,
        saved=saved,
        jobs_printed=counts,
    )
    if cfg.ioboard.enabled:
        from device.drivers.sim.ioboard_sim import BoardSim

        # The firmware itself, under MicroPython's WebAssembly port, forwarding the display.
        hw.board_sim = BoardSim(display_path=display_sim.path)
        hw.board = IoBoard(ioboard_config(cfg, hw.board_sim.path), emit)
        _board_parts(cfg, hw.board, hw)
    return hw


def ioboard_config(cfg: TerminalConfig, port: str | None = None) -> IoBoardConfig:
    """The I/O board's settings from the terminal file."""
    b = cfg.ioboard
    layout = tuple(tuple(row) for row in b.layout) if b.layout else IoBoardConfig.layout
    return IoBoardConfig(
        port=port or b.port, baudrate=b.baudrate, layout=layout,
        repeat_keys=tuple(b.repeat_keys), debounce_ms=b.debounce_ms, stuck_s=b.stuck_s,
        pulse_ms=b.pulse_ms, alarm_after_s=cfg.devices.drawer_alarm_s,
        display=display_config(cfg, "I/O board"),
    )  # fmt: skip


def display_config(cfg: TerminalConfig, port: str) -> DisplayConfig:
    """The pole display's settings from the terminal file, on ``port``."""
    d = cfg.devices
    return DisplayConfig(port=port, baudrate=d.display_baudrate, command_set=d.display_command_set,
                         encoding=d.display_encoding, columns=d.display_columns)  # fmt: skip


def _board_parts(cfg: TerminalConfig, board: IoBoard, hw: Any) -> None:
    """Put the board's parts in place of those the config hands to it."""
    if cfg.ioboard.display:
        hw.display = board.display
    if cfg.ioboard.drawer:
        hw.drawer = board.drawer


def open_store(cfg: TerminalConfig, **kwargs: Any) -> Store:
    """Open the terminal's store as configured (creating it only when the config allows)."""
    from device.store.store import StoreConfig

    store_cfg = StoreConfig(terminal_id=cfg.terminal.terminal_id, timezone=cfg.terminal.timezone,
                            **kwargs)  # fmt: skip
    return Store.open(cfg.store.db_path, store_cfg, create=cfg.store.create_if_missing)


class DemoHands:
    """The demo keys' hands on the simulators: random products, scale labels, member cards."""

    def __init__(self, hw: SimHardware, store: Store, seed: int = 1) -> None:
        self.hw = hw
        self._store = store
        self._rng = random.Random(seed)
        # Filled at the first demo key: reading 100,000 barcodes at start would delay the till.
        self._codes: list[str] = []
        self._labels: list[str] = []
        self._cards: list[str] = []
        self._loaded = False

    def _load(self) -> None:
        from device.checkout.barcodes import build_variable_code

        if self._loaded:
            return
        self._loaded = True
        db = self._store.db
        self._codes = [str(c) for (c,) in db.query("SELECT code FROM barcode ORDER BY code")]
        layout = Gs1Layout()
        for (sku,) in db.query(
            "SELECT sku FROM product WHERE length(sku) = ? AND sku GLOB '[0-9]*'",
            (layout.item_digits,),
        ):
            weighed = str(sku)[0] in "56789"
            value = self._rng.randint(150, 1500) if weighed else self._rng.randint(8, 60) * 100
            prefix = f"2{str(sku)[0]}"
            with contextlib.suppress(Exception):
                self._labels.append(build_variable_code(str(sku), value, prefix, layout))
        self._cards = [str(c) for (c,) in db.query("SELECT card_id FROM member_card LIMIT 1000")]

    def scan(self, code: str) -> None:
        """Type a code into the simulated scanner."""
        self.hw.scanner_sim.scan(code)

    def scan_random(self, weighed: bool = False) -> str:
        """Scan a random product, or a random scale label."""
        self._load()
        pool = self._labels if weighed and self._labels else self._codes
        code = self._rng.choice(pool) if pool else "0000000000000"
        self.scan(code)
        return code

    def swipe_random(self) -> str:
        """Swipe a random member card."""
        self._load()
        card = self._rng.choice(self._cards) if self._cards else "0"
        self.hw.card_sim.swipe(card)
        return card

    def close_drawer(self) -> None:
        """Push the drawer shut."""
        self.hw.drawer_sim.close()


@dataclass
class RealHardware:
    """Real drivers on the configured ports; a part that fails to build is reported, not fatal."""

    printer: PrinterDriver | None
    inputs: list[Any]
    display: PoleDisplay | None
    drawer: Any
    buzzer: Any = None  # the I/O board's, when one is fitted
    readers: Readers = field(default_factory=Readers)  # the scanner and card reader
    emit: Emit | None = None

    @property
    def scanner(self) -> Any:
        """The scanner driver, or None (its reason is in ``absent``)."""
        return self.readers.scanner

    @property
    def card_reader(self) -> Any:
        """The card reader driver, or None (its reason is in ``absent``)."""
        return self.readers.card_reader

    @property
    def absent(self) -> dict[str, str]:
        """Configured parts that were not built, with the reason for each."""
        return self.readers.absent

    def peripherals(self, header: tuple[str, ...], width: int) -> Peripherals:
        """What the runtime drives."""
        return Peripherals(self.printer, self.drawer, self.display, header, width, self.buzzer)

    def start(self) -> None:
        """Start every driver thread, and report the parts that could not be built."""
        if self.emit is not None:
            self.readers.report_absent(self.emit)
        if self.printer is not None:
            self.printer.start()
        for part in self.inputs:
            part.start()

    def stop(self) -> None:
        """Stop every driver thread."""
        for part in [*self.inputs, self.printer]:
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()


class _PrinterDrawer:
    """The drawer on the printer's drawer port: ESC p to kick, DLE EOT 1 to sense."""

    def __init__(self, printer: PrinterDriver) -> None:
        self._printer = printer

    def kick(self) -> None:
        self._printer.kick_drawer()

    def is_open(self) -> bool:
        return self._printer.drawer_open()


def real_hardware(cfg: TerminalConfig, emit: Emit, state_dir: Path) -> RealHardware:
    """Drivers for the devices named in the config."""
    p, d = cfg.printer, cfg.devices
    state_dir.mkdir(parents=True, exist_ok=True)
    printer = PrinterDriver(
        PrinterConfig(kind=p.kind, path=p.path, baudrate=p.baudrate, host=p.host, port=p.port,
                      usb_vid=p.usb_vid, usb_pid=p.usb_pid, width=p.width,
                      code_set=p.code_set, language=cfg.terminal.language,
                      drawer_pin=p.drawer_pin, drawer_on_ms=p.drawer_on_ms,
                      drawer_off_ms=p.drawer_off_ms, spool_dir=str(state_dir / "print-spool")),
        on_status=emit,
    )  # fmt: skip
    readers = build_readers(d, emit)
    inputs: list[Any] = [r for r in (readers.scanner, readers.card_reader) if r is not None]
    display = (
        PoleDisplay(display_config(cfg, d.display_path), emit) if d.display == "serial" else None
    )
    drawer_cfg = DrawerConfig(relay_pin=d.drawer_relay_pin, switch_pin=d.drawer_switch_pin,
                              alarm_after_s=float(d.drawer_alarm_s))  # fmt: skip
    drawer: Any = None
    if cfg.ioboard.enabled and cfg.ioboard.drawer:
        pass  # the board kicks and senses it
    elif d.drawer == "gpio":
        monitor = DrawerMonitor(GpioDrawerSwitch(drawer_cfg), emit, drawer_cfg.alarm_after_s)
        drawer = CashDrawer(GpioDrawerKicker(drawer_cfg), monitor)
        inputs.append(monitor)
    else:
        via = _PrinterDrawer(printer)
        monitor = DrawerMonitor(via, emit, drawer_cfg.alarm_after_s, poll_s=0.5)
        drawer = CashDrawer(via, monitor)
        inputs.append(monitor)
    board_keys = cfg.ioboard.enabled and cfg.ioboard.keypad
    buzzer: Any = None
    if cfg.ioboard.enabled:
        board = IoBoard(ioboard_config(cfg), emit)
        inputs.append(board)
        hw = RealHardware(printer, inputs, display, drawer)
        _board_parts(cfg, board, hw)
        display, drawer, buzzer = hw.display, hw.drawer, board.buzzer
    if board_keys:
        pass  # keys come from the board
    elif d.keypad == "evdev":
        inputs.append(EvdevKeypad(KeypadConfig(kind="evdev", usb_id=d.keypad_usb_id), emit))
    elif d.keypad == "gpio":
        matrix = KeypadConfig(kind="matrix", row_pins=tuple(d.keypad_row_pins),
                              col_pins=tuple(d.keypad_col_pins))  # fmt: skip
        inputs.append(MatrixKeypad(matrix, emit))
    return RealHardware(printer, inputs, display, drawer, buzzer, readers, emit)


def start_sync(
    cfg: TerminalConfig, paper: Callable[[], str], problem: Callable[[], str] = lambda: ""
) -> Any:
    """Start the MQTT sync service for this terminal's store file (None if it cannot start).

    ``paper`` and ``problem`` are read on the sync thread for the retained status: the
    printer's paper and the till's own newest problem (a damaged store file).
    """
    from device.sync.client import BrokerSettings
    from device.sync.service import SyncService, SyncSettings
    from device.sync.storage import SYNC_DB_OPTIONS, SyncStorage

    b = cfg.broker
    broker = BrokerSettings(
        host=b.host, port=b.port, store_id=cfg.terminal.store_id,
        terminal_id=cfg.terminal.terminal_id, username=b.username or None,
        password=b.password or None, ca_file=b.ca_file or None, cert_file=b.cert_file or None,
        key_file=b.key_file or None, reconnect_max_s=5,
    ).check()  # fmt: skip
    report = load_self_test(cfg)  # written by a self-test while the till was stopped
    window = dt.timedelta(days=cfg.sync.resend_window_days)
    service = SyncService(
        SyncSettings(broker=broker, software_version=cfg.terminal.software_version,
                     resend_after_s=5.0, status_interval_s=10.0),
        # The runtime already checked the file at open; sync reads the outbox tail only.
        open_store=lambda: SyncStorage.open(cfg.store.db_path, SYNC_DB_OPTIONS, window),
        sink_factory=lambda store: store,
        printer=paper,
        close_store=lambda store: store.close(),
        self_test=lambda: report,
        device_problem=problem,
    )  # fmt: skip
    service.start()
    return service


def self_test_path(cfg: TerminalConfig) -> Path:
    """Where the newest hardware self-test result is kept (beside the store)."""
    return Path(cfg.store.db_path).parent / "selftest.json"


def load_self_test(cfg: TerminalConfig) -> Any:
    """The newest self-test result (protocol SelfTest), or None if none ran or it is unreadable."""
    import msgspec

    from protocol.envelope import SelfTest

    try:
        return msgspec.json.decode(self_test_path(cfg).read_bytes(), type=SelfTest)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None
