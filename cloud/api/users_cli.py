"""`python -m cloud.api users ...` and `stores ...`: HQ users, tokens and stores from a shell."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from cloud.dburl import add_database_argument, describe
from cloud.store import hq_access, stores
from cloud.store.db import CloudDB, open_cloud_db
from cloud.store.errors import CloudStoreError

PASSWORD_ENV = "POS_HQ_USER_PASSWORD"


@dataclass(frozen=True, slots=True)
class Login:
    """A user created for a demo or a first start, with the secrets to print once."""

    username: str
    password: str
    token: str


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated): from --password-stdin, the environment, a prompt, or generated."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV], False
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise hq_access.AccessError("the two passwords differ")
        return first, False
    return secrets.token_urlsafe(12), True


def ensure_user(
    cdb: CloudDB,
    username: str,
    role: str,
    *,
    stores_: list[str] | None = None,
    password: str | None = None,
    token_name: str = "",
) -> Login | None:
    """Create a user (and a token) unless the name exists; None when it already did."""
    h = cdb.hq
    if h.HqUser.get_or_none(h.HqUser.username == username) is not None:
        return None
    password = password or secrets.token_urlsafe(12)
    with cdb.write():
        user = hq_access.add_user(cdb, username, password, role, stores=stores_)
        token = ""
        if token_name:
            _, token = hq_access.create_token(cdb, user.user_id, token_name, "bootstrap")
    return Login(username, password, token)


def demo_logins(db_url: str, store_id: str, keep: Path, store_name: str) -> list[Login]:
    """The demo's HQ admin (with a token for seeding) and a store manager of ``store_id``.

    Created on the first run and kept in ``keep`` (mode 0600) so later runs print the same.
    The store is registered as ``store_name``, the name its receipts print; a demo made when
    it was called "Demo store S001" is renamed.
    """
    cdb = open_cloud_db(db_url)
    try:
        with cdb.write():
            found = cdb.hq.Store.get_or_none(cdb.hq.Store.store_id == store_id)
            if found is None:
                stores.put_store(cdb, store_id, store_name, stores.DEFAULT_TIMEZONE, 0)
            elif found.name == f"Demo store {store_id}":
                stores.put_store(cdb, store_id, store_name, found.timezone, found.day_start_hour)
        if keep.exists():
            return [Login(**row) for row in json.loads(keep.read_text())]
        made = [
            ensure_user(cdb, "admin", "admin", token_name="demo seeding"),
            ensure_user(cdb, "manager", "store_manager", stores_=[store_id]),
            ensure_user(cdb, "technician", "technician", token_name="demo provisioning"),
        ]
    finally:
        cdb.close()
    logins = [m for m in made if m is not None]
    fd = os.open(keep, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump([asdict(m) for m in logins], f)
    return logins


def main(argv: list[str]) -> int:
    """Run one users/tokens/stores command; exit 0 on success, 1 with a message otherwise."""
    p = argparse.ArgumentParser(prog="python -m cloud.api", description=__doc__)
    add_database_argument(p, os.environ)
    sub = p.add_subparsers(dest="area", required=True)
    users = sub.add_parser("users", help="HQ users").add_subparsers(dest="cmd", required=True)
    add = users.add_parser("add", help="create a user (the first admin, say)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=hq_access.ROLES)
    add.add_argument("--stores", default="", help="comma-separated store ids (store managers)")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help=f"read the password from stdin (else ${PASSWORD_ENV}, a prompt, or "
        "a generated one that is printed)",
    )
    add.add_argument("--token", metavar="NAME", help="also create an API token with this name")
    users.add_parser("list", help="list users")
    st = sub.add_parser("stores", help="the stores registry").add_subparsers(
        dest="cmd", required=True
    )
    put = st.add_parser("put", help="create or change a store")
    put.add_argument("store_id")
    put.add_argument("--name", required=True)
    put.add_argument("--timezone", default=stores.DEFAULT_TIMEZONE)
    put.add_argument("--day-start-hour", type=int, default=0)
    args = p.parse_args(argv)
    try:
        cdb = open_cloud_db(args.db)
    except CloudStoreError as err:
        print(f"cloud.api: {err}", file=sys.stderr)
        return 1
    try:
        return _run(cdb, args)
    except CloudStoreError as err:
        print(f"cloud.api: {err}", file=sys.stderr)
        return 1
    finally:
        cdb.close()


def _run(cdb: CloudDB, args: argparse.Namespace) -> int:
    if args.area == "stores":
        with cdb.write():
            stores.put_store(cdb, args.store_id, args.name, args.timezone, args.day_start_hour)
        print(f"store {args.store_id} saved ({args.timezone}, day starts "
              f"{args.day_start_hour}:00) in {describe(cdb.url)}")  # fmt: skip
        return 0
    if args.cmd == "list":
        for u in hq_access.list_users(cdb):
            state = "" if u.active else " (disabled)"
            print(f"{u.username}\t{u.role}\t{','.join(u.stores) or '-'}{state}")
        return 0
    store_ids = [s for s in args.stores.split(",") if s]
    unknown = [s for s in store_ids if not stores.store_known(cdb, s)]
    if unknown:
        print(
            f"cloud.api: unknown store(s) {', '.join(unknown)}; add them with "
            "`python -m cloud.api stores put ID --name NAME`",
            file=sys.stderr,
        )
        return 1
    password, generated = _password(args)
    with cdb.write():
        user = hq_access.add_user(cdb, args.username, password, args.role, stores=store_ids)
        token = ""
        if args.token:
            _, token = hq_access.create_token(cdb, user.user_id, args.token, "cli")
    print(f"user {user.username} created ({user.role}) in {describe(cdb.url)}")
    if generated:
        print(f"password: {password}")
    if token:
        print(f"API token (shown once): {token}")
    return 0
