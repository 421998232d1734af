"""`python -m provisioning.demo` (make run): broker, cloud ingest, HQ API and a simulated terminal.

Everything lives under var/demo/ and is created on the first run only: broker config with fresh
passwords, the terminal's database seeded with the demo catalogue, members and staff, and the
terminal's config file. Each run starts Mosquitto on a free loopback port, the ingest worker
and the HQ API as child processes (each in its own process group), then runs the cashier
terminal in this terminal window. When the terminal exits (F12 then Q, Ctrl+C, or an error)
every process started here is stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cloud.api.users_cli import demo_logins
from device.checkout.records import Role
from device.config import (
    BrokerSection,
    PrinterSection,
    StoreSection,
    TerminalConfig,
    TerminalSection,
    dump_config,
)
from device.store.store import Store
from provisioning import demo_data
from provisioning.broker import ServiceCred, TerminalCred, write_broker_config
from provisioning.ports import free_port

STORE_ID = "S001"
TERMINAL_ID = "S001-T01"
API_PORT = 8080


def seed_store(store: Store, members: int = 1000) -> None:
    """Load the demo catalogue, members and staff into a terminal store."""
    store.load_catalogue_snapshot(demo_data.products())
    store.load_member_snapshot(demo_data.members(members))
    for staff in demo_data.DEMO_STAFF:
        if store.staff.get(staff.staff_id) is None:
            store.staff.add_staff(staff.staff_id, staff.name, Role(staff.role), staff.pin)


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}; see its log")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f}s")


class Stack:
    """The child processes of one demo run; stop() ends every one of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              log: bool = True) -> subprocess.Popen[bytes]:  # fmt: skip
        out: Any = None
        if log:
            out = open(self.root / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - child owns it
        proc = subprocess.Popen(
            argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL if log else None,
            env={**os.environ, **(env or {})}, start_new_session=log,
        )  # fmt: skip
        if out is not None:
            out.close()
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM) if _own_group(proc) else proc.terminate()
        deadline = time.monotonic() + 8
        for _name, proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL) if _own_group(proc) else proc.kill()
                proc.wait(5)


def _own_group(proc: subprocess.Popen[bytes]) -> bool:
    try:
        return os.getpgid(proc.pid) == proc.pid
    except ProcessLookupError:
        return False


def _secrets(path: Path) -> dict[str, str]:
    if path.exists():
        return dict(json.loads(path.read_text()))
    values = {name: secrets.token_urlsafe(18) for name in ("terminal", "ingest", "hq")}
    path.write_text(json.dumps(values))
    path.chmod(0o600)
    return values


def _terminal_config(root: Path, port: int, password: str) -> TerminalConfig:
    return TerminalConfig(
        terminal=TerminalSection(store_id=STORE_ID, terminal_id=TERMINAL_ID),
        store=StoreSection(db_path=str(root / "terminal.db"), create_if_missing=False),
        broker=BrokerSection(port=port, username=TERMINAL_ID, password=password),
        printer=PrinterSection(output_dir=str(root / "receipts")),
    )


def _post(url: str, body: dict[str, Any], token: str = "") -> dict[str, Any]:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers=headers)  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the HQ API exited with code {proc.returncode}; see its log")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=1),
        ):
            return
        time.sleep(0.2)
    raise RuntimeError(f"the HQ API did not answer at {url}")


def seed_cloud(api: str, token: str) -> str:
    """Push the demo catalogue and members to the store through HQ's own push API."""
    items = demo_data.products()
    _post(f"{api}/api/push/catalogue", {"scope": STORE_ID, "items": items}, token)
    members = demo_data.members(1000)
    _post(f"{api}/api/push/members", {"scope": STORE_ID, "items": members}, token)
    return f"{len(items)} products and {len(members)} members pushed to {STORE_ID}"


def prepare(root: Path) -> tuple[Path, dict[str, str], bool]:
    """Create var/demo (idempotent): directories, secrets, seeded terminal database."""
    for sub in ("logs", "receipts", "broker", "state"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    keys = _secrets(root / "secrets.json")
    db = root / "terminal.db"
    first = not db.exists()
    if first:
        from device.store.store import StoreConfig

        store = Store.open(db, StoreConfig(terminal_id=TERMINAL_ID), create=True)
        try:
            seed_store(store)
        finally:
            store.close()
    return db, keys, first


def main(argv: list[str] | None = None) -> int:
    """Start the stack, run the terminal in the foreground, stop everything on the way out."""
    parser = argparse.ArgumentParser(prog="python -m provisioning.demo", description=__doc__)
    parser.add_argument("--root", default="var/demo")
    parser.add_argument("--no-terminal", action="store_true", help="start the services only")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    py = sys.executable
    print("preparing var/demo ...", flush=True)
    _db, keys, first = prepare(root)
    stack = Stack(root)
    # Closing the window (SIGHUP) or a kill (SIGTERM) still runs the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(129))
    missing: list[str] = []
    try:
        port = free_port()
        conf = write_broker_config(
            root / "broker", port=port,
            terminals=[TerminalCred(TERMINAL_ID, STORE_ID, keys["terminal"])],
            services=[ServiceCred("ingest", keys["ingest"]), ServiceCred("hq", keys["hq"])],
            log_file=root / "logs" / "mosquitto.log",
        )  # fmt: skip
        mosquitto = _mosquitto()
        broker = stack.spawn("mosquitto", [mosquitto, "-c", str(conf)])
        _wait_port(port, broker, "mosquitto")
        cloud_db = f"sqlite:///{root / 'cloud.db'}"
        stack.spawn("ingest", [py, "-m", "cloud.ingest", "--db", cloud_db,
                               "--broker", f"127.0.0.1:{port}"],
                    env={"POS_INGEST_PASSWORD": keys["ingest"]})  # fmt: skip
        logins = demo_logins(cloud_db, STORE_ID, root / "hq-logins.json")
        api_port = free_port(API_PORT)
        api_proc = stack.spawn("api", [py, "-m", "cloud.api", "--db", cloud_db, "--port",
                                       str(api_port), "--broker", f"127.0.0.1:{port}"],
                               env={"POS_HQ_PASSWORD": keys["hq"]})  # fmt: skip
        api = f"http://127.0.0.1:{api_port}"
        try:
            _wait_http(f"{api}/api/health", api_proc)
            stamp = root / ".cloud-seeded"
            if not stamp.exists():
                print(seed_cloud(api, logins[0].token), flush=True)
                stamp.touch()
        except (RuntimeError, OSError, urllib.error.URLError) as err:
            missing.append(f"HQ API: {err} (log: {root / 'logs' / 'api.log'})")
        time.sleep(0.5)
        for name, proc in stack.procs:
            if proc.poll() is not None:
                missing.append(f"{name} exited ({proc.returncode}); see {root / 'logs'}/{name}.log")
        config_path = root / "terminal.toml"
        config_path.write_text(dump_config(_terminal_config(root, port, keys["terminal"])))
        who = "   ".join(f"{x.username} / {x.password}" for x in logins)
        print(f"  HQ page  {api}/   HQ login {who}", flush=True)
        _banner(root, api, port, first, missing)
        if args.no_terminal:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
            return 0
        terminal = stack.spawn("terminal", [py, "-m", "device", "--config", str(config_path),
                                            "--simulate"], log=False)  # fmt: skip
        with contextlib.suppress(KeyboardInterrupt):
            terminal.wait()
        return terminal.returncode or 0
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        print(f"make run failed: {err}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("demo stopped: every process it started has exited", flush=True)


def _mosquitto() -> str:
    for path in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"):
        if Path(path).exists():
            return path
    raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")


def _banner(root: Path, api: str, port: int, first: bool, missing: list[str]) -> None:
    lines = [
        "",
        "Edge POS demo" + (" (first run: demo data seeded)" if first else ""),
        f"  broker   mqtt://127.0.0.1:{port} (loopback, passwords in {root / 'secrets.json'})",
        f"  HQ API   {api}/api/sales   {api}/api/terminals   {api}/docs",
        f"  receipts {root / 'receipts'} (.txt and .png)",
        f"  logs     {root / 'logs'}",
        "  staff    1001 王经理 manager PIN 8888 | 2001 李娜 cashier 1234 | 2002 张伟 cashier 5678",
    ]
    lines += [f"  NOT RUNNING: {item}" for item in missing]
    lines.append("starting the terminal ...")
    print("\n".join(lines), flush=True)
    (root / "README.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
