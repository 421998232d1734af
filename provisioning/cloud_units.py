"""systemd units for the cloud host: broker, ingest workers, HQ, jobs and the daily fleet apply.

pos-broker.service runs Mosquitto from the config `fleet init` wrote; `fleet apply` finds it
through that config's pid file and SIGHUPs it for a new CRL, and ExecReload does the same to
the same process. One pos-ingest[-N].service per ingest identity (ingest, ingest-2, ...), each
logging in with its own certificate, as the broker allows one session per identity. The jobs
scheduler is a service, not a timer: it keeps each job's schedule in the database (a job is
due when its interval has passed since its last good run, made up after downtime) and some
jobs run every few minutes. pos-fleet-apply.timer renews the CRL daily (it is valid 365 days
and an expired one makes the broker refuse every terminal); Persistent= catches up a day the
host was off. The database URL lives in an owner-only environment file, not in the units,
which anyone on the host can read (a PostgreSQL URL may carry a password).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

BROKER_UNIT: Final = "pos-broker.service"
HQ_UNIT: Final = "pos-hq.service"
JOBS_UNIT: Final = "pos-jobs.service"
APPLY_UNIT: Final = "pos-fleet-apply.service"
APPLY_TIMER: Final = "pos-fleet-apply.timer"
DB_ENV: Final = "DATABASE_URL"


@dataclass(frozen=True, slots=True)
class CloudParams:
    """Everything the cloud units name, as paths on the cloud host."""

    fleet_dir: str
    python: str
    app_dir: str
    mosquitto: str
    broker_user: str  # empty: the broker runs as root (and the config's `user` line decides)
    service_user: str  # ingest, HQ and jobs run as this user; empty: root
    apply_user: str  # the fleet directory's owner (it signs the CRL); empty: root
    broker: str  # host:port the cloud services dial (in the broker's server certificate)
    env_file: str  # holds DATABASE_URL
    db_dir: str  # the SQLite database's directory (writable under ProtectSystem); empty: none
    hq_host: str
    hq_port: int
    jobs_config: str = ""

    @property
    def conf(self) -> str:
        return f"{self.fleet_dir}/broker/mosquitto.conf"

    @property
    def ca_file(self) -> str:
        return f"{self.fleet_dir}/ca/ca.crt"

    def cert(self, identity: str) -> str:
        """A cloud service identity's certificate."""
        return f"{self.fleet_dir}/services/{identity}.crt"

    def key(self, identity: str) -> str:
        """A cloud service identity's key."""
        return f"{self.fleet_dir}/services/{identity}.key"


def ingest_unit_name(identity: str) -> str:
    """ingest -> pos-ingest.service, ingest-2 -> pos-ingest-2.service."""
    return f"pos-{identity}.service"


def _user(user: str) -> str:
    return f"User={user}\n" if user else ""  # its primary group comes with it


def _hardening(writable: str = "") -> str:
    rw = f"ReadWritePaths={writable}\n" if writable else ""
    return f"UMask=0077\nNoNewPrivileges=yes\nPrivateTmp=yes\nProtectSystem=full\n{rw}"


def _tls(p: CloudParams, identity: str) -> str:
    return f"--tls-ca {p.ca_file} --tls-cert {p.cert(identity)} --tls-key {p.key(identity)}"


def _cloud_service(
    p: CloudParams, identity: str, description: str, exec_start: str, stop_s: int = 30
) -> str:
    """The common shape of ingest, HQ and jobs: after the broker, restarted, database in env."""
    writable = f"-{p.db_dir}" if p.db_dir else ""
    return f"""[Unit]
Description={description}
Documentation=file://{p.app_dir}/README.md
Wants=network-online.target {BROKER_UNIT}
After=network-online.target {BROKER_UNIT}
StartLimitIntervalSec=300
StartLimitBurst=10

[Service]
Type=simple
{_user(p.service_user)}WorkingDirectory={p.app_dir}
Environment=PYTHONUNBUFFERED=1
EnvironmentFile={p.env_file}
ExecStart={exec_start}
Restart=always
RestartSec=5
TimeoutStopSec={stop_s}
StandardOutput=journal
StandardError=journal
SyslogIdentifier=pos-{identity}
{_hardening(writable)}
[Install]
WantedBy=multi-user.target
"""


def broker_unit(p: CloudParams) -> str:
    """Mosquitto with the fleet's config (TLS, client certificates, CRL)."""
    return f"""[Unit]
Description=Point-of-sale fleet broker (Mosquitto, {p.conf})
Documentation=file://{p.app_dir}/README.md
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
{_user(p.broker_user)}ExecStart={p.mosquitto} -c {p.conf}
# `fleet apply` SIGHUPs the pid in the config's pid file, this very process: new CRL.
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=2
StandardOutput=journal
StandardError=journal
SyslogIdentifier=pos-broker
LimitNOFILE=65536
{_hardening(f"{p.fleet_dir}/broker")}
[Install]
WantedBy=multi-user.target
"""


def ingest_unit(p: CloudParams, identity: str) -> str:
    """One ingest worker, logged in as its own identity."""
    start = (
        f"{p.python} -m cloud.ingest --db ${{{DB_ENV}}} --broker {p.broker} \\\n"
        f"    {_tls(p, identity)} \\\n    --client-id {identity}"
    )
    return _cloud_service(p, identity, f"Point-of-sale cloud ingest worker {identity}", start)


def hq_unit(p: CloudParams) -> str:
    """The HQ API and console."""
    jobs = f" \\\n    --jobs-config {p.jobs_config}" if p.jobs_config else ""
    start = (
        f"{p.python} -m cloud.api --db ${{{DB_ENV}}} --host {p.hq_host} --port {p.hq_port} \\\n"
        f"    --broker {p.broker} {_tls(p, 'hq')}{jobs}"
    )
    return _cloud_service(p, "hq", "Point-of-sale HQ API and console", start)


def jobs_unit(p: CloudParams) -> str:
    """The jobs scheduler (points expiry, tier downgrade, duplicate merge, ...)."""
    config = f" \\\n    --config {p.jobs_config}" if p.jobs_config else ""
    start = (
        f"{p.python} -m cloud.jobs run --db ${{{DB_ENV}}} --broker {p.broker} \\\n"
        f"    {_tls(p, 'jobs')}{config}"
    )
    # SIGTERM lets the job in hand finish (a merge over many members takes a while).
    return _cloud_service(p, "jobs", "Point-of-sale cloud jobs scheduler", start, stop_s=600)


def fleet_apply_unit(p: CloudParams) -> str:
    """One `fleet apply`: the CRL and due certificates renewed, rotations' grace ended."""
    return f"""[Unit]
Description=Point-of-sale fleet apply (renews the CRL and due certificates, ends grace periods)
Documentation=file://{p.app_dir}/README.md
After={BROKER_UNIT}

[Service]
Type=oneshot
{_user(p.apply_user)}WorkingDirectory={p.app_dir}
Environment=PYTHONUNBUFFERED=1
ExecStart={p.python} -m provisioning fleet apply --fleet {p.fleet_dir}
StandardOutput=journal
StandardError=journal
SyslogIdentifier=pos-fleet-apply
{_hardening(p.fleet_dir)}"""


def fleet_apply_timer(p: CloudParams) -> str:
    """Daily; a day missed while the host was off is run at the next boot."""
    return f"""[Unit]
Description=Daily point-of-sale fleet apply (the CRL is valid 365 days, certificates 825)
Documentation=file://{p.app_dir}/README.md

[Timer]
OnCalendar=daily
Persistent=true
RandomizedDelaySec=1h
Unit={APPLY_UNIT}

[Install]
WantedBy=timers.target
"""


def cloud_units(p: CloudParams, ingest_identities: list[str]) -> dict[str, str]:
    """Every unit of the cloud host by file name, in the order they start."""
    out = {BROKER_UNIT: broker_unit(p)}
    out.update({ingest_unit_name(i): ingest_unit(p, i) for i in ingest_identities})
    out[HQ_UNIT] = hq_unit(p)
    out[JOBS_UNIT] = jobs_unit(p)
    out[APPLY_UNIT] = fleet_apply_unit(p)
    out[APPLY_TIMER] = fleet_apply_timer(p)
    return out
