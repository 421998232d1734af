"""systemd units for a terminal: the till (with its sync loop) and the sync drain.

pos-terminal.service runs the till on tty1: drivers, the checkout loop and the sync loop in
one process (the runtime wakes sync after every commit and hands it the printer's paper state
for the status). Type=notify with WatchdogSec=: the process pings only while both loops turn
(device.watchdog), so a hung till is killed and restarted. If it keeps failing, OnFailure=
starts pos-sync.service, which drains the outbox to the cloud without the till
(Conflicts= keeps the two from ever holding the terminal's broker identity at once), so the
sales already recorded still reach HQ; technicians also start it by hand before `retire`.
ProtectSystem=full makes /etc read-only to both, except the TLS directory (ReadWritePaths=),
where the till renews its own certificate (device.sync.renew).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Final

TERMINAL_UNIT: Final = "pos-terminal.service"
SYNC_UNIT: Final = "pos-sync.service"
WATCHDOG_S: Final = 30


@dataclass(frozen=True, slots=True)
class UnitParams:
    """Everything the units name, as paths on the device."""

    terminal_id: str
    store_id: str
    user: str
    python: str
    app_dir: str
    config: str
    db: str
    broker_host: str
    broker_port: int
    ca_file: str
    cert_file: str
    key_file: str
    software_version: str
    tty: str = "/dev/tty1"

    @property
    def tls_dir(self) -> str:
        """The directory of the device certificate and key, which the till renews in place."""
        return posixpath.dirname(self.cert_file)


def terminal_unit(p: UnitParams) -> str:
    """The till's unit."""
    return f"""[Unit]
Description=Point-of-sale terminal {p.terminal_id} (till, drivers and sync)
Documentation=file://{p.app_dir}/docs/terminal.md
Wants=network-online.target
After=network-online.target time-sync.target
OnFailure={SYNC_UNIT}
StartLimitIntervalSec=300
StartLimitBurst=10

[Service]
Type=notify
NotifyAccess=main
User={p.user}
Group={p.user}
SupplementaryGroups=dialout input
WorkingDirectory={p.app_dir}
Environment=PYTHONUNBUFFERED=1
ExecStart={p.python} -m device --config {p.config} --log-file -
Restart=always
RestartSec=2
WatchdogSec={WATCHDOG_S}
TimeoutStartSec=120
TimeoutStopSec=20
StandardInput=tty
StandardOutput=tty
StandardError=journal
TTYPath={p.tty}
TTYReset=yes
TTYVHangup=yes
SyslogIdentifier=pos-terminal
UMask=0077
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=full
ReadWritePaths={p.tls_dir}

[Install]
WantedBy=multi-user.target
"""


def sync_unit(p: UnitParams) -> str:
    """The drain-only sync unit (never runs beside the till)."""
    return f"""[Unit]
Description=Point-of-sale sync drain for {p.terminal_id} (only while the till is stopped)
Wants=network-online.target
After=network-online.target
Conflicts={TERMINAL_UNIT}

[Service]
Type=notify
NotifyAccess=main
User={p.user}
Group={p.user}
WorkingDirectory={p.app_dir}
Environment=PYTHONUNBUFFERED=1
ExecStart={p.python} -m device.sync --db {p.db} --host {p.broker_host} \\
    --port {p.broker_port} --store {p.store_id} --terminal {p.terminal_id} \\
    --tls-ca {p.ca_file} --tls-cert {p.cert_file} --tls-key {p.key_file} \\
    --software-version {p.software_version} --terminal-config {p.config} --until-drained
Restart=on-failure
RestartSec=5
WatchdogSec={WATCHDOG_S}
StandardOutput=journal
StandardError=journal
SyslogIdentifier=pos-sync
UMask=0077
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=full
ReadWritePaths={p.tls_dir}
"""
