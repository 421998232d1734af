"""Real PostgreSQL for tests and benchmarks: POS_TEST_PG, a local trust server, or a throwaway one.

Order of preference:
1. ``POS_TEST_PG`` (a URL to a server where we may CREATE DATABASE);
2. ``postgresql://postgres@127.0.0.1:5432/test`` with trust auth (what CI provides);
3. a throwaway cluster from the Debian binaries (``/usr/lib/postgresql/*/bin``), initdb'd into
   a temporary directory, listening on a free loopback port with its socket in that directory,
   stopped and deleted at the end. initdb refuses to run as root, so as root the cluster runs as
   the ``postgres`` system user (created by the Debian package).
Each user gets fresh databases (``pos_test_<random>``) that are dropped afterwards.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2

from tests.broker import free_port

LOCAL_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


class PgUnavailable(Exception):
    """No PostgreSQL could be reached or started; the message says what was tried."""


def _reachable(url: str) -> bool:
    try:
        psycopg2.connect(url, connect_timeout=3).close()
    except psycopg2.Error:
        return False
    return True


def _pg_bin() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def _as_pg_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PgUnavailable("running as root and runuser is missing, so initdb cannot run")
    return [runuser, "-u", "postgres", "--", *cmd]


@contextmanager
def throwaway_server() -> Iterator[str]:
    """Start a private PostgreSQL cluster; yield its admin URL; stop and delete it."""
    bindir = _pg_bin()
    if bindir is None:
        raise PgUnavailable("no initdb under /usr/lib/postgresql/*/bin (apt install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="pos-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        root.chmod(0o700)
    port = free_port()
    log = root / "server.log"
    try:
        subprocess.run(
            _as_pg_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                         "--auth=trust", "--encoding=UTF8", "--no-locale"]),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=50"
        subprocess.run(
            _as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", opts,
                         "-w", "-t", "60", "start"]),
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        detail = getattr(err, "stderr", b"") or b""
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise PgUnavailable(f"throwaway PostgreSQL failed: {err}: {detail!r} {tail}") from err
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while not _reachable(url):
            if time.monotonic() > deadline:
                raise PgUnavailable(f"throwaway PostgreSQL on port {port} never answered")
            time.sleep(0.2)
        yield url
    finally:
        subprocess.run(
            _as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w",
                         "stop"]),
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def pg_server() -> Iterator[str]:
    """Yield an admin URL for some PostgreSQL server, by the order in the module docstring."""
    env = os.environ.get("POS_TEST_PG")
    if env:
        if not _reachable(env):
            raise PgUnavailable(f"POS_TEST_PG={env} is set but not reachable")
        yield env
        return
    if _reachable(LOCAL_DEFAULT):
        yield LOCAL_DEFAULT
        return
    with throwaway_server() as url:
        yield url


def _with_db(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + dbname, parts.query, parts.fragment))


def create_database(admin_url: str) -> str:
    """Create a fresh empty database on the server; return its URL."""
    name = f"pos_test_{secrets.token_hex(6)}"
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
    finally:
        conn.close()
    return _with_db(admin_url, name)


def drop_database(admin_url: str, db_url: str) -> None:
    """Drop a database made by create_database, closing any connection still open on it."""
    name = urlsplit(db_url).path.lstrip("/")
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A new database for the duration of the block."""
    url = create_database(admin_url)
    try:
        yield url
    finally:
        drop_database(admin_url, url)
