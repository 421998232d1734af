"""`python -m provisioning`: the technicians' tool; subcommand groups come from a module table.

Each group is a module with ``register(subparsers)`` that adds its parser and sets ``run`` on
it (a function of the parsed arguments and a Progress, returning an exit code). A group that
is not installed (the I/O-board flasher, say) is left out of --help instead of failing.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, TextIO

from provisioning.errors import ProvisioningError

#: Subcommand group modules, in --help order; optional ones may be absent.
GROUPS: Final = (
    "provisioning.cmd_fleet",
    "provisioning.cmd_terminal",
    "provisioning.cmd_selftest",
)
OPTIONAL_GROUPS: Final = ("provisioning.mcu",)
DEFAULT_FLEET: Final = "/etc/pos-fleet"

Runner = Callable[[argparse.Namespace, "Progress"], int]


class Progress:
    """Numbered steps on stdout: `[2/6] signing the certificate ... done (0.1 s)`."""

    def __init__(self, out: TextIO | None = None, total: int = 0) -> None:
        self.out = out or sys.stdout
        self.total = total
        self.n = 0
        self.open = False
        self._started = 0.0

    def step(self, what: str) -> None:
        """Start the next step."""
        self.n += 1
        self.open = True
        self._started = time.monotonic()
        total = f"/{self.total}" if self.total else ""
        print(f"[{self.n}{total}] {what} ...", end="", file=self.out, flush=True)

    def done(self, note: str = "done") -> None:
        """Finish the current step."""
        self.open = False
        print(f" {note} ({time.monotonic() - self._started:.1f} s)", file=self.out, flush=True)

    def say(self, text: str) -> None:
        """A line of its own."""
        print(text, file=self.out, flush=True)


def fleet_dir_arg(parser: argparse.ArgumentParser) -> None:
    """The --fleet option every fleet-side command takes."""
    parser.add_argument(
        "--fleet", type=Path, default=Path(os.environ.get("POS_FLEET_DIR", DEFAULT_FLEET)),
        help=f"the fleet directory (default: $POS_FLEET_DIR or {DEFAULT_FLEET})",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, from every installed group."""
    parser = argparse.ArgumentParser(
        prog="python -m provisioning",
        description="Provision, test and retire point-of-sale terminals and their fleet.",
    )
    sub = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for name in GROUPS + OPTIONAL_GROUPS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if name in OPTIONAL_GROUPS and err.name == name:
                continue
            raise
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a ProvisioningError is printed as `error: ...` with exit code 1."""
    args = build_parser().parse_args(argv)
    run: Runner | None = getattr(args, "run", None)
    if run is None:
        build_parser().parse_args([args.group, "--help"])
        return 2
    progress = Progress()
    try:
        return run(args, progress)
    except ProvisioningError as err:
        if progress.open:
            print(" failed", flush=True)
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to finish", file=sys.stderr)
        return 130
