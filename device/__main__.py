"""`python -m device --config terminal.toml [--simulate] [--headless]`: the composition root.

Reads the config, opens the store (a missing database is an error unless the config allows
creating it), builds the drivers (real, or the real drivers over byte-level simulators with
--simulate), the sync service, the checkout machine and the runtime, then runs the cashier
screen. --headless runs without a screen, reading JSON commands from stdin and writing one
JSON view summary per command to stdout (device.headless), for tests and benchmarks.

Fault injection for the crash tests: POS_FAULT=after_commit kills the process with SIGKILL
right after a sale is committed and before its receipt is printed. For benchmarks:
POS_SIM_RECEIPT_FILES=0 skips writing the simulated receipts' .txt/.png files,
POS_UI_HEADLESS=1 runs the screen without a terminal, POS_READY_FILE=path gets the seconds
from start to the login screen drawn.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib.util
import logging
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any


def _escpos_capabilities_cache() -> tuple[Path, Path] | None:
    """Give python-escpos a lasting place for its parsed printer database.

    Without one it makes a new temporary directory at every import, so each start parses the
    YAML capabilities file again (~0.1-0.2 s of the cold start) and leaves a directory behind.
    The cache is the service user's own (0700): escpos loads a pickle from it. escpos writes
    the pickle in place, where a second terminal process could read it half-written, so a
    missing or stale pickle is made in a private directory and moved in whole afterwards:
    returns (that directory, the pickle's final path), or None when there is nothing to move.
    """
    if "ESCPOS_CAPABILITIES_PICKLE_DIR" in os.environ:
        return None
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        cache = base / "pos-terminal" / "escpos"
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        pickle = cache / f"{platform.python_version()}.capabilities.pickle"
        spec = importlib.util.find_spec("escpos")
        origin = spec.origin if spec is not None else None
        source = Path(origin).with_name("capabilities.json") if origin else None
        if pickle.exists() and (source is None or source.stat().st_mtime <= pickle.stat().st_mtime):
            os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(cache)
            return None
        work = Path(tempfile.mkdtemp(dir=cache))
    except (OSError, RuntimeError, ImportError, ValueError):
        return None  # escpos falls back to its own temporary directory
    os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(work)
    return work, pickle


def _settle_escpos_cache(pending: tuple[Path, Path] | None) -> None:
    if pending is None:
        return
    work, pickle = pending
    with contextlib.suppress(OSError):
        os.replace(work / pickle.name, pickle)
    shutil.rmtree(work, ignore_errors=True)


# Before the imports below: device.runtime brings in escpos, which reads the variable at import.
_ESCPOS_PENDING = _escpos_capabilities_cache()

from device.checkout.machine import Machine  # noqa: E402
from device.config import ConfigError, TerminalConfig, load_config  # noqa: E402
from device.recovery import CommandLog  # noqa: E402
from device.runtime import ReceiptSaved, Runtime  # noqa: E402
from device.store.db import DbOptions  # noqa: E402
from device.store.errors import StoreError  # noqa: E402
from device.watchdog import Watchdog  # noqa: E402
from device.wiring import (  # noqa: E402
    DemoHands,
    checkout_config,
    make_ports,
    open_store,
    real_hardware,
    receipt_header,
    simulated_hardware,
    start_sync,
)

_settle_escpos_cache(_ESCPOS_PENDING)
log = logging.getLogger("device")
CACHE_MB = 2
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m device", description=__doc__)
    p.add_argument("--config", required=True, help="the terminal's TOML file")
    p.add_argument(
        "--simulate", action="store_true", help="simulated peripherals (ptys, mock GPIO)"
    )
    p.add_argument("--headless", action="store_true", help="no screen: JSON commands on stdin")
    p.add_argument(
        "--log-file", default="", help="log here (default: beside the database; - for stderr)"
    )
    return p.parse_args(argv)


def _fault() -> Any:
    point = os.environ.get("POS_FAULT", "")
    if not point:
        return None

    def fault(where: str) -> None:
        if where == point:
            os.kill(os.getpid(), signal.SIGKILL)

    return fault


def _big_blocks_go_back_to_the_os() -> None:
    """Keep glibc's mmap threshold fixed at 1 MiB.

    A PIN check hashes with argon2 over 19 MiB of scratch. glibc raises its mmap threshold
    after the first such block is freed, so later ones come from the heap and stay resident
    (+19 MiB per check, seen in the RSS benchmark). With the threshold fixed, every big block
    is mmapped and unmapped again. No effect (and no error) on a libc without mallopt.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 1 << 20)


def main(argv: list[str] | None = None) -> int:
    """Run the terminal until the cashier quits (or stdin ends, headless)."""
    started = time.monotonic()
    _big_blocks_go_back_to_the_os()
    args = parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        print(f"device: {err}", file=sys.stderr)
        return 2
    db_path = Path(cfg.store.db_path)
    # "-": stderr, which under systemd is the journal.
    where: dict[str, Any] = (
        {"stream": sys.stderr}
        if args.log_file == "-"
        else {"filename": args.log_file or str(db_path.parent / "terminal.log")}
    )
    logging.basicConfig(
        **where,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,  # python-escpos installs a stderr handler at import; it would draw on the UI
    )
    try:
        # A small page cache: a till does point lookups, and each connection has its own cache.
        # The whole-file check runs once the till is up (Runtime starts it); see DbOptions.check.
        store = open_store(cfg, db=DbOptions(cache_mb=CACHE_MB, check="background"))
    except StoreError as err:
        print(f"device: cannot open the store: {err}", file=sys.stderr)
        return 2
    box: list[Runtime] = []

    def emit(item: object) -> None:
        if box:
            box[0].submit(item)

    state_dir = db_path.parent / "state"
    simulate = args.simulate or cfg.printer.kind == "simulated"
    hw: Any
    if simulate:
        hw = simulated_hardware(
            cfg,
            emit,
            state_dir,
            on_saved=lambda job, path: emit(ReceiptSaved(job, path)),
            receipt_files=os.environ.get("POS_SIM_RECEIPT_FILES", "1") != "0",
        )
    else:
        hw = real_hardware(cfg, emit, state_dir)
    config = checkout_config(cfg)
    runtime = Runtime(
        Machine(make_ports(store), config),
        store,
        config,
        CommandLog(f"{db_path}.commands"),
        hw.peripherals(receipt_header(cfg), cfg.printer.width),
        fault=_fault(),
    )
    box.append(runtime)
    sync = (
        start_sync(cfg, runtime.paper_state, runtime.store_problem) if cfg.broker.enabled else None
    )
    runtime.sync = sync
    beats = {"runtime": lambda: runtime.heartbeat}
    if sync is not None:
        beats["sync"] = lambda: sync.heartbeat
    dog = Watchdog(beats).start()  # systemd restarts the till if either loop stops turning
    try:
        hw.start()
        if args.headless:
            from device.headless import run_headless

            screen = None
            if os.environ.get("POS_HEADLESS_SCREEN") == "1":
                screen = _screen(cfg, runtime, hw if simulate else None)
            return run_headless(runtime, hw, started, screen)
        return _run_screen(cfg, runtime, hw if simulate else None, started)
    finally:
        dog.stop()
        runtime.stop()
        if sync is not None:
            sync.stop()
        hw.stop()


def _screen(cfg: TerminalConfig, runtime: Runtime, hw: Any) -> Any:
    from device.ui.app import CashierApp

    demo = DemoHands(hw, runtime.store) if hw is not None else None
    title = f"{cfg.terminal.store_name} {cfg.terminal.store_id}/{cfg.terminal.terminal_id}"
    return CashierApp(runtime.submit, cfg.terminal.terminal_id, title, demo, cfg.terminal.language)


def _run_screen(cfg: TerminalConfig, runtime: Runtime, hw: Any, started: float) -> int:
    app = _screen(cfg, runtime, hw)
    ready_file = os.environ.get("POS_READY_FILE")
    if ready_file:

        def ready() -> None:
            Path(ready_file).write_text(f"{time.monotonic() - started:.4f}\n")

        app.on_ready = ready
    runtime.on_view = app.push_view
    runtime.on_key = app.press_threadsafe
    runtime.store.close()  # this thread's connection; the runtime thread opens its own
    runtime.start()

    def stop(signum: int, _frame: FrameType | None) -> None:
        # systemd stops the till with SIGTERM, and a closed window or a vhangup sends SIGHUP:
        # the screen ends as on Ctrl+Q, so the runtime, sync and hardware stop in order and
        # the terminal is left as it was, instead of the process dying mid-step.
        logging.getLogger("device").info("signal %d: stopping", signum)
        if not app.exit_threadsafe():
            raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    headless_ui = os.environ.get("POS_UI_HEADLESS") == "1"
    result = app.run(headless=headless_ui)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
