"""`fleet units`: write the cloud host's systemd units (broker, ingest, HQ, jobs, daily apply).

Safe to run again: a unit that already says the same is kept, one that differs is rewritten,
and the run says which. It never runs systemctl; it prints the line that starts everything.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import pwd
import shutil
import stat
import sys
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from provisioning import cloud_units, files
from provisioning.cli import Progress, fleet_dir_arg
from provisioning.errors import FleetError
from provisioning.fleet import Fleet
from provisioning.terminal_root import APP_DIR

DEFAULT_DEST: Final = Path("/etc/systemd/system")
ENV_FILE: Final = "cloud.env"  # under <fleet>/services/, owner-only: systemd reads it as root
DEFAULT_LISTEN: Final = ("127.0.0.1", 8080)  # behind a TLS proxy when hq_url is https
_UNSAFE: Final = frozenset(" \t\n\"'\\%$;")  # would be split or expanded by systemd


def register(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `fleet units` to the fleet group's subcommands."""
    units = cmds.add_parser(
        "units", help="write the cloud host's systemd units (broker, ingest, HQ, jobs, apply)",
        description="Write systemd units for the broker, one ingest worker per ingest identity, "
        "the HQ API, the jobs scheduler and a daily `fleet apply` timer (the CRL it renews is "
        "valid 365 days). Safe to run again. Prints the systemctl line to run; runs none.",
    )  # fmt: skip
    fleet_dir_arg(units)
    opt = units.add_argument
    opt("--dest", type=Path, default=DEFAULT_DEST,
        help=f"where the units go (default: {DEFAULT_DEST})")  # fmt: skip
    opt("--db", help="the cloud database, sqlite:///path or postgresql://... "
        "(default: var/cloud.db in --app-dir, the services' own default; a relative "
        "SQLite path is under --app-dir)")  # fmt: skip
    opt("--python", help="interpreter named in the units (default: this one)")
    opt("--app-dir", type=Path,
        help="the product checkout named in the units (default: this one)")  # fmt: skip
    opt("--user", help="the user ingest, HQ and jobs run as (default: the owner "
        "of the fleet's service keys)")  # fmt: skip
    opt("--listen", metavar="IP:PORT", help="where the HQ API listens (default: the fleet's "
        "hq_url when it is http://IP:PORT, else 127.0.0.1:8080)")  # fmt: skip
    opt("--jobs-config", type=Path,
        help="the jobs' settings (TOML) for the scheduler and HQ")  # fmt: skip
    units.set_defaults(run=run_units)


def run_units(args: argparse.Namespace, progress: Progress) -> int:
    """fleet units."""
    progress.total = 4
    progress.step("checking the fleet, the programs and the destination")
    dest: Path = args.dest.resolve()
    _check_dest(dest)
    fleet = Fleet.open(args.fleet.resolve())
    app_dir = (args.app_dir or APP_DIR).resolve()
    python = args.python or sys.executable
    _check_programs(python, app_dir)
    ingest = [n for n in fleet.service_names() if n.split("-", 1)[0] == "ingest"]
    identities = [*ingest, "hq", "jobs"]
    for name in identities:
        pair = fleet.service_pair(name)
        if not (pair.cert.exists() and pair.key.exists()):
            raise FleetError(
                f"the {name} identity has no certificate in {pair.cert.parent}: run "
                f"`python -m provisioning fleet init --fleet {fleet.root}` again to issue it"
            )
    url, db_dir = _database(args.db, app_dir)
    host, port = _listen(args.listen, fleet.settings.hq_url)
    jobs_config = _jobs_config(args.jobs_config)
    mosquitto = _mosquitto()
    for what in (fleet.root, app_dir, python, jobs_config or ""):
        if _UNSAFE & set(str(what)):
            raise FleetError(f"{what}: a path with spaces, quotes, %, $ or ; cannot go in a unit")
    progress.done()

    progress.step("the services' users and their files")
    key_owner = _owner_name(fleet.service_pair("hq").key)
    user = args.user or key_owner
    _check_user(user, "--user")
    broker_user = fleet.settings.broker_user
    _check_user(broker_user, f"the fleet's broker_user ({fleet.root / 'fleet.toml'})")
    needs = [fleet.ca_cert, app_dir, *(p for n in identities for p in _pair(fleet, n))]
    needs += [jobs_config] if jobs_config else []
    _check_reach(user, "--user", needs, last=False)  # the way there, before any key moves
    given = _give_keys(fleet, identities, user) if user != key_owner else []
    _check_reach(user, "--user", needs)
    _check_reach(broker_user, "the broker user",
                 [fleet.conf, fleet.ca_cert, fleet.crl, fleet.broker_dir / "server.key"],
                 writable=[fleet.broker_dir])  # fmt: skip
    progress.done(f"{len(given)} key file(s) given to {user}" if given else "ok")

    progress.step(f"database setting in {fleet.root / 'services' / ENV_FILE}")
    env_file = fleet.root / "services" / ENV_FILE
    kept = _write_if_changed(env_file, f"{cloud_units.DB_ENV}='{url}'\n", files.PRIVATE)
    progress.done("kept" if kept else "written")

    progress.step(f"units in {dest}")
    params = cloud_units.CloudParams(
        fleet_dir=str(fleet.root), python=python, app_dir=str(app_dir), mosquitto=mosquitto,
        broker_user=_unit_user(broker_user), service_user=_unit_user(user),
        apply_user=_unit_user(_owner_name(fleet.ca_key)),
        broker=f"{_broker_host(fleet.settings.bind)}:{fleet.settings.broker_port}",
        env_file=str(env_file), db_dir=db_dir, hq_host=host, hq_port=port,
        jobs_config=str(jobs_config or ""),
    )  # fmt: skip
    units = cloud_units.cloud_units(params, ingest)
    wrote, kept_units = [], []
    for name, text in units.items():
        target = kept_units if _write_if_changed(dest / name, text, files.PUBLIC) else wrote
        target.append(name)
    progress.done(f"wrote {', '.join(wrote) or 'none'}; kept {', '.join(kept_units) or 'none'}")
    _next_steps(progress, dest, list(units), ingest)
    return 0


def _check_programs(python: str, app_dir: Path) -> None:
    if not (os.path.isabs(python) and os.access(python, os.X_OK)):
        raise FleetError(f"--python {python}: not an executable given by its full path")
    for package in ("cloud", "provisioning"):
        if not (app_dir / package / "__init__.py").is_file():
            raise FleetError(f"--app-dir {app_dir} is not the product checkout (no {package}/)")


def _check_dest(dest: Path) -> None:
    if not dest.is_dir():
        raise FleetError(f"--dest {dest} is not a directory (systemd's is /etc/systemd/system)")
    probe = dest / f".pos-probe-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise FleetError(f"--dest {dest} is not writable ({err.strerror}): run as root") from None


def _database(given: str | None, app_dir: Path) -> tuple[str, str]:
    """The URL every unit uses, and the SQLite file's directory (empty for PostgreSQL)."""
    from cloud.dburl import absolute_url
    from cloud.store.db import DEFAULT_URL

    url = absolute_url(given or DEFAULT_URL, app_dir)
    if "'" in url or "\n" in url:
        raise FleetError("--db: a URL with a quote or a newline cannot go in the settings file")
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not path.name or str(path) == ":memory:":
            raise FleetError(f"--db {url}: expected sqlite:///path/to.db")
        return url, str(path.parent)
    if url.startswith(("postgresql://", "postgres://")) and urlsplit(url).hostname:
        return url, ""
    raise FleetError(f"--db {url}: expected sqlite:///path/to.db or postgresql://user@host/db")


def _listen(given: str | None, hq_url: str) -> tuple[str, int]:
    if given is None:
        parts = urlsplit(hq_url)
        try:
            ipaddress.ip_address(parts.hostname or "")
            if parts.scheme == "http" and parts.port:
                return parts.hostname or "", parts.port
        except ValueError:
            pass
        return DEFAULT_LISTEN
    host, _, port = given.rpartition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise FleetError(f"--listen {given}: expected IP:PORT, e.g. 127.0.0.1:8080") from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise FleetError(f"--listen {given}: the port must be 1-65535")
    return host, int(port)


def _jobs_config(path: Path | None) -> Path | None:
    if path is None:
        return None
    from cloud.jobs.config import ConfigError, load

    try:
        load(path)
    except ConfigError as err:
        raise FleetError(f"--jobs-config {err}") from None
    return path.resolve()


def _mosquitto() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )
    if found is None:
        raise FleetError("mosquitto not found: install the Debian package 'mosquitto'")
    return found


def _broker_host(bind: str) -> str:
    """Where the services on this host dial the broker (an address its certificate names)."""
    return "127.0.0.1" if bind == "0.0.0.0" else bind


def _owner_name(path: Path) -> str:
    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        raise FleetError(f"{path} belongs to uid {uid}, which has no user here") from None


def _unit_user(user: str) -> str:
    """The User= a unit names: none for root (or for no user at all)."""
    return "" if user == "root" else user


def _check_user(user: str, what: str) -> None:
    if not user:
        return
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise FleetError(
            f"{what} {user!r} does not exist here: create it (useradd --system {user}) or "
            "name another"
        ) from None


def _pair(fleet: Fleet, name: str) -> tuple[Path, Path]:
    pair = fleet.service_pair(name)
    return pair.cert, pair.key


def _give_keys(fleet: Fleet, identities: list[str], user: str) -> list[Path]:
    """As root, hand the identities the services log in with to their user."""
    if os.geteuid() != 0:
        return []
    entry = pwd.getpwnam(user)
    owner = files.Owner(entry.pw_uid, entry.pw_gid)
    given = []
    for name in identities:
        for path in _pair(fleet, name):
            if path.stat().st_uid != entry.pw_uid:
                owner.apply(path)
                given.append(path)
    return given


def _check_reach(
    user: str,
    what: str,
    readable: list[Path],
    writable: list[Path] | None = None,
    last: bool = True,
) -> None:
    """Refuse units whose service could not open its files (last=False: the way there only)."""
    if not user or user == "root":
        return
    entry = pwd.getpwnam(user)
    groups = set(os.getgrouplist(user, entry.pw_gid))
    wants = [(p, os.R_OK) for p in readable] + [(p, os.W_OK | os.X_OK) for p in writable or []]
    for path, need in wants:
        need |= os.X_OK if path.is_dir() else 0
        steps = [(a, os.X_OK) for a in reversed(path.parents)] + [(path, need)] * last
        for place, bits in steps:
            if not _allowed(place.stat(), entry.pw_uid, groups, bits):
                mode = stat.filemode(place.stat().st_mode)
                fix = (
                    f"let it through with chmod o+x {place} (its files keep their own modes)"
                    if place.is_dir()
                    else f"chown it to {user} (run as root, this command does so for the "
                    "service keys)"
                )
                raise FleetError(
                    f"{what} {user} could not open {path}: {place} is {mode} "
                    f"{_owner_name(place)}; {fix}"
                )


def _allowed(st: os.stat_result, uid: int, gids: set[int], bits: int) -> bool:
    if st.st_uid == uid:
        shift = 6
    elif st.st_gid in gids:
        shift = 3
    else:
        shift = 0
    have = (st.st_mode >> shift) & 0o7
    return have & bits == bits


def _write_if_changed(path: Path, text: str, mode: int) -> bool:
    """Write path unless it already holds exactly text; True when it was kept."""
    try:
        if path.read_text(encoding="utf-8") == text and stat.S_IMODE(path.stat().st_mode) == mode:
            return True
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    except OSError as err:
        raise FleetError(f"cannot read {path}: {err.strerror}") from None
    files.write_text(path, text, mode=mode)
    return False


def _next_steps(progress: Progress, dest: Path, names: list[str], ingest: list[str]) -> None:
    wanted = {cloud_units.ingest_unit_name(i) for i in ingest}
    stale = sorted(p.name for p in dest.glob("pos-ingest*.service") if p.name not in wanted)
    start = [n for n in names if n != cloud_units.APPLY_UNIT]
    progress.say(
        f"""
Units written to {dest}. Start them (and at every boot) with:
  systemctl daemon-reload && systemctl enable --now {" ".join(start)}
Logs: journalctl -u pos-broker -u pos-hq ...; the timer: systemctl list-timers pos-fleet-apply"""
    )
    for name in stale:
        identity = name.removeprefix("pos-").removesuffix(".service")
        progress.say(
            f"{name} is no longer in the fleet's ingest_workers: stop and disable it, retire "
            f"its session (python -m cloud.ingest --retire --client-id {identity} with its "
            "certificate), then delete the file"
        )
