"""Certificate lifetimes in a fleet: what ends when, and renewing the cloud's own in time.

Everything the broker accepts has an end: the CA (10 years), the broker's server certificate
and the cloud services' certificates (825 days), each terminal's certificate (825 days unless
told otherwise) and the CRL (365 days; past it the broker refuses every client). Issued on
the same day, a fleet's certificates all end on the same day, and nothing fails before.
`fleet apply`, which runs daily from a timer, therefore renews the certificates the fleet host
holds itself (server, services) within RENEW_BEFORE of their end, keeping each file's owner so
the broker and the services can still read their keys. The broker takes its new certificate on
the SIGHUP that apply sends; the services take theirs at their next connect (protocol.tls),
and their old one works until it ends. A terminal's key never leaves the terminal: an online
terminal asks for its own new certificate when due (device.sync.renew), and `fleet apply`
signs the request (provisioning.renew); `fleet check` and `fleet apply` name the ones still
due, and `terminal rotate` on the terminal remains for a lost or compromised key.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from protocol import enrol
from provisioning import certs, files
from provisioning.errors import CertificateError
from provisioning.fleet import SERVICE_DAYS, Fleet, Registry

#: Renew this long before a certificate ends (terminals ask for theirs themselves: enrol).
RENEW_BEFORE: Final = enrol.RENEW_BEFORE
#: A new CA has to reach every terminal before the old one ends: warn a year ahead.
CA_WARN_BEFORE: Final = dt.timedelta(days=365)


@dataclass(frozen=True, slots=True)
class Lifetime:
    """One thing with an end date, and what to do before it comes."""

    what: str
    not_after: dt.datetime
    warn_before: dt.timedelta
    action: str

    def days_left(self, now: dt.datetime) -> int:
        """Whole days until the end (negative once past it)."""
        return (self.not_after - now) // dt.timedelta(days=1)

    def state(self, now: dt.datetime) -> str:
        """ "expired", "due" (within its warning time) or "ok"."""
        if self.not_after <= now:
            return "expired"
        return "due" if self.not_after - now <= self.warn_before else "ok"


def lifetimes(fleet: Fleet, reg: Registry) -> list[Lifetime]:
    """Every end date in the fleet: CA, CRL, broker, services, then live terminals by id."""
    root = fleet.root
    apply = f"python -m provisioning fleet apply --fleet {root}"
    out = [
        Lifetime("fleet CA", certs.load_cert(fleet.ca_cert).not_valid_after_utc, CA_WARN_BEFORE,
                 "plan a new CA and give it to every terminal before this date"),
        Lifetime("CRL (next update)", _crl_next_update(fleet.crl), RENEW_BEFORE, apply),
        Lifetime("broker server certificate", _not_after(fleet.broker_dir / "server.crt"),
                 RENEW_BEFORE, apply),
    ]  # fmt: skip
    for name in fleet.service_names():
        cert = fleet.service_pair(name).cert
        if cert.exists():  # one added by a newer version is issued by the next apply
            out.append(Lifetime(f"service {name}", _not_after(cert), RENEW_BEFORE, apply))
    for tid in sorted(reg.terminals):
        rec = reg.terminals[tid]
        if rec.status != "active" or not rec.not_after:
            continue
        out.append(Lifetime(
            f"terminal {tid}", dt.datetime.fromisoformat(rec.not_after), RENEW_BEFORE,
            f"an online terminal renews itself (its request is signed by `fleet apply`, daily, "
            f"or `python -m provisioning fleet renew --fleet {root}`); if it stays due, bring "
            f"it online, or on the terminal (also for a lost or compromised key): python -m "
            f"provisioning terminal rotate --fleet {root} --terminal {tid} --root /",
        ))  # fmt: skip
    return out


def issue_missing(fleet: Fleet) -> list[str]:
    """Issue the service identities the fleet has no certificate for yet; their names.

    A fleet made by an earlier version lacks the identities added since (the signer's), and
    `fleet apply` (daily) completes it as `fleet init` would.
    """
    made: list[str] = []
    ca: certs.Authority | None = None
    for name in fleet.service_names():
        pair = fleet.service_pair(name)
        if not pair.key.exists():
            ca = ca or fleet.authority()
            certs.issue_client_cert(ca, pair.cert.parent, name, days=SERVICE_DAYS)
            made.append(name)
    return made


def renew_cloud_certs(fleet: Fleet, now: dt.datetime) -> list[str]:
    """Re-issue the server and service certificates that end within RENEW_BEFORE; say which."""
    said: list[str] = []
    ca: certs.Authority | None = None
    server = fleet.broker_dir / "server.crt"
    if due(server, now):
        ca = ca or fleet.authority()
        hosts, ips = certs.server_names(certs.load_cert(server))
        certs.issue_server_cert(ca, fleet.broker_dir, hostnames=hosts, ips=ips,
                                owner=_owner_of(fleet.broker_dir / "server.key"))  # fmt: skip
        said.append("renewed the broker's server certificate (the broker reloads it now)")
    for name in fleet.service_names():
        pair = fleet.service_pair(name)
        if due(pair.cert, now):
            ca = ca or fleet.authority()
            certs.issue_client_cert(ca, pair.cert.parent, name, days=SERVICE_DAYS,
                                    owner=_owner_of(pair.key))  # fmt: skip
            said.append(f"renewed service {name}'s certificate (taken at its next connect)")
    return said


def due(cert_path: Path, now: dt.datetime) -> bool:
    """Whether the certificate at cert_path ends within RENEW_BEFORE (False if missing)."""
    if not cert_path.exists():
        return False  # never issued: `fleet init` makes it
    return certs.load_cert(cert_path).not_valid_after_utc - now <= RENEW_BEFORE


def _owner_of(path: Path) -> files.Owner:
    # Only root may give a file away; anyone else writes files they own, as before.
    if os.geteuid() != 0:
        return files.NOBODY_CHANGE
    try:
        st = path.stat()
    except FileNotFoundError:
        return files.NOBODY_CHANGE
    return files.Owner(st.st_uid, st.st_gid)


def _not_after(path: Path) -> dt.datetime:
    return certs.load_cert(path).not_valid_after_utc


def _crl_next_update(path: Path) -> dt.datetime:
    try:
        crl = certs.x509.load_pem_x509_crl(path.read_bytes())
    except (OSError, ValueError) as err:
        raise CertificateError(f"cannot read the CRL {path}: {err}") from None
    when = crl.next_update_utc
    if when is None:
        raise CertificateError(f"the CRL {path} has no next update")
    return when
