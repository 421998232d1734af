"""Write a Mosquitto 2.x configuration: listeners, and the broker identities with their rights.

Identities and their rights live in Mosquitto's dynamic-security plugin (provisioning.dynsec;
the rights themselves are the tables in provisioning.acl), not in password_file/acl_file:
Mosquitto's acl_file never checks SUBSCRIBE, so with it any terminal could join the ingest
workers' shared subscription and take every other message away from them. Every listener
replaces the client id with the identity (use_username_as_clientid; the certificate's CN on
the certificate listener), so no identity can take over another's persistent session or knock
it off by reusing its client id. One identity is one session: each ingest worker gets its own
identity (ingest, ingest-2, ...), all sharing the ingest role.

Queue sizing: the terminal's outbox is the real queue and only the cloud's ACK deletes from
it, so nothing the broker drops is lost. The broker's queue for a persistent session (the
ingest workers' shared subscription while the cloud is down) is still sized for a long outage,
max_queued_messages 1,000,000 with no byte cap by default, because every message dropped
there is one the terminals must resend after their ACK timeout; a deployment short of RAM
can cap bytes with queue_bytes.
"""

from __future__ import annotations

import getpass
import glob
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from protocol import topics
from protocol.errors import BadTopic
from provisioning import acl
from provisioning.dynsec import DEFAULT_ITERATIONS, ClientSpec, DynsecState, write_file
from provisioning.errors import BrokerConfigError

CONF_NAME: Final = "mosquitto.conf"
DYNSEC_NAME: Final = "dynsec.json"
DATA_DIR: Final = "data"
PLUGIN_NAME: Final = "mosquitto_dynamic_security.so"
PLUGIN_GLOBS: Final = (
    f"/usr/lib/*/{PLUGIN_NAME}",
    f"/usr/lib/{PLUGIN_NAME}",
    f"/usr/local/lib/{PLUGIN_NAME}",
    f"/usr/local/lib/*/{PLUGIN_NAME}",
)


@dataclass(frozen=True, slots=True)
class TerminalCred:
    """A terminal's broker identity. username == terminal_id (also its certificate CN).

    password None means the terminal authenticates by client certificate only.
    """

    terminal_id: str
    store_id: str
    password: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceCred:
    """A cloud service identity: "ingest", "ingest-2", "hq", "admin", ...

    role is one of provisioning.acl.SERVICE_ROLES; left empty, it is the username up to the
    first "-" ("ingest-2" -> ingest). password None means certificate only.
    """

    username: str
    password: str | None = None
    role: str = ""

    @property
    def role_name(self) -> str:
        """The service role this identity holds."""
        return self.role or self.username.split("-", 1)[0]


@dataclass(frozen=True, slots=True)
class BrokerCerts:
    """PEM file paths for the TLS listeners."""

    cafile: Path
    certfile: Path
    keyfile: Path


def _check_ids(terminals: Sequence[TerminalCred], services: Sequence[ServiceCred]) -> None:
    seen: set[str] = set()
    try:
        for term in terminals:
            topics.validate_id(term.store_id, "store id")
            topics.validate_id(term.terminal_id, "terminal id")
            if term.terminal_id in seen:
                raise BrokerConfigError(f"username {term.terminal_id!r} appears twice")
            seen.add(term.terminal_id)
        for svc in services:
            topics.validate_id(svc.username, "service username")
            if svc.username in seen:
                raise BrokerConfigError(f"username {svc.username!r} appears twice")
            if svc.role_name not in acl.SERVICE_ROLES:
                raise BrokerConfigError(
                    f"service {svc.username!r} has role {svc.role_name!r}; "
                    f"roles are {', '.join(acl.SERVICE_ROLES)}"
                )
            seen.add(svc.username)
    except BadTopic as err:
        raise BrokerConfigError(str(err)) from None
    for name, pw in [(t.terminal_id, t.password) for t in terminals] + [
        (s.username, s.password) for s in services
    ]:
        if pw is not None and (not pw or "\n" in pw or "\r" in pw):
            raise BrokerConfigError(f"password of {name!r} is empty or contains a line break")


def identity_state(
    terminals: Sequence[TerminalCred], services: Sequence[ServiceCred]
) -> DynsecState:
    """Every broker identity with its role, as the dynamic-security plugin should hold them."""
    _check_ids(terminals, services)
    roles = {
        acl.terminal_role(t.terminal_id): acl.terminal_rules(t.store_id, t.terminal_id)
        for t in terminals
    }
    roles.update({acl.service_role(name): rules for name, rules in acl.SERVICE_ROLES.items()})
    clients = {
        t.terminal_id: ClientSpec((acl.terminal_role(t.terminal_id),), t.password)
        for t in terminals
    }
    clients.update(
        {s.username: ClientSpec((acl.service_role(s.role_name),), s.password) for s in services}
    )
    admins = [s.username for s in services if s.role_name == "admin"]
    return DynsecState(roles, clients, admins[0] if admins else None)


def find_dynsec_plugin() -> str:
    """Locate Mosquitto's dynamic-security plugin (shipped in the Debian package mosquitto)."""
    for pattern in PLUGIN_GLOBS:
        for path in sorted(glob.glob(pattern)):
            if os.access(path, os.R_OK):
                return path
    raise BrokerConfigError(
        f"{PLUGIN_NAME} not found: install the Debian package 'mosquitto' (2.0 or later)"
    )


def write_broker_config(
    dirpath: Path | str,
    *,
    port: int | None,
    tls_port: int | None = None,
    cert_port: int | None = None,
    terminals: Sequence[TerminalCred],
    services: Sequence[ServiceCred],
    certs: BrokerCerts | None = None,
    crl_file: Path | None = None,
    tls_bind: str = "127.0.0.1",
    log_file: Path | None = None,
    queue_messages: int = 1_000_000,
    queue_bytes: int = 0,
    autosave_interval_s: int = 60,
    client_expiration: str = "30d",
    write_identities: bool = True,
    iterations: int = DEFAULT_ITERATIONS,
    run_as: str | None = None,
    pid_file: Path | None = None,
) -> Path:
    """Write mosquitto.conf and (with write_identities) dynsec.json into dirpath.

    Listeners: plain MQTT on 127.0.0.1:port if port is given, always loopback so plaintext
    never leaves the host; with certs, TLS with password login on tls_bind:tls_port and, if
    cert_port is given, TLS requiring a client certificate whose CN is the identity on
    tls_bind:cert_port, checked against crl_file (tls_bind is "0.0.0.0" or the LAN address in
    production, loopback in tests). A running broker's identities change only through the
    plugin's control topic (DynsecAdmin.sync), so pass write_identities=False then; a new CRL
    takes effect on SIGHUP.
    """
    state = identity_state(terminals, services)
    try:
        ipaddress.ip_address(tls_bind)
    except ValueError:
        raise BrokerConfigError(f"tls_bind {tls_bind!r} is not an IP address") from None
    if (tls_port is not None or cert_port is not None) and certs is None:
        raise BrokerConfigError("a TLS listener needs certs (CA, server certificate and key)")
    if port is None and tls_port is None and cert_port is None:
        raise BrokerConfigError("the broker needs at least one listener")
    directory = Path(dirpath)
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / DATA_DIR
    data.mkdir(exist_ok=True)
    if write_identities:
        write_file(directory / DYNSEC_NAME, state, iterations)

    lines = [
        "# written by provisioning.broker; edits are overwritten",
        "per_listener_settings false",
        "allow_anonymous false",
        f"plugin {find_dynsec_plugin()}",
        f"plugin_opt_config_file {directory / DYNSEC_NAME}",
        # Running as root, Mosquitto would switch to user "mosquitto", which cannot read
        # these files; stay the user who wrote them unless told otherwise.
        f"user {run_as or getpass.getuser()}",
        "persistence true",
        f"persistence_location {data}/",
        f"autosave_interval {autosave_interval_s}",
        f"persistent_client_expiration {client_expiration}",
        f"max_queued_messages {queue_messages}",
        f"max_queued_bytes {queue_bytes}",
        "max_inflight_messages 100",
        # Small ACKs and PUBACKs go out at once rather than waiting on the peer's delayed ACK.
        "set_tcp_nodelay true",
        "connection_messages true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
    ]
    if log_file is not None:
        lines.append(f"log_dest file {log_file}")
    if pid_file is not None:
        lines.append(f"pid_file {pid_file}")
    # The identity is the session: nobody can take over or knock off another's session.
    bind = "use_username_as_clientid true"
    if port is not None:
        lines += ["", f"listener {port} 127.0.0.1", bind]
    if tls_port is not None and certs is not None:
        lines += [
            "",
            f"listener {tls_port} {tls_bind}",
            bind,
            f"cafile {certs.cafile}",
            f"certfile {certs.certfile}",
            f"keyfile {certs.keyfile}",
            "require_certificate false",
        ]
    if cert_port is not None and certs is not None:
        lines += [
            "",
            f"listener {cert_port} {tls_bind}",
            bind,
            f"cafile {certs.cafile}",
            f"certfile {certs.certfile}",
            f"keyfile {certs.keyfile}",
            "require_certificate true",
            "use_identity_as_username true",
        ]
        if crl_file is not None:
            lines.append(f"crlfile {crl_file}")
    conf = directory / CONF_NAME
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf
