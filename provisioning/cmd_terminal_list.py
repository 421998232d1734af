"""`terminal list`: every terminal of the fleet and its state, in aligned columns."""

from __future__ import annotations

import argparse

from provisioning.cli import Progress, fleet_dir_arg
from provisioning.fleet import Fleet


def register(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `terminal list` to the terminal group's subcommands."""
    lst = cmds.add_parser("list", help="every terminal of the fleet and its state")
    fleet_dir_arg(lst)
    lst.set_defaults(run=run_list)


def run_list(args: argparse.Namespace, progress: Progress) -> int:
    """terminal list."""
    fleet = Fleet.open(args.fleet.resolve())
    records = sorted(fleet.registry().terminals.values(), key=lambda r: r.terminal_id)
    if not records:
        progress.say(f"no terminals in the fleet at {fleet.root} yet (`terminal add` adds one)")
        return 0
    rows = [("terminal", "store", "status", "serial", "reason")]
    rows += [(r.terminal_id, r.store_id, r.status, r.serial or "-", r.reason) for r in records]
    # Each column as wide as its longest value: serials run to 40 hex digits, ids vary.
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [f"{cell:{width}}" for cell, width in zip(row, widths, strict=False)]
        progress.say("  ".join([*cells, row[-1]]).rstrip())
    return 0
