"""`python -m cloud.jobs`: the jobs scheduler, or one job run now, or the recent runs.

    python -m cloud.jobs run  --db URL [--config jobs.toml] --broker HOST:PORT [TLS/password]
    python -m cloud.jobs once points_expiry [--dry-run] --db URL [--config ...] [--broker ...]
    python -m cloud.jobs runs --db URL [--job NAME]

The scheduler publishes the member changes its jobs make as the broker identity ``jobs``
(downstream only). Without --broker, changes are stored and tills fetch them when they
next catch up.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import signal
import socket
import sys
from types import FrameType
from typing import Any

from cloud.api.publisher import MqttPublisher
from cloud.dburl import add_database_argument, log_database
from cloud.jobs.config import JOB_NAMES, ConfigError, JobsConfig, load
from cloud.jobs.publish import audit_unattended, sink
from cloud.jobs.registry import run_job
from cloud.jobs.runs import RunResult, recent
from cloud.jobs.scheduler import Scheduler
from cloud.mqtt import add_broker_arguments, broker_settings
from cloud.store.db import CloudDB, open_cloud_db
from cloud.store.errors import CloudStoreError
from protocol.tls import IdentityFilesError


def _common(p: argparse.ArgumentParser, broker: bool) -> None:
    add_database_argument(p, os.environ)
    if not broker:
        return
    p.add_argument("--config", help="jobs settings (TOML); defaults when left out")
    add_broker_arguments(p, username="jobs", password_env="POS_JOBS_PASSWORD", client_id="jobs",
                         required=False)  # fmt: skip
    p.add_argument("--log-level", default="INFO")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m cloud.jobs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    _common(sub.add_parser("run", help="the scheduler, until SIGTERM"), True)
    once = sub.add_parser("once", help="run one job now")
    once.add_argument("job", choices=JOB_NAMES)
    once.add_argument(
        "--dry-run", action="store_true", help="say what would change; change nothing"
    )
    _common(once, True)
    runs = sub.add_parser("runs", help="the recent runs, newest first")
    runs.add_argument("--job", choices=JOB_NAMES)
    runs.add_argument("--limit", type=int, default=20)
    _common(runs, False)
    return p.parse_args(argv)


def _publisher(args: argparse.Namespace) -> MqttPublisher | None:
    if args.broker is None:
        return None
    publisher = MqttPublisher(broker_settings(args), client_id=args.client_id)
    publisher.start(wait_s=10)
    return publisher


def _show(result: RunResult) -> dict[str, Any]:
    return {
        "run_id": result.run_id,
        "job": result.job,
        "state": result.state,
        "trigger": result.trigger,
        "actor": result.actor,
        "dry_run": result.dry_run,
        "started_at": result.started_at.isoformat(),
        "members_changed": result.members_changed,
        "summary": result.summary,
        "error": result.error,
    }


def _serve(cdb: CloudDB, config: JobsConfig, args: argparse.Namespace) -> int:
    publisher = _publisher(args)
    scheduler = Scheduler(cdb, config, sink(publisher))

    def _shutdown(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %d: stopping after the job in hand", signum)
        scheduler.stop()

    signal.signal(signal.SIGTERM, _shutdown)
    signal.signal(signal.SIGINT, _shutdown)
    plan = [
        f"{job} every {s}s" if (s := config.every_s.get(job)) else f"{job} on demand"
        for job in JOB_NAMES
    ]
    print(f"jobs scheduler ready ({', '.join(plan)})", flush=True)
    try:
        scheduler.run_forever()
    finally:
        if publisher is not None:
            publisher.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command: 2 for bad settings, 1 when the job failed or the database is unreachable."""
    args = parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load(getattr(args, "config", None))
        config.zone()
    except ConfigError as err:
        print(f"cloud.jobs: bad settings: {err}", file=sys.stderr)
        return 2
    try:
        cdb = open_cloud_db(args.db)
    except CloudStoreError as err:
        print(f"cloud.jobs: {err}", file=sys.stderr)
        return 1
    log_database(__name__, args.db)
    try:
        if args.command == "runs":
            print(
                json.dumps(
                    [_show(r) for r in recent(cdb, args.job, args.limit)],
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return 0
        if args.command == "run":
            return _serve(cdb, config, args)
        publisher = _publisher(args)
        try:
            result = run_job(
                cdb,
                args.job,
                config=config,
                trigger="cli",
                actor=f"{getpass.getuser()}@{socket.gethostname()}",
                publish=sink(publisher),
                dry_run=args.dry_run,
                finalize=lambda c, r: audit_unattended(c, r, "cli"),
            )
        except Exception as err:
            print(f"cloud.jobs: {args.job} failed: {err}", file=sys.stderr)
            return 1
        finally:
            if publisher is not None:
                publisher.stop()
        print(json.dumps(_show(result), ensure_ascii=False, indent=2))
        return 0
    except IdentityFilesError as err:
        print(f"cloud.jobs: bad TLS files: {err}", file=sys.stderr)
        return 2
    finally:
        cdb.close()


if __name__ == "__main__":
    sys.exit(main())
