"""`terminal rotate`: a terminal's new key and certificate, the old one kept for a grace period."""

from __future__ import annotations

import argparse
import datetime as dt
import os

from provisioning import certs, files, hq, renew
from provisioning.cli import Progress
from provisioning.cmd_terminal import _common, _hq_record, _record
from provisioning.errors import BrokerConfigError, FleetError, RegistrationError
from provisioning.fleet import DEFAULT_GRACE, Fleet, OldCert, TerminalRecord, utc_now
from provisioning.terminal_root import (
    CERT_PENDING,
    DEFAULT_USER,
    KEY_PENDING,
    Layout,
    renewal_files,
    service_owner,
)


def register(cmds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `terminal rotate` to the terminal group's subcommands."""
    rotate = cmds.add_parser("rotate", help="new key and certificate; the old one stops later")
    _common(rotate, root_required=True)
    rotate.add_argument("--grace-hours", type=float, default=DEFAULT_GRACE.total_seconds() / 3600)
    rotate.add_argument("--days", type=int, default=certs.LEAF_DAYS)
    rotate.add_argument("--image", action="store_true")
    rotate.add_argument("--user", default=DEFAULT_USER)
    rotate.add_argument("--hq-url", help="the HQ API (default: from the fleet settings)")
    rotate.add_argument(
        "--token",
        default=os.environ.get(hq.TOKEN_ENV, ""),
        help=f"a technician's HQ token, to record the new certificate at HQ at once (default: "
        f"${hq.TOKEN_ENV}; without one HQ learns it through the broker)",
    )
    rotate.set_defaults(run=run_rotate)


def run_rotate(args: argparse.Namespace, progress: Progress) -> int:
    """terminal rotate: a new key and certificate; the old certificate works for a grace period."""
    fleet = Fleet.open(args.fleet.resolve())
    layout = Layout(args.root.resolve(), image=args.image)
    progress.total = 4
    with fleet.locked():
        reg = fleet.registry()
        rec = _record(fleet, args.terminal)
        if rec.status != "active":
            raise FleetError(f"terminal {args.terminal} is {rec.status}; only active ones rotate")
        progress.step("new device key and certificate")
        key = certs.new_key()
        cert = certs.sign_csr(fleet.authority(), certs.make_csr(key, args.terminal), days=args.days)
        owner = service_owner(layout, args.user)
        certs.write_key(layout.tls / KEY_PENDING, key, owner)
        files.write_bytes(layout.tls / CERT_PENDING, certs.cert_pem(cert), mode=files.PUBLIC,
                          owner=owner)  # fmt: skip
        os.replace(layout.tls / KEY_PENDING, layout.key)
        os.replace(layout.tls / CERT_PENDING, layout.cert)
        for path in renewal_files(layout):
            # A renewal the till had begun used a key that may be as compromised as the old one.
            path.unlink(missing_ok=True)
        until = utc_now() + dt.timedelta(hours=args.grace_hours)
        rec = reg.terminals[args.terminal]
        rec.old.append(OldCert(serial=rec.serial, until=until.isoformat(), why="rotated"))
        rec.serial, rec.sha256 = certs.serial_hex(cert), certs.fingerprint(cert)
        rec.not_after = cert.not_valid_after_utc.isoformat()
        fleet.save_registry(reg)
        progress.done(f"serial {rec.serial}")
        progress.step("broker CRL")
        fleet.apply(reg)
        progress.done(f"the old certificate works until {until:%Y-%m-%d %H:%M} UTC")
        progress.step("telling HQ the new certificate")
        told, untold = _tell_hq(fleet, args, rec, cert)
        progress.done("; ".join(told) if told else "not told")
        if not told:
            progress.say(
                f"HQ still names the old certificate ({'; '.join(untold)}). Once HQ is "
                f"reachable: python -m provisioning terminal register --fleet {fleet.root} "
                f"--terminal {rec.terminal_id} --root {layout.root} --token ..."
            )
    progress.say(
        "The terminal presents the new certificate from its next connect on (restart it,\n"
        "systemctl restart pos-terminal, to switch now); `fleet apply` (from a timer) makes\n"
        "the broker refuse the old one once the grace period ends."
    )
    return 0


def _tell_hq(
    fleet: Fleet, args: argparse.Namespace, rec: TerminalRecord, cert: certs.x509.Certificate
) -> tuple[list[str], list[str]]:
    """Record a rotated certificate at HQ: (how it was told, why a way failed).

    Directly with a technician's token; and through the broker, where the signer publishes
    it on the terminal's cert topic and ingest records it (so the retained topic names the
    current certificate, not one the rotation replaced).
    """
    told: list[str] = []
    untold: list[str] = []
    if args.token:  # first: HQ's record then names the technician who rotated it
        try:
            hq.replace_certificate(args.hq_url or fleet.settings.hq_url, args.token,
                                   _hq_record(rec, cert), certs.cert_pem(cert))  # fmt: skip
            told.append("recorded at HQ")
        except RegistrationError as err:
            untold.append(str(err))
    else:
        untold.append(f"no HQ token (--token or {hq.TOKEN_ENV}; {hq.TOKEN_SOURCE})")
    if fleet.broker_pid() is not None:
        try:
            renew.announce(fleet, rec.store_id, rec.terminal_id, cert)
            told.append("published on its cert topic (ingest records it at HQ)")
        except BrokerConfigError as err:
            untold.append(str(err))
    else:
        untold.append("the broker is not running")
    return told, untold
