"""`python -m cloud.api`: serve the HQ console with uvicorn (pushes go out as the hq broker user).

`python -m cloud.api users add NAME --role admin` creates the first admin; see users_cli.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import uvicorn

from cloud.api.app import ApiSettings, create_app
from cloud.api.publisher import MqttPublisher
from cloud.jobs.config import ConfigError
from cloud.jobs.config import load as load_jobs_config
from cloud.mqtt import BrokerSettings
from cloud.store.db import configured_url
from protocol.tls import IdentityFilesError


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected host:port, got {text!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    """Serve until interrupted (uvicorn stops on SIGTERM/SIGINT), or run a users/stores command."""
    args_in = sys.argv[1:] if argv is None else argv
    if any(a in ("users", "stores") for a in args_in[:3]):
        from cloud.api.users_cli import main as users_main

        return users_main(args_in)
    p = argparse.ArgumentParser(prog="python -m cloud.api", description=__doc__)
    p.add_argument(
        "--db",
        default=configured_url(os.environ),
        help="sqlite:///path or postgresql://... (default: $DATABASE_URL, else SQLite)",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--broker", type=_host_port, default=("127.0.0.1", 1883), help="host:port")
    p.add_argument("--username", default="hq")
    p.add_argument("--password", default=os.environ.get("POS_HQ_PASSWORD"))
    p.add_argument("--tls-ca")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--client-id", default="hq-api")
    p.add_argument("--log-level", default="info")
    p.add_argument("--jobs-config", help="the jobs' settings (TOML), for jobs run from HQ")
    args = p.parse_args(args_in)
    try:
        settings = ApiSettings(jobs=load_jobs_config(args.jobs_config))
    except ConfigError as err:
        print(f"cloud.api: bad jobs settings: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper())
    try:
        publisher = MqttPublisher(
            BrokerSettings(
                host=args.broker[0],
                port=args.broker[1],
                username=args.username,
                password=args.password,
                tls_ca=args.tls_ca,
                tls_cert=args.tls_cert,
                tls_key=args.tls_key,
            ),
            client_id=args.client_id,
        )
    except IdentityFilesError as err:
        print(f"cloud.api: bad TLS files: {err}", file=sys.stderr)
        return 2
    publisher.start(wait_s=5)
    try:
        uvicorn.run(
            create_app(args.db, publisher, settings),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
        )
    finally:
        publisher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
