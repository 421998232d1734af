"""A real Mosquitto for tests: start, stop, kill -9, restart, reload; clients in mqtt_client."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from provisioning import ports
from provisioning.broker import (
    BrokerCerts,
    ServiceCred,
    TerminalCred,
    identity_state,
    write_broker_config,
)
from provisioning.certs import (
    CertPair,
    create_ca,
    issue_client_cert,
    issue_server_cert,
    load_ca,
)
from provisioning.dynsec import DynsecAdmin
from tests.mqtt_client import ConnectRefused, MqttClient, Received

# Re-exported: tests import the client helpers from here alongside the broker.
__all__ = ["Broker", "BrokerError", "ConnectRefused", "MqttClient", "Received", "running_broker"]

HOST: Final = "127.0.0.1"
START_TIMEOUT_S: Final = 30.0  # a deadline, not a speed check: generous for a busy machine

DEFAULT_TERMINALS: Final = (
    TerminalCred("S001-T01", "S001", "pw-S001-T01"),
    TerminalCred("S001-T02", "S001", "pw-S001-T02"),
    TerminalCred("S002-T01", "S002", "pw-S002-T01"),
)
DEFAULT_SERVICES: Final = (
    ServiceCred("ingest", "pw-ingest"),
    ServiceCred("ingest-2", "pw-ingest-2"),  # one identity per worker: a second worker
    ServiceCred("hq", "pw-hq"),
    ServiceCred("jobs", "pw-jobs"),
    ServiceCred("admin", "pw-admin"),
    ServiceCred("signer", "pw-signer"),
)
#: Cheap password hashing: tests connect hundreds of clients, and what is tested is the rights.
TEST_ITERATIONS: Final = 101


class BrokerError(RuntimeError):
    """The test broker failed to start or stop; the message carries the log tail."""


def mosquitto_binary() -> str:
    """Path of the mosquitto executable (Debian package mosquitto)."""
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )
    if not found:
        raise BrokerError("mosquitto not found: apt-get install mosquitto")
    return found


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports free a moment ago, outside the kernel's ephemeral range."""
    return ports.free_ports(count, HOST)


def free_port() -> int:
    """A loopback port free a moment ago, outside the kernel's ephemeral range."""
    return ports.free_ports(1, HOST)[0]


def reserve_ports(count: int) -> tuple[list[int], list[socket.socket]]:
    """Free ports, each held by a bound (never listening) SO_REUSEADDR socket until closed.

    Mosquitto sets SO_REUSEADDR on its listeners, so it can bind and listen beside the
    placeholder, while a bind without SO_REUSEADDR (the probe free_ports makes before it
    offers a port to anyone, a server that does not set it) is refused, and an outgoing
    connection never picks a port outside the ephemeral range: so the port stays the
    broker's across stops, kills and restarts, however long the broker is down.
    """
    for _ in range(20):
        held: list[socket.socket] = []
        chosen = free_ports(count)
        try:
            for port in chosen:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                held.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((HOST, port))
        except OSError:  # taken between the probe and the hold: choose again
            for sock in held:
                sock.close()
            continue
        return chosen, held
    raise BrokerError(f"could not hold {count} free ports")


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


@dataclass(frozen=True, slots=True)
class TestCerts:
    """A throwaway CA, the broker's server cert and one client cert per terminal."""

    ca: CertPair
    server: CertPair
    clients: dict[str, CertPair]

    __test__ = False  # not a pytest test class


class Broker:
    """One Mosquitto process with its own config dir, persistence dir and log file.

    The ports stay the same across restart(), so clients can reconnect to the same address;
    they are held for the broker's lifetime (reserve_ports), so nothing else can take them
    while it is down.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        terminals: Sequence[TerminalCred] = DEFAULT_TERMINALS,
        services: Sequence[ServiceCred] = DEFAULT_SERVICES,
        tls: bool = False,
        autosave_interval_s: int = 60,
        queue_messages: int = 1_000_000,
    ) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "mosquitto.log"
        self.host = HOST
        (self.port, tls_port, cert_port), self._port_holds = reserve_ports(3)
        self.terminals: list[TerminalCred] = list(terminals)
        self.services: list[ServiceCred] = list(services)
        self.tls_port: int | None = None
        self.cert_port: int | None = None
        self.certs: TestCerts | None = None
        self._autosave = autosave_interval_s
        self._queue_messages = queue_messages
        self._proc: subprocess.Popen[bytes] | None = None
        self._clients: list[MqttClient] = []
        if tls:
            self.tls_port, self.cert_port = tls_port, cert_port
            self.certs = self._make_certs()
        self.conf = self._write()

    # -- configuration ------------------------------------------------------------------

    def _make_certs(self) -> TestCerts:
        ca = create_ca(self.dir / "certs")
        server = issue_server_cert(ca, self.dir / "certs")
        clients = {
            t.terminal_id: issue_client_cert(ca, self.dir / "certs" / "clients", t.terminal_id)
            for t in self.terminals
        }
        return TestCerts(ca.files, server, clients)

    def _write(self) -> Path:
        certs = None
        if self.certs is not None:
            certs = BrokerCerts(self.certs.ca.cert, self.certs.server.cert, self.certs.server.key)
        return write_broker_config(
            self.dir,
            port=self.port,
            tls_port=self.tls_port,
            cert_port=self.cert_port,
            terminals=self.terminals,
            services=self.services,
            certs=certs,
            log_file=self.log_path,
            autosave_interval_s=self._autosave,
            queue_messages=self._queue_messages,
            # A running broker's plugin owns its file; changes then go through the admin.
            write_identities=not self.running,
            iterations=TEST_ITERATIONS,
        )

    def password(self, username: str) -> str:
        """The plaintext password of a configured terminal or service."""
        for t in self.terminals:
            if t.terminal_id == username and t.password is not None:
                return t.password
        for s in self.services:
            if s.username == username and s.password is not None:
                return s.password
        raise KeyError(username)

    def terminal(self, terminal_id: str) -> TerminalCred:
        """The configured credentials of one terminal."""
        for t in self.terminals:
            if t.terminal_id == terminal_id:
                return t
        raise KeyError(terminal_id)

    def add_terminal(self, cred: TerminalCred) -> None:
        """Add (or replace) a terminal's credentials, live if the broker runs.

        With TLS, the terminal also gets a client certificate in certs.clients.
        """
        self.terminals = [t for t in self.terminals if t.terminal_id != cred.terminal_id]
        self.terminals.append(cred)
        if self.certs is not None:
            ca = load_ca(self.certs.ca.cert, self.certs.ca.key)
            self.certs.clients[cred.terminal_id] = issue_client_cert(
                ca, self.dir / "certs" / "clients", cred.terminal_id
            )
        self._apply()

    def add_service(self, cred: ServiceCred) -> None:
        """Add a service identity (another ingest worker, say), live if the broker runs."""
        self.services = [s for s in self.services if s.username != cred.username]
        self.services.append(cred)
        self._apply()

    def set_password(self, username: str, password: str) -> None:
        """Rotate a terminal's or service's password (live: the plugin drops its connection)."""
        self.terminals = [
            replace(t, password=password) if t.terminal_id == username else t
            for t in self.terminals
        ]
        self.services = [
            replace(s, password=password) if s.username == username else s for s in self.services
        ]
        if self.running:
            with self.admin() as admin:
                admin.set_password(username, password)
        self._write()

    def remove_terminal(self, terminal_id: str) -> None:
        """Revoke a terminal: drop its identity and role (live: it is disconnected at once)."""
        self.terminals = [t for t in self.terminals if t.terminal_id != terminal_id]
        self._apply()

    def _apply(self) -> None:
        if self.running:
            with self.admin() as admin:
                admin.sync(identity_state(self.terminals, self.services))
        self._write()

    def admin(self) -> DynsecAdmin:
        """A (not yet connected) control-topic client as the admin identity."""
        return DynsecAdmin(self.host, self.port, username="admin", password=self.password("admin"))

    # -- process ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the broker's log (for failure messages)."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no broker log yet)"
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        """Start mosquitto and wait until every listener accepts connections."""
        if self.running:
            return
        runs_before = self._log_count(" running")
        stderr = open(self.dir / "mosquitto.stderr", "ab")  # noqa: SIM115 - lives with the proc
        self._proc = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.conf)],
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,  # a Ctrl-C to pytest must not reach the broker first
        )
        stderr.close()
        ports = [p for p in (self.port, self.tls_port, self.cert_port) if p is not None]
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(
                    f"mosquitto exited with {self._proc.returncode} at start\n{self._diagnostics()}"
                )
            # "running" is logged once every listener is bound: an open port alone could be
            # another process's on this shared machine.
            if self._log_count(" running") > runs_before and all(_port_open(p) for p in ports):
                return
            time.sleep(0.05)
        self.kill()
        raise BrokerError(f"mosquitto did not listen on {ports}\n{self._diagnostics()}")

    def _diagnostics(self) -> str:
        err = (self.dir / "mosquitto.stderr").read_text(errors="replace")[-2000:]
        return f"--- log ---\n{self.log_tail()}\n--- stderr ---\n{err}"

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM): Mosquitto saves its persistence file on the way out."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
                raise BrokerError(f"mosquitto ignored SIGTERM\n{self._diagnostics()}") from None
        self._proc = None

    def kill(self) -> None:
        """SIGKILL: anything not yet autosaved is lost, like a power cut of the broker host."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._proc = None

    def close(self) -> None:
        """End of test: disconnect every client made by client() and kill the broker."""
        for c in self._clients:
            c.close()
        self._clients.clear()
        self.kill()
        for sock in self._port_holds:
            sock.close()
        self._port_holds.clear()

    def restart(self, *, hard: bool = False) -> None:
        """Stop (or kill, with hard=True) and start again on the same ports and data dir."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()

    def reload(self, timeout: float = 10.0) -> None:
        """SIGHUP: re-read the config and the CRL; waits until the log shows the reload."""
        if not self.running or self._proc is None:
            return
        before = self._log_count("Reloading config")
        self._proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while self._log_count("Reloading config") <= before:
            if time.monotonic() > deadline:
                raise BrokerError(f"no reload seen in the log\n{self._diagnostics()}")
            time.sleep(0.02)

    def _log_count(self, marker: str) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(marker)
        except FileNotFoundError:
            return 0

    # -- clients ------------------------------------------------------------------------

    def client(
        self,
        username: str | None,
        password: str | None = None,
        *,
        client_id: str = "",
        clean_start: bool = True,
        session_expiry_s: int = 0,
        will: tuple[str, bytes, int, bool] | None = None,
        port: int | None = None,
        tls: bool = False,
        client_cert: CertPair | None = None,
        ca_file: Path | None = None,
        connect: bool = True,
        timeout: float = 30.0,
    ) -> MqttClient:
        """An MQTT 5 paho client, connected and with its network loop running.

        password defaults to the configured one for username; pass username=None for an
        anonymous attempt. tls=True uses the TLS listener and the broker's own CA (ca_file
        overrides it). Raises ConnectRefused if the broker says no.
        """
        if username is not None and password is None and client_cert is None:
            password = self.password(username)
        c = MqttClient(
            self.host,
            port if port is not None else (self.tls_port if tls else self.port),
            username=username,
            password=password,
            client_id=client_id,
            ca_file=ca_file
            or (self.certs.ca.cert if (tls or client_cert) and self.certs else None),
            client_cert=client_cert,
            will=will,
        )
        self._clients.append(c)
        if connect:
            c.connect(clean_start=clean_start, session_expiry_s=session_expiry_s, timeout=timeout)
        return c

    def mosquitto_pub(
        self, username: str, topic: str, payload: bytes, *, retain: bool = False
    ) -> None:
        """Publish once at QoS 1 with Mosquitto's own client as ``username`` (an independent
        client: what any holder of that identity could send)."""
        tool = shutil.which("mosquitto_pub")
        if tool is None:
            raise BrokerError("mosquitto_pub is missing (Debian package mosquitto-clients)")
        subprocess.run(
            [tool, "-h", self.host, "-p", str(self.port), "-u", username,
             "-P", self.password(username), "-V", "mqttv5",
             "-q", "1", "-t", topic, "-s", *(["-r"] if retain else [])],
            input=payload, check=True, timeout=30, capture_output=True,
        )  # fmt: skip


@contextlib.contextmanager
def running_broker(workdir: Path, **kwargs: Any) -> Iterator[Broker]:
    """Start a Broker for the duration of a with-block."""
    broker = Broker(workdir, **kwargs)
    broker.start()
    try:
        yield broker
    finally:
        broker.close()
