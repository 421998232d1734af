"""`fleet init` and `fleet apply`: the fleet CA, the broker's config and the cloud's identities."""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import pwd
from pathlib import Path

import msgspec

from provisioning import certs, cmd_fleet_units, files, lifetimes, renew
from provisioning.cli import Progress, fleet_dir_arg
from provisioning.errors import BrokerConfigError, FleetError
from provisioning.fleet import Fleet, Settings, utc_now
from provisioning.terminal_root import APP_DIR


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `fleet` group."""
    group = sub.add_parser("fleet", help="the fleet CA, broker config and cloud identities")
    cmds = group.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)
    init = cmds.add_parser(
        "init", help="create (or complete) the fleet: CA, broker config, service certificates",
        description="Create the fleet CA, the broker's server certificate, a TLS-only broker "
        "config that requires client certificates, and the cloud services' own certificates. "
        "Running it again keeps the CA and every certificate and only fills in what is missing "
        "or changed.",
    )  # fmt: skip
    fleet_dir_arg(init)
    init.add_argument("--broker-host", help="name or IP terminals use to reach the broker")
    init.add_argument("--port", type=int, help="the broker's TLS port (default 8883)")
    init.add_argument("--bind", help="address the broker listens on (default 127.0.0.1)")
    init.add_argument("--hq-url", help="the HQ API, e.g. https://hq.example.com")
    init.add_argument("--ingest-workers", type=int, help="ingest identities to issue")
    init.add_argument("--broker-user", help="the user Mosquitto runs as")
    init.set_defaults(run=run_init)
    apply = cmds.add_parser(
        "apply", help="make the broker match the registry (identities, CRL); safe any time",
        description="Rewrite the broker config and CRL from the registry and bring a running "
        "broker's identities in line. Run it from a timer so rotated certificates stop working "
        "when their grace period ends.",
    )  # fmt: skip
    fleet_dir_arg(apply)
    apply.set_defaults(run=run_apply)
    check = cmds.add_parser(
        "check", help="every certificate's and the CRL's end date; exit 1 if one is due",
        description="List when the fleet CA, the CRL, the broker's and the services' "
        "certificates and every active terminal's certificate end, and what to do about the "
        "ones due (within 30 days; a year for the CA). Exits 1 when one is due or past, so a "
        "monitor can run it.",
    )  # fmt: skip
    fleet_dir_arg(check)
    check.set_defaults(run=run_check)
    renew_cmd = cmds.add_parser(
        "renew", help="sign the certificate requests of due terminals (they renew themselves)",
        description="Read the signing requests online terminals publish when their certificate "
        "is due, sign the ones an active terminal of the registry may make, send each terminal "
        "its new certificate and refuse the others, saying why. `fleet apply` does it too.",
    )  # fmt: skip
    fleet_dir_arg(renew_cmd)
    renew_cmd.set_defaults(run=run_renew)
    cmd_fleet_units.register(cmds)


def _settings(old: Settings, args: argparse.Namespace) -> Settings:
    changes = {
        k: v
        for k, v in {
            "broker_host": args.broker_host, "broker_port": args.port, "bind": args.bind,
            "hq_url": args.hq_url, "ingest_workers": args.ingest_workers,
            "broker_user": args.broker_user,
        }.items()
        if v is not None
    }  # fmt: skip
    new = msgspec.structs.replace(old, **changes)
    if not 0 < new.broker_port < 65536:
        raise FleetError(f"--port {new.broker_port} is not 1-65535")
    if not 1 <= new.ingest_workers <= 32:
        raise FleetError("--ingest-workers must be 1-32")
    try:
        ipaddress.ip_address(new.bind)
    except ValueError:
        raise FleetError(f"--bind {new.bind!r} is not an IP address") from None
    if new.broker_user:
        try:
            pwd.getpwnam(new.broker_user)
        except KeyError:
            raise FleetError(f"--broker-user {new.broker_user!r} does not exist here") from None
    return new


def _server_names(settings: Settings) -> tuple[tuple[str, ...], tuple[str, ...]]:
    hosts, ips = ["localhost"], ["127.0.0.1"]
    for value in (settings.broker_host, settings.bind):
        try:
            ipaddress.ip_address(value)
            if value not in ips and value != "0.0.0.0":
                ips.append(value)
        except ValueError:
            if value not in hosts:
                hosts.insert(0, value)
    return tuple(hosts), tuple(ips)


def _server_cert_fits(path: Path, hosts: tuple[str, ...], ips: tuple[str, ...]) -> bool:
    if not path.exists():
        return False
    names, addrs = certs.server_names(certs.load_cert(path))
    return set(hosts) <= set(names) and set(ips) <= set(addrs)


def run_init(args: argparse.Namespace, progress: Progress) -> int:
    """fleet init."""
    root: Path = args.fleet.resolve()
    progress.total = 5
    if not root.exists():
        # Private when new; run again, it keeps a mode the technician opened for the
        # broker's and services' users to reach their own files (`fleet units` says how).
        files.make_dir(root, mode=files.PRIVATE_DIR)
    try:
        fleet = Fleet.open(root)
    except FleetError:
        fleet = Fleet(root)
    with fleet.locked():
        progress.step(f"settings in {root / 'fleet.toml'}")
        fleet.settings = _settings(fleet.settings, args)
        fleet.save_settings()
        progress.done()

        progress.step("fleet CA")
        if fleet.ca_key.exists():
            ca = fleet.authority()
            progress.done("kept (already there)")
        else:
            ca = certs.create_ca(root / "ca", "pos-edge fleet CA")
            progress.done("created")

        progress.step("broker server certificate")
        hosts, ips = _server_names(fleet.settings)
        server = fleet.broker_dir / "server.crt"
        if _server_cert_fits(server, hosts, ips) and not lifetimes.due(server, utc_now()):
            progress.done("kept")
        else:
            certs.issue_server_cert(ca, fleet.broker_dir, hostnames=hosts, ips=ips)
            progress.done(f"issued for {', '.join(hosts + ips)}")

        progress.step("cloud service certificates")
        made = lifetimes.issue_missing(fleet)
        progress.done(f"issued {', '.join(made)}" if made else "kept")

        progress.step("broker config, identities and CRL")
        fleet.apply()
        progress.done()
    _next_steps_init(fleet, progress)
    return 0


def _next_steps_init(fleet: Fleet, progress: Progress) -> None:
    s = fleet.settings
    svc = fleet.root / "services"
    # Listening on every address, the broker is reached on loopback from its own host (the
    # server certificate always names 127.0.0.1).
    at = f"{'127.0.0.1' if s.bind == '0.0.0.0' else s.bind}:{s.broker_port}"
    from cloud.dburl import absolute_url  # the cloud's side only: a Pi's provisioning skips it
    from cloud.store.db import DEFAULT_URL

    # One database named in full in every command: the same file `fleet units` gives the units.
    db = absolute_url(DEFAULT_URL, APP_DIR)
    progress.say(
        f"""
Fleet ready in {fleet.root}. Next:
  start the broker:   mosquitto -c {fleet.conf}
  start ingest:       python -m cloud.ingest --db {db} \\
                        --broker {at} --tls-ca {fleet.ca_cert} \\
                        --tls-cert {svc}/ingest.crt --tls-key {svc}/ingest.key
  start the HQ API:   python -m cloud.api --db {db} \\
                        --broker {at} --tls-ca {fleet.ca_cert} \\
                        --tls-cert {svc}/hq.crt --tls-key {svc}/hq.key
  all as units:       python -m provisioning fleet units --fleet {fleet.root} --db {db}
  at HQ, once:        the store, and a technician's token for `terminal add` (docs/hq.md):
                        python -m cloud.api --db {db} \\
                          stores put S001 --name ... --timezone Asia/Shanghai
                        python -m cloud.api --db {db} \\
                          users add tech --role technician --token tech
  add a terminal:     POS_HQ_TOKEN=hqt_... python -m provisioning terminal add \\
                        --fleet {fleet.root} --store S001 --terminal S001-T01 \\
                        --store-name 徐汇店 --store-name-en "Xuhui store" \\
                        --root /mnt/sdcard --image   (on the Pi itself: --root /)
  (each service logs the database it opened: they must all name the same one)"""
    )


def run_apply(args: argparse.Namespace, progress: Progress) -> int:
    """fleet apply."""
    fleet = Fleet.open(args.fleet.resolve())
    progress.total = 3
    with fleet.locked():
        progress.step("certificates of the broker and the services")
        made = [f"issued service {n}'s certificate" for n in lifetimes.issue_missing(fleet)]
        renewed = made + lifetimes.renew_cloud_certs(fleet, utc_now())
        progress.done(f"{len(renewed)} issued or renewed" if renewed else "none due")
        for line in renewed:
            progress.say(f"  {line}")
        # Before the signer runs: an identity it needs (its own, in a fleet made before it
        # had one) exists on the broker only from here on.
        progress.step("broker config, identities and CRL")
        changes = fleet.apply()
        progress.done(f"{len(changes)} change(s) on the running broker")
        for line in changes:
            progress.say(f"  {line}")
        progress.step("terminals' certificate requests")
        if fleet.broker_pid() is None:
            progress.done("skipped: the broker is not running")
        else:
            try:
                answered, _signed = renew.renew(fleet, fleet.save_registry, utc_now())
            except BrokerConfigError as err:  # the rest of apply must still happen
                answered = [f"not read: {err}"]
            progress.done(f"{len(answered)} answered" if answered else "none")
            for line in answered:
                progress.say(f"  {line}")
        due = _due(lifetimes.lifetimes(fleet, fleet.registry()), utc_now())
    for item in due:
        progress.say(f"due: {item}")
    return 0


def run_renew(args: argparse.Namespace, progress: Progress) -> int:
    """fleet renew."""
    fleet = Fleet.open(args.fleet.resolve())
    progress.total = 2
    with fleet.locked():
        if fleet.broker_pid() is None:
            raise FleetError("the broker is not running: terminals' requests wait on it")
        progress.step("the signer's identity")
        made = lifetimes.issue_missing(fleet)  # a fleet from before the signer had its own
        changes = fleet.apply()
        progress.done(f"{len(changes)} change(s) on the running broker" if made or changes
                      else "ready")  # fmt: skip
        progress.step("terminals' certificate requests")
        answered, _signed = renew.renew(fleet, fleet.save_registry, utc_now())
        progress.done(f"{len(answered)} answered" if answered else "none waiting")
        for line in answered:
            progress.say(f"  {line}")
    return 0


def run_check(args: argparse.Namespace, progress: Progress) -> int:
    """fleet check."""
    fleet = Fleet.open(args.fleet.resolve())
    now = utc_now()
    items = lifetimes.lifetimes(fleet, fleet.registry())
    width = max(len(i.what) for i in items)
    progress.say(f"{'':{width}}  ends (UTC)        days  state")
    for item in items:
        progress.say(f"{item.what:{width}}  {item.not_after:%Y-%m-%d %H:%M}  "
                     f"{item.days_left(now):>5}  {item.state(now)}")  # fmt: skip
    due = _due(items, now)
    for line in due:
        progress.say(f"due: {line}")
    return 1 if due else 0


def _due(items: list[lifetimes.Lifetime], now: dt.datetime) -> list[str]:
    return [
        f"{i.what} {'ended' if i.state(now) == 'expired' else 'ends'} "
        f"{i.not_after:%Y-%m-%d} ({i.days_left(now)} days): {i.action}"
        for i in items
        if i.state(now) != "ok"
    ]
