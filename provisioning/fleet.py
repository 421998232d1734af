"""The fleet directory on the cloud host: CA, broker config, service identities and the registry.

Layout (every key 0600):
  fleet.toml                settings: how terminals reach the broker, where HQ is
  ca/ca.crt ca/ca.key       the fleet CA; ca/crl.pem the revocation list the broker loads
  broker/                   mosquitto.conf, dynsec.json, server.crt/.key, data/, pid file
  services/NAME.crt/.key    the cloud's own identities: ingest[-N], hq, jobs, admin, signer
  registry.json             every terminal: store, current certificate, status, old serials

The registry is the source of truth; `apply` makes the broker match it (identity file when
the broker is stopped, its control topic when it runs, then SIGHUP to load the CRL).
Commands take an exclusive lock on the directory so two technicians cannot interleave.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import pwd
import signal
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import msgspec
from cryptography.exceptions import InvalidSignature

from protocol import topics
from protocol.errors import BadTopic
from provisioning import certs, files
from provisioning.broker import (
    BrokerCerts,
    ServiceCred,
    TerminalCred,
    identity_state,
    write_broker_config,
)
from provisioning.dynsec import DynsecAdmin, write_file
from provisioning.errors import BrokerConfigError, CertificateError, FleetError

SETTINGS: Final = "fleet.toml"
REGISTRY: Final = "registry.json"
#: How long a rotated-out certificate keeps working, unless told otherwise.
DEFAULT_GRACE: Final = dt.timedelta(hours=24)
SERVICE_DAYS: Final = 825


class Settings(msgspec.Struct, kw_only=True, frozen=True):
    """How the fleet's broker is reached and where HQ answers."""

    broker_host: str = "localhost"  # the name (or IP) terminals dial; in the server cert
    broker_port: int = 8883  # the TLS listener that requires client certificates
    bind: str = "127.0.0.1"  # the address the broker listens on ("0.0.0.0" in a store LAN)
    hq_url: str = "http://127.0.0.1:8080"
    ingest_workers: int = 1
    broker_user: str = ""  # the user Mosquitto runs as (empty: whoever runs the tool)


class OldCert(msgspec.Struct, kw_only=True):
    """A certificate no longer current: rotated out (works until `until`) or revoked."""

    serial: str
    until: str  # UTC ISO time after which the broker refuses it
    why: str


class TerminalRecord(msgspec.Struct, kw_only=True):
    """One terminal as the fleet knows it."""

    terminal_id: str
    store_id: str
    serial: str = ""
    sha256: str = ""
    not_after: str = ""
    status: str = "pending"  # pending -> active -> revoked | retired
    registered: bool = False
    reason: str = ""
    old: list[OldCert] = msgspec.field(default_factory=list)
    # The certificate (PEM) the signer issued for the terminal's own request, so the same
    # request asked again is answered with it instead of a second certificate (renew).
    renewed_pem: str = ""


class Registry(msgspec.Struct, kw_only=True):
    """Every terminal ever provisioned in this fleet, by terminal id."""

    terminals: dict[str, TerminalRecord] = msgspec.field(default_factory=dict)


def utc_now() -> dt.datetime:
    """Now, in UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class Fleet:
    """An opened fleet directory."""

    root: Path
    settings: Settings = field(default_factory=Settings)

    # -- paths -------------------------------------------------------------------------------
    @property
    def ca_cert(self) -> Path:
        return self.root / "ca" / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca" / "ca.key"

    @property
    def crl(self) -> Path:
        return self.root / "ca" / "crl.pem"

    @property
    def broker_dir(self) -> Path:
        return self.root / "broker"

    @property
    def pid_file(self) -> Path:
        return self.broker_dir / "mosquitto.pid"

    @property
    def log_file(self) -> Path:
        return self.broker_dir / "mosquitto.log"

    @property
    def conf(self) -> Path:
        return self.broker_dir / "mosquitto.conf"

    def service_pair(self, name: str) -> certs.CertPair:
        """The certificate and key of one cloud service identity."""
        d = self.root / "services"
        return certs.CertPair(d / f"{name}.crt", d / f"{name}.key")

    def service_names(self) -> list[str]:
        """ingest, ingest-2..N, hq, jobs, admin, signer."""
        workers = ["ingest"] + [f"ingest-{n}" for n in range(2, self.settings.ingest_workers + 1)]
        return [*workers, "hq", "jobs", "admin", "signer"]

    # -- opening -----------------------------------------------------------------------------
    @classmethod
    def open(cls, root: Path) -> Fleet:
        """Open an initialised fleet directory, or say how to make one."""
        path = root / SETTINGS
        try:
            settings = msgspec.convert(tomllib.loads(path.read_text()), Settings)
        except FileNotFoundError:
            raise FleetError(
                f"no fleet at {root}: run `python -m provisioning fleet init --fleet {root}` "
                "first (or pass --fleet)"
            ) from None
        except (tomllib.TOMLDecodeError, msgspec.ValidationError) as err:
            raise FleetError(f"{path} is damaged: {err}") from None
        except OSError as err:
            raise FleetError(f"cannot read {path} ({err.strerror}): run as its owner") from None
        return cls(root, settings)

    def save_settings(self) -> None:
        """Write fleet.toml."""
        body = "".join(
            f"{k} = {v!r}\n".replace("'", '"') if isinstance(v, str) else f"{k} = {v}\n"
            for k, v in msgspec.structs.asdict(self.settings).items()
        )
        files.write_text(self.root / SETTINGS, body, mode=files.PUBLIC)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the fleet's exclusive lock (waits for another technician's command to end)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def authority(self) -> certs.Authority:
        """The fleet CA (with its key)."""
        return certs.load_ca(self.ca_cert, self.ca_key)

    # -- registry ----------------------------------------------------------------------------
    def registry(self) -> Registry:
        """The terminal registry (empty for a new fleet)."""
        path = self.root / REGISTRY
        try:
            return msgspec.json.decode(path.read_bytes(), type=Registry)
        except FileNotFoundError:
            return Registry()
        except (msgspec.ValidationError, msgspec.DecodeError) as err:
            raise FleetError(f"{path} is damaged: {err}") from None

    def save_registry(self, reg: Registry) -> None:
        """Write the registry atomically."""
        files.write_bytes(self.root / REGISTRY, msgspec.json.format(msgspec.json.encode(reg)))

    # -- broker ------------------------------------------------------------------------------
    def identities(self, reg: Registry) -> tuple[list[TerminalCred], list[ServiceCred]]:
        """Broker identities: every pending or active terminal, and the cloud's services."""
        terms = [
            TerminalCred(r.terminal_id, r.store_id)
            for r in reg.terminals.values()
            if r.status in ("pending", "active")
        ]
        return terms, [ServiceCred(name) for name in self.service_names()]

    def revoked_serials(self, reg: Registry, now: dt.datetime) -> dict[int, dt.datetime]:
        """Serials the broker must refuse now: revoked ones, and rotated ones past their grace."""
        out: dict[int, dt.datetime] = {}
        for rec in reg.terminals.values():
            for old in rec.old:
                until = dt.datetime.fromisoformat(old.until)
                if until <= now:
                    out[int(old.serial, 16)] = until
            if rec.status in ("revoked", "retired") and rec.serial:
                out[int(rec.serial, 16)] = now
        return out

    def broker_pid(self) -> int | None:
        """The running broker's pid (from its pid file), or None if it is not running."""
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def admin(self) -> DynsecAdmin:
        """A control-topic client as the admin identity, over TLS with its certificate."""
        pair = self.service_pair("admin")
        return DynsecAdmin(
            self.settings.broker_host if self.settings.bind == "0.0.0.0" else self.settings.bind,
            self.settings.broker_port,
            username=None,
            ca_file=self.ca_cert,
            cert_file=pair.cert,
            key_file=pair.key,
        )

    def apply(self, reg: Registry | None = None) -> list[str]:
        """Make the broker match the registry; return what changed on a running broker."""
        reg = reg or self.registry()
        now = utc_now()
        crl = certs.build_crl(self.authority(), self.revoked_serials(reg, now))
        files.write_bytes(self.crl, crl, mode=files.PUBLIC)
        terms, services = self.identities(reg)
        running = self.broker_pid()
        server = certs.CertPair(self.broker_dir / "server.crt", self.broker_dir / "server.key")
        write_broker_config(
            self.broker_dir, port=None, cert_port=self.settings.broker_port,
            terminals=terms, services=services,
            certs=BrokerCerts(self.ca_cert, server.cert, server.key), crl_file=self.crl,
            tls_bind=self.settings.bind, log_file=self.log_file, pid_file=self.pid_file,
            write_identities=running is None, run_as=self.settings.broker_user or None,
        )  # fmt: skip
        self._give_broker_its_files()
        if running is None:
            return []
        with self.admin() as admin:
            changes = admin.sync(identity_state(terms, services))
        with contextlib.suppress(ProcessLookupError):
            os.kill(running, signal.SIGHUP)  # the new CRL
        return changes

    def _give_broker_its_files(self) -> None:
        # Written by root (the daily timer runs as root too), the broker's config, identity
        # file and key would be unreadable to a broker that runs as its own user.
        user = self.settings.broker_user
        if not user or os.geteuid() != 0:
            return
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise FleetError(f"the broker user {user!r} in {self.root / SETTINGS} does not "
                             "exist here") from None  # fmt: skip
        owner = files.Owner(entry.pw_uid, entry.pw_gid)
        for path in [self.broker_dir, *self.broker_dir.rglob("*")]:
            owner.apply(path)

    def write_identities_file(self) -> None:
        """(Re)write the broker's identity file; only while the broker is stopped."""
        if self.broker_pid() is not None:
            raise BrokerConfigError("the broker is running: its identities change through apply()")
        terms, services = self.identities(self.registry())
        write_file(self.broker_dir / "dynsec.json", identity_state(terms, services))


def check_ids(store_id: str, terminal_id: str) -> None:
    """Refuse ids that could escape their topics, with the rule in the message."""
    try:
        topics.validate_id(store_id, "store id")
        topics.validate_id(terminal_id, "terminal id")
    except BadTopic as err:
        raise FleetError(str(err)) from None


def verify_issued_by(fleet: Fleet, cert_path: Path) -> None:
    """Refuse a certificate (or CA bundle) that does not belong to this fleet's CA."""
    cert = certs.load_cert(cert_path)
    ca = certs.load_cert(fleet.ca_cert)
    if certs.fingerprint(cert) == certs.fingerprint(ca):
        return
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise CertificateError(
            f"{cert_path} was not issued by this fleet's CA ({fleet.ca_cert}): this root was "
            "provisioned by another fleet; wipe it or use that fleet's directory"
        ) from None
