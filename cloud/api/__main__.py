"""`python -m cloud.api`: serve the HQ console with uvicorn (pushes go out as the hq broker user).

`python -m cloud.api users add NAME --role admin` creates the first admin; see users_cli.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

import uvicorn

from cloud.api.app import ApiSettings, create_app
from cloud.api.publisher import MqttPublisher
from cloud.dburl import add_database_argument, log_database
from cloud.jobs.config import ConfigError
from cloud.jobs.config import load as load_jobs_config
from cloud.mqtt import add_broker_arguments, broker_settings
from protocol.tls import IdentityFilesError


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted (uvicorn stops on SIGTERM/SIGINT), or run a users/stores command."""
    args_in = sys.argv[1:] if argv is None else argv
    if any(a in ("users", "stores") for a in args_in[:3]):
        from cloud.api.users_cli import main as users_main

        return users_main(args_in)
    p = argparse.ArgumentParser(prog="python -m cloud.api", description=__doc__)
    add_database_argument(p, os.environ)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8080)
    add_broker_arguments(p, username="hq", password_env="POS_HQ_PASSWORD", client_id="hq-api")
    p.add_argument("--log-level", default="info")
    p.add_argument("--jobs-config", help="the jobs' settings (TOML), for jobs run from HQ")
    args = p.parse_args(args_in)
    try:
        settings = ApiSettings(jobs=load_jobs_config(args.jobs_config))
    except ConfigError as err:
        print(f"cloud.api: bad jobs settings: {err}", file=sys.stderr)
        return 2
    if args.tls_ca:
        try:  # the fleet CA: terminals' certificates recorded at HQ must come from it
            settings = replace(settings, fleet_ca=Path(args.tls_ca).read_bytes())
        except OSError as err:
            print(f"cloud.api: cannot read --tls-ca {args.tls_ca}: {err}", file=sys.stderr)
            return 2
    logging.basicConfig(level=args.log_level.upper())
    try:
        publisher = MqttPublisher(broker_settings(args), client_id=args.client_id)
    except IdentityFilesError as err:
        print(f"cloud.api: bad TLS files: {err}", file=sys.stderr)
        return 2
    publisher.start(wait_s=5)
    try:
        app = create_app(args.db, publisher, settings)
        log_database(__name__, args.db)
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
        )
    finally:
        publisher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
