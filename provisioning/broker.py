"""Write a Mosquitto 2.x configuration: listeners, hashed passwords and per-terminal ACLs.

Queue sizing: the terminal's outbox is the real queue and only the cloud's ACK deletes from
it, so nothing the broker drops is lost. The broker's queue for a persistent session (the
ingest workers' shared subscription while the cloud is down) is still sized for a long outage,
max_queued_messages 1,000,000 with no byte cap by default, because every message dropped
there is one the terminals must resend after their ACK timeout; a deployment short of RAM
can cap bytes with queue_bytes.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from protocol import topics
from protocol.errors import BadTopic
from provisioning.errors import BrokerConfigError

CONF_NAME: Final = "mosquitto.conf"
PASSWD_NAME: Final = "passwd"
ACL_NAME: Final = "acl"
DATA_DIR: Final = "data"
MOSQUITTO_PASSWD_FALLBACK: Final = "/usr/bin/mosquitto_passwd"


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
    """A cloud service account (e.g. "ingest", "hq") that reads all uplink, writes downlink."""

    username: str
    password: str


@dataclass(frozen=True, slots=True)
class BrokerCerts:
    """PEM file paths for the TLS listeners."""

    cafile: Path
    certfile: Path
    keyfile: Path


def terminal_acl(term: TerminalCred) -> list[str]:
    """ACL lines confining one terminal to its own topics and its store's downstream."""
    s, t = term.store_id, term.terminal_id
    return [
        f"user {t}",
        f"topic write {topics.events_topic(s, t)}",
        f"topic write {topics.status_topic(s, t)}",
        f"topic write {topics.catchup_topic(s, t)}",
        f"topic write {topics.hello_topic(s, t)}",
        f"topic read {topics.ack_topic(s, t)}",
        f"topic read {topics.terminal_down_filter(s, t)}",
        f"topic read {topics.store_down_filter(s)}",
        f"topic read {topics.store_down_filter(topics.ALL_STORES)}",
    ]


def service_acl(service: ServiceCred) -> list[str]:
    """ACL lines for a cloud service: every terminal's uplink, and every downlink."""
    p = topics.PREFIX
    return [
        f"user {service.username}",
        f"topic read {p}/+/+/events",
        f"topic read {p}/+/+/catchup",
        f"topic read {p}/+/+/hello",
        # readwrite so a service can clear the retained status of a retired terminal
        f"topic readwrite {p}/+/+/status",
        f"topic write {p}/+/+/ack",
        f"topic readwrite {p}/+/+/down/#",
        f"topic readwrite {p}/down/#",
    ]


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
            seen.add(svc.username)
    except BadTopic as err:
        raise BrokerConfigError(str(err)) from None
    for name, pw in [(t.terminal_id, t.password) for t in terminals] + [
        (s.username, s.password) for s in services
    ]:
        if pw is not None and (not pw or "\n" in pw or "\r" in pw):
            raise BrokerConfigError(f"password of {name!r} is empty or contains a line break")


def find_mosquitto_passwd() -> str:
    """Locate mosquitto_passwd (Debian package mosquitto)."""
    found = shutil.which("mosquitto_passwd")
    if found:
        return found
    if os.access(MOSQUITTO_PASSWD_FALLBACK, os.X_OK):
        return MOSQUITTO_PASSWD_FALLBACK
    raise BrokerConfigError("mosquitto_passwd not found: install the Debian package 'mosquitto'")


def write_password_file(path: Path, entries: Sequence[tuple[str, str]]) -> None:
    """Write username:password lines, then hash them in place with `mosquitto_passwd -U`.

    The tool does the hashing so the format always matches the broker that reads it; the
    plaintext exists only in a 0600 file for the moment the tool takes to rewrite it.
    """
    tool = find_mosquitto_passwd()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        for user, password in entries:
            fh.write(f"{user}:{password}\n")
    try:
        result = subprocess.run(
            [tool, "-U", str(tmp)], capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise BrokerConfigError(f"mosquitto_passwd failed: {result.stderr.strip()}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_broker_config(
    dirpath: Path | str,
    *,
    port: int,
    tls_port: int | None = None,
    cert_port: int | None = None,
    terminals: Sequence[TerminalCred],
    services: Sequence[ServiceCred],
    certs: BrokerCerts | None = None,
    tls_bind: str = "127.0.0.1",
    log_file: Path | None = None,
    queue_messages: int = 1_000_000,
    queue_bytes: int = 0,
    autosave_interval_s: int = 60,
    client_expiration: str = "30d",
) -> Path:
    """Write mosquitto.conf, passwd and acl into dirpath and return the conf path.

    Listeners: plain MQTT on 127.0.0.1:port, always loopback so plaintext never leaves the
    host; with certs, TLS with password auth on tls_bind:tls_port and, if cert_port is given,
    TLS where the client certificate's CN is the username on tls_bind:cert_port (tls_bind is
    "0.0.0.0" or the LAN address in production, loopback in tests). Rewriting the files and
    sending SIGHUP to the broker applies new, rotated or revoked credentials.
    """
    _check_ids(terminals, services)
    try:
        ipaddress.ip_address(tls_bind)
    except ValueError:
        raise BrokerConfigError(f"tls_bind {tls_bind!r} is not an IP address") from None
    if (tls_port is not None or cert_port is not None) and certs is None:
        raise BrokerConfigError("a TLS listener needs certs (CA, server certificate and key)")
    directory = Path(dirpath)
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / DATA_DIR
    data.mkdir(exist_ok=True)

    entries = [(t.terminal_id, t.password) for t in terminals if t.password is not None]
    entries += [(s.username, s.password) for s in services]
    write_password_file(directory / PASSWD_NAME, entries)

    acl = ["# written by provisioning.broker; edits are overwritten", ""]
    for svc in services:
        acl += [*service_acl(svc), ""]
    for term in terminals:
        acl += [*terminal_acl(term), ""]
    (directory / ACL_NAME).write_text("\n".join(acl), encoding="utf-8")

    lines = [
        "# written by provisioning.broker; edits are overwritten",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {directory / PASSWD_NAME}",
        f"acl_file {directory / ACL_NAME}",
        # Running as root, Mosquitto would switch to user "mosquitto", which cannot read
        # these files; stay the user who wrote them.
        f"user {getpass.getuser()}",
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
    lines += ["", f"listener {port} 127.0.0.1"]
    if tls_port is not None and certs is not None:
        lines += [
            "",
            f"listener {tls_port} {tls_bind}",
            f"cafile {certs.cafile}",
            f"certfile {certs.certfile}",
            f"keyfile {certs.keyfile}",
            "require_certificate false",
        ]
    if cert_port is not None and certs is not None:
        lines += [
            "",
            f"listener {cert_port} {tls_bind}",
            f"cafile {certs.cafile}",
            f"certfile {certs.certfile}",
            f"keyfile {certs.keyfile}",
            "require_certificate true",
            "use_identity_as_username true",
        ]
    conf = directory / CONF_NAME
    conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return conf
