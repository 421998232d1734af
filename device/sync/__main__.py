"""`python -m device.sync`: run terminal sync on a store file until drained or until SIGTERM.

The runtime normally starts SyncService itself; this entry point exists to drain a store's
outbox by hand (after a repair, in tests, in benchmarks).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

from device.config import load_config
from device.store.db import DbOptions
from device.store.outbox import DEFAULT_RESEND_WINDOW
from device.sync.client import BrokerSettings
from device.sync.errors import SyncError
from device.sync.service import SyncService, SyncSettings
from device.sync.storage import SyncStorage
from device.watchdog import Watchdog


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the password may come from POS_SYNC_PASSWORD instead."""
    p = argparse.ArgumentParser(prog="python -m device.sync", description=__doc__)
    p.add_argument("--db", required=True, help="the terminal's store file")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("--store", required=True, help="store id, e.g. S001")
    p.add_argument("--terminal", required=True, help="terminal id, e.g. S001-T01")
    p.add_argument("--password", default=os.environ.get("POS_SYNC_PASSWORD"))
    p.add_argument("--tls-ca")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--batch-size", type=int, default=200)
    p.add_argument("--window", type=int, default=8)
    p.add_argument("--resend-after", type=float, default=10.0, help="seconds")
    p.add_argument("--resend-window-days", type=int, default=DEFAULT_RESEND_WINDOW.days,
                   help="days acknowledged events are kept to send again to a restored cloud "
                   "(the terminal file's [sync] resend_window_days)")  # fmt: skip
    p.add_argument("--terminal-config", metavar="TOML",
                   help="take the resend window from this terminal file's [sync] section, as "
                   "the till does (overrides --resend-window-days)")  # fmt: skip
    p.add_argument("--reconnect-max", type=int, default=30, help="seconds")
    p.add_argument("--software-version", default="0.0.0")
    p.add_argument("--until-drained", action="store_true", help="exit 0 once the outbox is empty")
    p.add_argument("--timeout", type=float, default=0.0, help="give up after this many seconds")
    p.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run sync; exit 0 when drained or stopped, 1 on timeout, 2 on bad settings."""
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        broker = BrokerSettings(
            host=args.host, port=args.port, store_id=args.store, terminal_id=args.terminal,
            password=args.password, ca_file=args.tls_ca, cert_file=args.tls_cert,
            key_file=args.tls_key, reconnect_max_s=args.reconnect_max,
        ).check()  # fmt: skip
        days = args.resend_window_days
        if args.terminal_config:
            # The till and this drain prune by the same window, whatever the file says now.
            days = load_config(args.terminal_config).sync.resend_window_days
        if not 0 <= days <= 365:
            raise ValueError(f"--resend-window-days {days} is not 0-365")
        window = dt.timedelta(days=days)
        settings = SyncSettings(
            broker=broker, software_version=args.software_version, batch_size=args.batch_size,
            window=args.window, resend_after_s=args.resend_after,
        )  # fmt: skip
        service = SyncService(
            settings,
            open_store=lambda: SyncStorage.open(
                args.db, DbOptions(check="none", durable=False), window
            ),
            sink_factory=lambda store: store,
            close_store=lambda store: store.close(),
        )
        service.start()
    except Exception as err:  # bad settings or an unreadable store: say which, exit 2
        print(f"device.sync: {err}", file=sys.stderr)
        return 2
    stopping = threading.Event()

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    deadline = time.monotonic() + args.timeout if args.timeout > 0 else None
    code = 0
    dog = Watchdog({"sync": lambda: service.heartbeat}).start()  # pings while the loop turns
    try:
        while not stopping.wait(0.1):
            stats = service.stats()
            if args.until_drained and stats.connected and stats.outbox_depth == 0:
                break
            if deadline is not None and time.monotonic() > deadline:
                print(f"device.sync: not drained in {args.timeout}s: {stats}", file=sys.stderr)
                code = 1
                break
    finally:
        dog.stop()
        try:
            service.stop()
        except SyncError as err:
            print(f"device.sync: {err}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
