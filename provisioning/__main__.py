"""`python -m provisioning SUBCOMMAND`: the technicians' command line (mcu: the I/O board)."""

from __future__ import annotations

import argparse
import sys

from provisioning import mcu
from provisioning.errors import ProvisioningError


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the subcommand's module."""
    parser = argparse.ArgumentParser(prog="python -m provisioning", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    mcu.add_subcommands(subparsers)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ProvisioningError as err:
        print(f"provisioning {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
