"""`python -m provisioning mcu flash --port PORT`: install the I/O-board firmware with mpremote.

The running firmware owns the USB serial line (Ctrl-C is off, so frames can carry any byte),
so flashing first asks it for a maintenance boot (a MAINT frame): one boot without firmware
and watchdog, with the REPL free. mpremote then copies the files and resets the board, and the
new firmware must answer a HELLO with its version before the command reports success.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from provisioning.errors import ProvisioningError

FIRMWARE_DIR = Path(__file__).resolve().parents[1] / "device" / "mcu"
FLASHED = ("frames.py", "channel.py", "keys.py", "drawer.py", "buzzer.py", "board.py",
           "pins.py", "hal_rp2.py", "main.py")  # fmt: skip


def mpremote_command(port: str, mpremote: str) -> list[str]:
    """The one mpremote invocation that copies the firmware to the board's root and resets."""
    files = [str(FIRMWARE_DIR / name) for name in FLASHED]
    return [mpremote, "connect", port, "cp", *files, ":", "+", "reset"]


def _mpremote() -> str:
    beside = Path(sys.executable).with_name("mpremote")
    return str(beside) if beside.exists() else (shutil.which("mpremote") or "mpremote")


def _ask_for_maintenance(port: str) -> None:
    """Tell a running firmware to restart into the REPL; harmless on a board without it."""
    import serial  # type: ignore[import-untyped]

    from device.mcu import frames

    try:
        with serial.Serial(port, 115200, timeout=0.2, write_timeout=2) as link:
            link.write(frames.encode(frames.MAINT, 0, frames.MAINT_WORD))
            link.flush()
    except (serial.SerialException, OSError):
        return
    deadline = time.monotonic() + 10  # USB re-enumerates: the port goes and comes back
    time.sleep(0.5)
    while not os.path.exists(port) and time.monotonic() < deadline:
        time.sleep(0.1)


def verify(port: str, timeout: float = 10.0) -> str:
    """HELLO the board until it ANNOUNCEs; return its firmware version."""
    import serial

    from device.mcu import frames

    decoder = frames.Decoder()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with serial.Serial(port, 115200, timeout=0.3) as link:
                link.write(frames.encode(frames.HELLO, 0, frames.pack_hello(0, 0, 0, False)))
                for ftype, _seq, payload in decoder.feed(link.read(256)):
                    if ftype == frames.ANNOUNCE:
                        return frames.unpack_announce(payload)[4]
        except (serial.SerialException, OSError):
            time.sleep(0.3)
    raise ProvisioningError(f"the board on {port} did not answer after flashing")


def flash(port: str, dry_run: bool = False, mpremote: str | None = None, out: Any = None) -> int:
    """Flash and verify; with dry_run only print what would run."""
    out = out or sys.stdout
    missing = [name for name in FLASHED if not (FIRMWARE_DIR / name).exists()]
    if missing:
        raise ProvisioningError(f"firmware files missing from {FIRMWARE_DIR}: {missing}")
    command = mpremote_command(port, mpremote or _mpremote())
    if dry_run:
        print(" ".join(command), file=out)
        return 0
    if not os.path.exists(port):
        raise ProvisioningError(f"no I/O board on {port}: is it plugged in? (ls /dev/ttyACM*)")
    _ask_for_maintenance(port)
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except FileNotFoundError:
        raise ProvisioningError("mpremote is not installed (make deps installs it)") from None
    except subprocess.TimeoutExpired:
        raise ProvisioningError(f"mpremote did not finish flashing {port} in 120 s") from None
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ProvisioningError(f"flashing {port} failed: {reason[0]}")
    version = verify(port)
    print(f"I/O board on {port} flashed; firmware {version} answers", file=out)
    return 0


def add_subcommands(subparsers: Any) -> None:
    """Register `mcu flash` on the provisioning CLI."""
    mcu = subparsers.add_parser("mcu", help="the I/O board's MicroPython firmware")
    sub = mcu.add_subparsers(dest="mcu_command", required=True)
    cmd = sub.add_parser("flash", help="install the firmware on the board with mpremote")
    cmd.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyACM0")
    cmd.add_argument("--dry-run", action="store_true", help="print the mpremote command only")
    cmd.add_argument("--mpremote", default=None, help="mpremote executable to use")
    cmd.set_defaults(func=_run_flash)


def _run_flash(args: argparse.Namespace) -> int:
    return flash(args.port, args.dry_run, args.mpremote)


def register(sub: Any) -> None:
    """The `mcu` group on the technicians' tool (provisioning.cli calls this)."""
    add_subcommands(sub)
    mcu = sub.choices["mcu"]
    for action in mcu._subparsers._group_actions:
        for parser in action.choices.values():
            parser.set_defaults(run=lambda args, _progress: _run_flash(args))


def main(argv: list[str] | None = None) -> int:
    """`python -m provisioning.mcu flash --port ...` (also reached as `provisioning mcu`)."""
    parser = argparse.ArgumentParser(prog="python -m provisioning")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["mcu", *(argv if argv is not None else sys.argv[1:])])
    try:
        return int(args.func(args))
    except ProvisioningError as err:
        print(f"provisioning mcu: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
