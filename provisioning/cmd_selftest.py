"""`self-test`: the hardware and connectivity check a technician runs at the till."""

from __future__ import annotations

import argparse
import select
import sys
import threading
from pathlib import Path
from typing import Any

from device.config import ConfigError, load_config
from device.drivers.events import KeyEvent
from device.wiring import real_hardware, self_test_path, simulated_hardware
from provisioning import selftest
from provisioning.cli import Progress
from provisioning.errors import ProvisioningError
from provisioning.terminal_root import simulated_parts

TEST_BARCODE = "6901234567892"
TEST_CARD = "6222020000001234"
PROMPTS = {
    "scan": "Scan any barcode now",
    "swipe": "Swipe (or tap) any member card now",
    "key": "Press a key on the keypad (Enter on a keyboard)",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `self-test` command."""
    p = sub.add_parser(
        "self-test", help="check printer, drawer, scanner, card reader, display, keypad, "
        "broker, clock, disk and store at the till (stop pos-terminal first)",
        description="Runs with the technician at the till and the till stopped "
        "(systemctl stop pos-terminal). Ends with a pass/fail table that HQ also sees.",
    )  # fmt: skip
    p.add_argument("--config", type=Path, default=Path("/etc/pos/terminal.toml"))
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each step")
    p.add_argument(
        "--simulate",
        action="store_true",
        help="simulated peripherals; a simulated technician scans, swipes and types",
    )
    p.set_defaults(run=run_self_test)


class ConsoleTechnician:
    """Prompts on the terminal; on a keyboard keypad, Enter is the key press."""

    def __init__(self, inputs: selftest.Inputs, keyboard: bool, timeout: float) -> None:
        self.inputs, self.keyboard, self.timeout = inputs, keyboard, timeout

    def ask(self, what: str) -> None:
        print(f"  >> {PROMPTS.get(what, what)} ({self.timeout:.0f} s)", flush=True)
        if what == "key" and self.keyboard:
            ready, _, _ = select.select([sys.stdin], [], [], self.timeout)
            if ready and sys.stdin.readline() != "":
                self.inputs.emit(KeyEvent("Enter", "keyboard"))


class SimulatedTechnician:
    """Does what is asked on the simulators, a moment later (as a person would)."""

    def __init__(self, hw: Any, inputs: selftest.Inputs) -> None:
        self.hw, self.inputs = hw, inputs

    def ask(self, what: str) -> None:
        print(f"  >> {PROMPTS.get(what, what)} (simulated)", flush=True)
        action = {
            "scan": lambda: self.hw.scanner_sim.scan(TEST_BARCODE),
            "swipe": lambda: self.hw.card_sim.swipe(TEST_CARD, "TEST/CARD"),
            "key": lambda: self.inputs.emit(KeyEvent("Enter", "simulated")),
            "close the drawer": lambda: self.hw.drawer_sim.close(),
        }.get(what)
        if action is not None:
            threading.Timer(0.2, action).start()


def run_self_test(args: argparse.Namespace, progress: Progress) -> int:
    """self-test."""
    try:
        cfg = load_config(args.config)
    except ConfigError as err:
        raise ProvisioningError(f"{err} (pass --config /etc/pos/terminal.toml)") from None
    simulated = simulated_parts(cfg)
    if simulated and not args.simulate:
        # Passing the simulators' tests would tell a technician at a real till that its
        # printer and scanner work while the till is not using them at all.
        raise ProvisioningError(
            f"{', '.join(simulated)} simulated in {args.config}: set this till's hardware "
            'there (docs/terminal.md, "This till\'s hardware") and run the self-test again, '
            "or pass --simulate to test on the simulators"
        )
    inputs = selftest.Inputs()
    state = Path(cfg.store.db_path).parent / "state"
    simulate = args.simulate or cfg.printer.kind == "simulated"
    tech: selftest.Technician
    if simulate:
        hw: Any = simulated_hardware(cfg, inputs.emit, state, receipt_files=True)
        tech = SimulatedTechnician(hw, inputs)
    else:
        hw = real_hardware(cfg, inputs.emit, state)
        tech = ConsoleTechnician(inputs, cfg.devices.keypad == "keyboard", args.timeout)
    progress.say(f"self-test of {cfg.terminal.terminal_id} (the till must be stopped)")
    report = selftest.run(cfg, hw, inputs, tech, timeout=args.timeout, say=progress.say,
                          result_file=self_test_path(cfg))  # fmt: skip
    return 0 if report.passed else 1
