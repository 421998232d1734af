"""`python -m provisioning.demo` (make run): a fleet, its broker, the cloud, a simulated terminal.

Everything lives under var/demo/ and is made through the technicians' own tool, the way a
store would get it: `fleet init` (CA, TLS-only broker requiring client certificates, the
cloud's certificates), then `terminal add` for S001-T01 into var/demo/terminals/S001-T01/
(its key generated there, its certificate signed by the fleet CA). Each run starts Mosquitto
from the fleet's config, the ingest worker, the HQ API and the jobs scheduler (each with its
own certificate) as child processes in their own process groups, then the cashier terminal
in this window. The first run gives the cloud the demo members (HQ's member import); the
terminal learns them from the cloud when it connects.
However the run ends, every process started here stops: the cashier quits (Ctrl+Q or Ctrl+C),
the window or SSH session closes, the demo gets SIGINT, SIGTERM or SIGHUP, or it is killed
outright (provisioning.demo_stack says how each is caught).

While it runs, `python -m provisioning.demo terminal S001-T02` adds a second terminal
through the same tool and runs it in another window.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cloud.api.users_cli import Login, demo_logins
from device.checkout.records import Role
from device.store.store import Store, StoreConfig
from provisioning import demo_data, ports
from provisioning.cli import main as tool
from provisioning.demo_stack import Stack
from provisioning.fleet import Fleet
from provisioning.terminal_root import Layout

STORE_ID = "S001"
#: The demo store's name, the same at HQ and on its receipts.
STORE_NAME = "便利超市"
STORE_NAME_EN = "Demo Supermarket"
TERMINAL_ID = "S001-T01"
API_PORT = 8080


def seed_store(store: Store) -> None:
    """Load the demo catalogue and staff into a terminal store.

    Members are not loaded here: a till learns them only from the cloud (seed_cloud puts
    them there), as every till of a real chain does.
    """
    store.load_catalogue_snapshot(demo_data.products())
    for staff in demo_data.DEMO_STAFF:
        if store.staff.get(staff.staff_id) is None:
            store.staff.add_staff(staff.staff_id, staff.name, Role(staff.role), staff.pin)


def hq_logins(root: Path, cloud_db: str) -> list[Login]:
    """The demo's HQ users (admin, store manager, technician), made once and kept 0600."""
    return demo_logins(cloud_db, STORE_ID, root / "hq-logins.json", STORE_NAME)


def demo_hq_login(logins: list[Login]) -> str:
    """The banner line naming the people's HQ sign-ins."""
    return "   ".join(f"{x.username} / {x.password}" for x in logins if x.username != "technician")


def demo_technician_token(logins: list[Login]) -> str:
    """The technician's token that registers demo terminals with HQ (POS_HQ_TOKEN overrides)."""
    found = [x.token for x in logins if x.username == "technician"]
    return os.environ.get("POS_HQ_TOKEN", "") or (found[0] if found else "")


def _token(logins: list[Login], username: str) -> str:
    return next((x.token for x in logins if x.username == username), "")


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


DEMO_MEMBERS = 1000


def seed_cloud(api: str, token: str, members: int = DEMO_MEMBERS) -> str:
    """Give the cloud the demo catalogue and members through HQ's own API.

    The members go into the cloud's register with their opening spend, tier and points
    (an ``adjust`` ledger row with the reason "opening balance"); the cloud pushes their
    facts to every till, and a till that connects later catches up on them.
    """
    items = demo_data.products()
    _post(f"{api}/api/push/catalogue", {"scope": STORE_ID, "items": items}, token)
    people = demo_data.members(members)
    done = _post(f"{api}/api/members/import", {"home_store": STORE_ID, "members": people}, token)
    return (
        f"{len(items)} products pushed to {STORE_ID}; {done['created']} members imported "
        f"into the cloud ({done['already_imported']} there already), pushed to every store"
    )


def _run_tool(*argv: str) -> None:
    code = tool(list(argv))
    if code != 0:
        raise RuntimeError(f"`python -m provisioning {' '.join(argv[:2])}` failed (see above)")


def fleet_up(root: Path, api_port: int) -> Fleet:
    """`fleet init` for the demo (idempotent); keeps the broker's port while it is free."""
    fleet_dir = root / "fleet"
    port = None
    with contextlib.suppress(Exception):
        port = Fleet.open(fleet_dir).settings.broker_port
    port = ports.free_port(port)
    _run_tool("fleet", "init", "--fleet", str(fleet_dir), "--port", str(port),
              "--hq-url", f"http://127.0.0.1:{api_port}")  # fmt: skip
    return Fleet.open(fleet_dir)


def add_terminal(
    root: Path, fleet: Fleet, terminal_id: str, api: str, logins: list[Login]
) -> Layout:
    """`terminal add` for a demo terminal (idempotent), then seed its store once."""
    term_root = root / "terminals" / terminal_id
    token = demo_technician_token(logins)
    argv = ["terminal", "add", "--fleet", str(fleet.root), "--store", STORE_ID, "--terminal",
            terminal_id, "--root", str(term_root), "--user", getpass.getuser(),
            "--store-name", STORE_NAME, "--store-name-en", STORE_NAME_EN]  # fmt: skip
    argv += ["--token", token] if token else ["--skip-hq"]
    _run_tool(*argv)
    layout = Layout(term_root)
    seeded = term_root / ".demo-seeded"
    if not seeded.exists():
        store = Store.open(layout.db, StoreConfig(terminal_id=terminal_id))
        try:
            seed_store(store)
        finally:
            store.close()
        seeded.touch()
    return layout


def _service_args(fleet: Fleet, name: str) -> list[str]:
    pair = fleet.service_pair(name)
    tls = ["--tls-ca", str(fleet.ca_cert), "--tls-cert", str(pair.cert), "--tls-key", str(pair.key)]
    return ["--broker", f"127.0.0.1:{fleet.settings.broker_port}", *tls]


def main(argv: list[str] | None = None) -> int:
    """Start the stack, run the terminal in the foreground, stop everything on the way out."""
    parser = argparse.ArgumentParser(prog="python -m provisioning.demo", description=__doc__)
    parser.add_argument("--root", default="var/demo")
    parser.add_argument("--no-terminal", action="store_true", help="start the services only")
    parser.add_argument(
        "--api-port", type=int, default=API_PORT, help="the HQ page's port (another if taken)"
    )
    sub = parser.add_subparsers(dest="command")
    more = sub.add_parser("terminal", help="add another demo terminal and run it here")
    more.add_argument("terminal_id", help="e.g. S001-T02")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    for name in ("logs", "terminals"):
        (root / name).mkdir(parents=True, exist_ok=True)
    if args.command == "terminal":
        return _second_terminal(root, args.terminal_id)
    py = sys.executable
    stack = Stack(root)
    # Ctrl+C, a kill (SIGTERM) or a closed window (SIGHUP) still runs the cleanup below.
    stack.catch_signals()
    missing: list[str] = []
    try:
        api_port = ports.free_port(args.api_port)
        api = f"http://127.0.0.1:{api_port}"
        print(f"preparing the fleet in {root / 'fleet'} ...", flush=True)
        fleet = fleet_up(root, api_port)
        broker = stack.spawn("mosquitto", [_mosquitto(), "-c", str(fleet.conf)])
        _wait_port(fleet.settings.broker_port, broker, "mosquitto")
        cloud_db = f"sqlite:///{root / 'cloud.db'}"
        logins = hq_logins(root, cloud_db)
        stack.spawn("ingest", [py, "-m", "cloud.ingest", "--db", cloud_db,
                               *_service_args(fleet, "ingest")])  # fmt: skip
        api_proc = stack.spawn("api", [py, "-m", "cloud.api", "--db", cloud_db, "--port",
                                       str(api_port), *_service_args(fleet, "hq")])  # fmt: skip
        stack.spawn("jobs", [py, "-m", "cloud.jobs", "run", "--db", cloud_db,
                             *_service_args(fleet, "jobs")])  # fmt: skip
        login = ""
        try:
            _wait_http(f"{api}/api/health", api_proc)
            stamp = root / ".cloud-seeded"
            if not stamp.exists():
                print(seed_cloud(api, _token(logins, "admin")), flush=True)
                stamp.touch()
            login = demo_hq_login(logins)
        except (RuntimeError, OSError, urllib.error.URLError) as err:
            missing.append(f"HQ API: {err} (log: {root / 'logs' / 'api.log'})")
        print(f"provisioning {TERMINAL_ID} with `python -m provisioning terminal add` ...")
        first = not (root / "terminals" / TERMINAL_ID / ".demo-seeded").exists()
        layout = add_terminal(root, fleet, TERMINAL_ID, api, logins)
        time.sleep(0.5)
        for name, proc in stack.procs:
            if proc.poll() is not None:
                missing.append(f"{name} exited ({proc.returncode}); see {root / 'logs'}/{name}.log")
        _banner(root, api, fleet, layout, first, missing, login)
        if args.no_terminal:
            return stack.wait()
        terminal = stack.spawn("terminal", [py, "-m", "device", "--config", str(layout.config),
                                            "--simulate"], log=False)  # fmt: skip
        return stack.wait(terminal)
    except KeyboardInterrupt:
        return 130
    except Exception as err:
        with contextlib.suppress(OSError):  # the window may be gone
            print(f"make run failed: {err}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        with contextlib.suppress(OSError):
            print("demo stopped: every process it started has exited", flush=True)


def _second_terminal(root: Path, terminal_id: str) -> int:
    """Add (or reuse) another demo terminal through the tool and run it in this window."""
    try:
        fleet = Fleet.open(root / "fleet")
        if fleet.broker_pid() is None:
            print("the demo is not running: start it with `make run` first", file=sys.stderr)
            return 1
        logins = hq_logins(root, f"sqlite:///{root / 'cloud.db'}")
        layout = add_terminal(root, fleet, terminal_id, fleet.settings.hq_url, logins)
    except Exception as err:
        print(f"cannot add {terminal_id}: {err}", file=sys.stderr)
        return 1
    stack = Stack(root)
    stack.catch_signals()
    try:
        argv = [sys.executable, "-m", "device", "--config", str(layout.config), "--simulate"]
        return stack.wait(stack.spawn(terminal_id, argv, log=False))
    except KeyboardInterrupt:
        return 130
    finally:
        stack.stop()


def _mosquitto() -> str:
    for path in ("/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"):
        if Path(path).exists():
            return path
    raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")


def _banner(root: Path, api: str, fleet: Fleet, layout: Layout, first: bool,
            missing: list[str], login: str) -> None:  # fmt: skip
    port = fleet.settings.broker_port
    lines = [
        "",
        "Edge POS demo" + (" (first run: demo data seeded)" if first else ""),
        f"  broker   mqtts://127.0.0.1:{port} (TLS, client certificates; fleet in {fleet.root})",
        f"  HQ page  {api}/   (API {api}/api/sales, docs {api}/docs)",
        f"  jobs     points expiry, tier downgrade, duplicate merge: {api}/api/jobs",
        f"  terminal {TERMINAL_ID}: {layout.root} (config etc/pos/terminal.toml)",
        f"  receipts {layout.receipts} (.txt and .png)",
        f"  logs     {root / 'logs'}",
        "  staff    1001 王经理 manager PIN 8888 | 2001 李娜 cashier 1234 | 2002 张伟 cashier 5678",
        "  another  python -m provisioning.demo terminal S001-T02   (in a second window)",
    ]
    if login:
        lines.append(f"  HQ login {login}")
    lines += [f"  NOT RUNNING: {item}" for item in missing]
    lines.append("starting the terminal ...")
    print("\n".join(lines), flush=True)
    (root / "README.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
