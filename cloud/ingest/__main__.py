"""`python -m cloud.ingest`: run one ingest worker until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import socket
import sys
from types import FrameType

from cloud.dburl import add_database_argument, log_database
from cloud.domain.tiers import TierThresholds
from cloud.ingest.preparer import GC_YOUNG_THRESHOLD
from cloud.ingest.worker import GROUP_MAX, IngestWorker
from cloud.mqtt import (
    DEFAULT_SESSION_EXPIRY_S,
    add_broker_arguments,
    broker_settings,
    retire_session,
)
from cloud.store.apply import IngestRules
from cloud.store.errors import CloudStoreError
from cloud.store.stores import registered_timezones
from protocol.tls import IdentityFilesError


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _store_tz(text: str) -> tuple[str, str]:
    store, _, tz = text.partition("=")
    if not store or not tz:
        raise argparse.ArgumentTypeError(f"expected STORE=Area/City, got {text!r}")
    return store, tz


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the password may come from POS_INGEST_PASSWORD instead."""
    p = argparse.ArgumentParser(prog="python -m cloud.ingest", description=__doc__)
    add_database_argument(p, os.environ)
    add_broker_arguments(p, username="ingest", password_env="POS_INGEST_PASSWORD",
                         client_id=f"ingest-{socket.gethostname()}")  # fmt: skip
    p.add_argument("--share-group", default="ingest")
    p.add_argument("--session-expiry", type=int, default=DEFAULT_SESSION_EXPIRY_S)
    p.add_argument("--timezone", default="Asia/Shanghai", help="default store time zone")
    p.add_argument("--store-tz", type=_store_tz, action="append", default=[],
                   help="per-store time zone, STORE=Area/City (repeatable)")  # fmt: skip
    p.add_argument("--silver-yuan", type=int, default=2000)
    p.add_argument("--gold-yuan", type=int, default=5000)
    p.add_argument("--tier-lag-days", type=_positive, default=IngestRules().tier_lag_days,
                   help="days a till's member cache may lag the cloud: a sale priced at a "
                   "tier the member held longer ago than this is held for HQ")  # fmt: skip
    p.add_argument("--heartbeat-s", type=float, default=5.0,
                   help="seconds between heartbeat rows (HQ's /api/workers)")  # fmt: skip
    p.add_argument("--group-max", type=_positive, default=GROUP_MAX,
                   help="events messages committed in one transaction when a backlog waits "
                   "(1: one message per transaction)")  # fmt: skip
    p.add_argument("--prepare", choices=("process", "thread"), default="process",
                   help="where events messages are decoded and projected: a child process "
                   "(default; off the commit thread's interpreter lock) or a thread")  # fmt: skip
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--retire", action="store_true",
                   help="drop this client id's session (a worker removed for good)")  # fmt: skip
    return p.parse_args(argv)


#: How long a busy thread keeps the GIL while another waits for it (Python's default: 5 ms).
SWITCH_INTERVAL_S = 0.0005


def main(argv: list[str] | None = None) -> int:
    """Run the worker; exit 0 on a clean shutdown."""
    args = parse_args(argv)
    # The commit thread waits on the database with the GIL released, then must win it back
    # from the prepare thread, which is busy decoding the next message: at the default 5 ms
    # switch interval that wait, paid after every round trip, cost more than the round trips.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        rules = IngestRules(
            thresholds=TierThresholds(args.silver_yuan * 100, args.gold_yuan * 100),
            default_timezone=args.timezone,
            tier_lag_days=args.tier_lag_days,
            # The stores registry (HQ's /api/stores), overridden by --store-tz.
            timezones={**registered_timezones(args.db), **dict(args.store_tz)},
        )
        rules.tz_for("")  # an unknown zone name fails here, at start, with its name
        for store in rules.timezones:
            rules.tz_for(store)
    except (ValueError, KeyError, CloudStoreError) as err:
        print(f"cloud.ingest: bad configuration: {err}", file=sys.stderr)
        return 2
    settings = broker_settings(args)
    if args.retire:
        try:
            retire_session(settings, args.client_id)
        except (OSError, TimeoutError) as err:
            print(f"cloud.ingest: cannot retire {args.client_id}: {err}", file=sys.stderr)
            return 1
        print(f"session of {args.client_id} retired", flush=True)
        return 0
    try:
        worker = IngestWorker(
            args.db,
            settings,
            client_id=args.client_id,
            share_group=args.share_group,
            rules=rules,
            session_expiry_s=args.session_expiry,
            heartbeat_s=args.heartbeat_s,
            group_max=args.group_max,
            prepare_process=args.prepare == "process",
        )  # fmt: skip
    except IdentityFilesError as err:  # the certificate files named on the command line
        print(f"cloud.ingest: bad TLS files: {err}", file=sys.stderr)
        return 2

    def _shutdown(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %d: stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    try:
        worker.start()
    except Exception as err:
        print(f"cloud.ingest: cannot start: {err}", file=sys.stderr)
        return 1
    # A batch allocates some hundred thousand short-lived objects: at the default thresholds
    # the collector ran hundreds of times a second, its older passes walking every module and
    # model loaded at start as well (measured on the ingest benchmark's batches: about a fifth
    # of ingest's CPU). Those never die, so they are frozen out of its passes.
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    log_database(__name__, args.db)
    print(f"ingest worker {args.client_id} ready", flush=True)
    worker.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
