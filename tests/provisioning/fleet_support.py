"""Test support for the technicians' tool: the CLI in-process, the fleet's broker, a stand-in HQ.

The stand-in HQ implements only the registration contract the tool is written against
(POST /api/terminals with a bearer token; 404 unknown store, 409 duplicate); the real HQ API
route is built separately and replaces it when it lands.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from provisioning import ports
from provisioning.certs import CertPair
from provisioning.cli import main as cli_main
from provisioning.fleet import Fleet
from tests.broker import mosquitto_binary
from tests.mqtt_client import ConnectRefused, MqttClient

TOKEN = "technician-token-for-tests"


@dataclass
class CliResult:
    """What one run of `python -m provisioning ...` did."""

    code: int
    out: str
    err: str


def cli(*argv: str) -> CliResult:
    """Run the tool in this process, capturing what it prints."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(list(argv))
        except SystemExit as exc:  # argparse errors and --help
            code = int(exc.code or 0)
    return CliResult(code, out.getvalue(), err.getvalue())


@dataclass
class StandInHQ:
    """POST /api/terminals as HQ answers it; records what it accepted."""

    stores: set[str] = field(default_factory=lambda: {"S001", "S002"})
    accepted: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def start(self) -> StandInHQ:
        hq = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_a: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/api/terminals":
                    return self._answer(404, {"detail": "no such route"})
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._answer(401, {"detail": "not authenticated"})
                if body["store_id"] not in hq.stores:
                    return self._answer(404, {"detail": f"unknown store {body['store_id']}"})
                if any(a["terminal_id"] == body["terminal_id"] for a in hq.accepted):
                    return self._answer(409, {"detail": "terminal exists"})
                hq.accepted.append(body)
                return self._answer(201, body)

            def _answer(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        port = ports.free_ports(1)[0]
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class FleetBroker:
    """Mosquitto run from exactly the config `fleet init` wrote."""

    def __init__(self, fleet_dir: Path) -> None:
        self.fleet_dir = fleet_dir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def fleet(self) -> Fleet:
        return Fleet.open(self.fleet_dir)

    def start(self, timeout: float = 15) -> None:
        fleet = self.fleet
        before = _count(fleet.log_file, " running")
        self.proc = subprocess.Popen(
            [mosquitto_binary(), "-c", str(fleet.conf)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while _count(fleet.log_file, " running") <= before or fleet.broker_pid() is None:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"mosquitto did not start: {self.log_tail()}")
            time.sleep(0.05)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.fleet.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


def _count(path: Path, marker: str) -> int:
    try:
        return path.read_text(errors="replace").count(marker)
    except FileNotFoundError:
        return 0


@contextlib.contextmanager
def running(broker: FleetBroker) -> Iterator[FleetBroker]:
    """Start the fleet's broker for a with-block."""
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def connects_with(fleet: Fleet, pair: CertPair) -> bool:
    """Whether the fleet's broker accepts a TLS client presenting this certificate."""
    c = MqttClient("127.0.0.1", fleet.settings.broker_port, username=None, password=None,
                   ca_file=fleet.ca_cert, client_cert=pair)  # fmt: skip
    try:
        c.connect(timeout=8)
    except (ConnectRefused, TimeoutError):
        return False
    c.close()
    return True


def wait_for(pred: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Poll pred until it holds or timeout passes; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()
