"""A terminal's files under its root: config, TLS files, store, units, and its service user.

The root is "/" on the Pi itself, a mounted SD card's root partition (--image: paths inside
the files are written as the Pi will see them), or a temporary directory in tests (paths
are written as they are here, so the terminal can be started from exactly what was written).
The key, the config and the store are owned by the service user and readable by it alone.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from device.config import (
    BrokerSection,
    ConfigError,
    PrinterSection,
    StoreSection,
    TerminalConfig,
    TerminalSection,
    dump_config,
    load_config,
)
from device.sync.renew import IdentityFiles
from provisioning import files, units
from provisioning.errors import ProvisioningError

APP_DIR: Final = Path(__file__).resolve().parents[1]
DEFAULT_USER: Final = "pos"
KEY_PENDING: Final = "device.key.pending"
CERT_PENDING: Final = "device.crt.pending"


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each file goes under the root, and how the device names it."""

    root: Path
    image: bool = False  # the root is another system's "/" (an SD card), not this one's

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "pos"

    @property
    def tls(self) -> Path:
        return self.etc / "tls"

    @property
    def config(self) -> Path:
        return self.etc / "terminal.toml"

    @property
    def ca(self) -> Path:
        return self.tls / "ca.crt"

    @property
    def cert(self) -> Path:
        return self.tls / "device.crt"

    @property
    def key(self) -> Path:
        return self.tls / "device.key"

    @property
    def var(self) -> Path:
        return self.root / "var" / "lib" / "pos"

    @property
    def db(self) -> Path:
        return self.var / "terminal.db"

    @property
    def receipts(self) -> Path:
        return self.var / "receipts"

    @property
    def units(self) -> Path:
        return self.root / "etc" / "systemd" / "system"

    def device_path(self, path: Path) -> str:
        """path as the running terminal will see it."""
        if not self.image:
            return str(path)
        return "/" + str(path.relative_to(self.root))


def check_writable(root: Path) -> None:
    """Refuse a root that cannot take the terminal's files, before anything is written."""
    probe_dir = root
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise ProvisioningError(f"--root {root}: {probe_dir} is a file, not a directory")
    if not os.access(probe_dir, os.W_OK | os.X_OK):
        raise ProvisioningError(f"--root {root}: {probe_dir} is not writable (run as root?)")
    try:
        probe = probe_dir / f".pos-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise ProvisioningError(f"--root {root} is not writable: {err.strerror}") from None


def service_owner(layout: Layout, user: str) -> files.Owner:
    """Make sure the service user exists where the terminal will run; return it as an Owner.

    Only root can create users and give files away; anyone else provisions files owned by
    themselves (a development checkout), which the message says.
    """
    if os.geteuid() != 0:
        return files.NOBODY_CHANGE
    passwd = layout.root / "etc" / "passwd"
    if layout.image and passwd.exists():
        return _image_user(layout.root, user)
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        _useradd(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                  "--user-group", user])  # fmt: skip
        entry = pwd.getpwnam(user)
    return files.Owner(entry.pw_uid, entry.pw_gid)


def _useradd(args: list[str]) -> None:
    for _attempt in range(20):
        done = subprocess.run(["useradd", *args], capture_output=True, text=True, check=False)
        if done.returncode in (0, 9):  # 9: it exists already (made meanwhile): fine
            return
        if "lock" not in done.stderr:
            raise ProvisioningError(f"cannot create the service user: {done.stderr.strip()}")
        time.sleep(0.2)  # another useradd holds /etc/passwd
    raise ProvisioningError("cannot create the service user: /etc/passwd stays locked")


def _image_user(root: Path, user: str) -> files.Owner:
    def lookup() -> files.Owner | None:
        for line in (root / "etc" / "passwd").read_text().splitlines():
            parts = line.split(":")
            if len(parts) > 3 and parts[0] == user:
                return files.Owner(int(parts[2]), int(parts[3]))
        return None

    found = lookup()
    if found is None:
        _useradd(["--prefix", str(root), "--system", "--no-create-home",
                  "--shell", "/usr/sbin/nologin", "--user-group", user])  # fmt: skip
        found = lookup()
    if found is None:
        raise ProvisioningError(f"could not create user {user} in {root}/etc/passwd")
    return found


def terminal_config(
    layout: Layout, store_id: str, terminal_id: str, broker_host: str, broker_port: int
) -> TerminalConfig:
    """The terminal's TOML settings: certificate login over TLS, device paths."""
    d = layout.device_path
    return TerminalConfig(
        terminal=TerminalSection(store_id=store_id, terminal_id=terminal_id),
        store=StoreSection(db_path=d(layout.db), create_if_missing=False),
        broker=BrokerSection(
            host=broker_host,
            port=broker_port,
            username=terminal_id,
            ca_file=d(layout.ca),
            cert_file=d(layout.cert),
            key_file=d(layout.key),
        ),
        printer=PrinterSection(output_dir=d(layout.receipts)),
    )


#: The parts a technician sets for this till's hardware; "simulated" until then.
SIMULATED_PARTS: Final = (
    ("printer", "printer", "kind"),
    ("scanner", "devices", "scanner"),
    ("card reader", "devices", "card_reader"),
    ("display", "devices", "display"),
    ("drawer", "devices", "drawer"),
)


def simulated_parts(config: TerminalConfig) -> list[str]:
    """The peripherals the configuration leaves on the simulators, as `part ([section] key)`."""
    return [
        f"{part} ([{section}] {key})"
        for part, section, key in SIMULATED_PARTS
        if getattr(getattr(config, section), key) == "simulated"
    ]


def kept_settings(
    layout: Layout, fresh: TerminalConfig, name: str | None = None, name_en: str | None = None
) -> tuple[TerminalConfig, str]:
    """``fresh`` with what a technician set in the terminal's existing file kept: everything
    but its identity, its store's path and its broker login, which the tool owns. Running
    `terminal add` again must not put a till's real printer back on the simulator. ``name``
    and ``name_en`` (the store's on receipts) replace the kept ones when given; the English
    one is the Chinese one when only that is given.
    Returns the configuration and what became of the old file."""
    config, kept = fresh, ""
    if layout.config.exists():
        try:
            old = load_config(layout.config)
        except ConfigError as err:
            kept = f"its config was unreadable ({err}): written afresh"
        else:
            ids = msgspec.structs.replace(
                old.terminal,
                store_id=fresh.terminal.store_id,
                terminal_id=fresh.terminal.terminal_id,
                software_version=fresh.terminal.software_version,
            )
            config = msgspec.structs.replace(
                old, terminal=ids, store=fresh.store, broker=fresh.broker
            )
            kept = "its hardware and store settings kept"
    t = config.terminal
    named = msgspec.structs.replace(
        t, store_name=name or t.store_name, store_name_en=name_en or name or t.store_name_en
    )
    return msgspec.structs.replace(config, terminal=named), kept


def root_holder(layout: Layout) -> tuple[str, str] | None:
    """The terminal whose files the root already holds, and how far it got, if any.

    A certificate names its terminal (its CN); the config names the one it was written for.
    """
    from provisioning import certs

    for path, state in ((layout.cert, "provisioned"),
                        (layout.tls / CERT_PENDING, "half-provisioned")):  # fmt: skip
        try:
            return certs.common_name(certs.load_cert(path)), state
        except (ProvisioningError, IndexError):  # absent, unreadable, or no CN
            continue
    try:
        return load_config(layout.config).terminal.terminal_id, "configured"
    except (ConfigError, OSError):
        return None


def holds_store_name(layout: Layout) -> bool:
    """Whether the root's config already names the store on receipts (a run before set it)."""
    try:
        return bool(load_config(layout.config).terminal.store_name)
    except (ConfigError, OSError):
        return False


def write_files(
    layout: Layout,
    owner: files.Owner,
    config: TerminalConfig,
    ca_pem: bytes,
    user: str,
    python: str | None = None,
    app_dir: str | None = None,
) -> list[Path]:
    """Write the config, CA bundle, store and units (the key and cert are placed apart)."""
    files.make_dir(layout.etc, mode=0o750, owner=owner)
    files.make_dir(layout.tls, mode=files.PRIVATE_DIR, owner=owner)
    files.make_dir(layout.var, mode=files.PRIVATE_DIR, owner=owner)
    files.make_dir(layout.receipts, mode=files.PRIVATE_DIR, owner=owner)
    written = [
        files.write_text(layout.config, dump_config(config), owner=owner),
        files.write_bytes(layout.ca, ca_pem, mode=files.PUBLIC, owner=owner),
    ]
    if not layout.db.exists():
        written.append(_create_store(layout, config.terminal.terminal_id, owner))
    b = config.broker
    params = units.UnitParams(
        terminal_id=config.terminal.terminal_id, store_id=config.terminal.store_id, user=user,
        python=python or sys.executable, app_dir=app_dir or str(APP_DIR),
        config=layout.device_path(layout.config), db=config.store.db_path,
        broker_host=b.host, broker_port=b.port, ca_file=b.ca_file, cert_file=b.cert_file,
        key_file=b.key_file, software_version=config.terminal.software_version,
    )  # fmt: skip
    files.make_dir(layout.units)
    written.append(files.write_text(layout.units / units.TERMINAL_UNIT,
                                    units.terminal_unit(params), mode=files.PUBLIC))  # fmt: skip
    written.append(files.write_text(layout.units / units.SYNC_UNIT, units.sync_unit(params),
                                    mode=files.PUBLIC))  # fmt: skip
    wants = files.make_dir(layout.units / "multi-user.target.wants")
    link = wants / units.TERMINAL_UNIT
    if not link.is_symlink():
        link.symlink_to(f"/etc/systemd/system/{units.TERMINAL_UNIT}")
    return written


def _create_store(layout: Layout, terminal_id: str, owner: files.Owner) -> Path:
    from device.store.store import Store, StoreConfig

    store = Store.open(layout.db, StoreConfig(terminal_id=terminal_id), create=True)
    store.close()
    for path in layout.var.glob("terminal.db*"):
        os.chmod(path, files.PRIVATE)
        owner.apply(path)
    return layout.db


def renewal_files(layout: Layout) -> tuple[Path, Path]:
    """The key a till made to renew its certificate, and a certificate staged for it."""
    files = IdentityFiles(str(layout.ca), str(layout.cert), str(layout.key))
    return Path(files.pending_key), Path(files.staged_cert)


def remove_credentials(layout: Layout) -> list[Path]:
    """Delete the device key, certificate and pending ones (retire)."""
    gone = []
    for path in (layout.key, layout.cert, layout.tls / KEY_PENDING, layout.tls / CERT_PENDING,
                 *renewal_files(layout)):  # fmt: skip
        if path.exists():
            path.unlink()
            gone.append(path)
    return gone
