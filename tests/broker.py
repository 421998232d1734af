"""A real Mosquitto for tests: start, stop, kill -9, restart and reload, plus paho helpers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from provisioning.broker import BrokerCerts, ServiceCred, TerminalCred, write_broker_config
from provisioning.certs import (
    CertPair,
    create_ca,
    issue_client_cert,
    issue_server_cert,
    load_ca,
)

HOST: Final = "127.0.0.1"
START_TIMEOUT_S: Final = 15.0

DEFAULT_TERMINALS: Final = (
    TerminalCred("S001-T01", "S001", "pw-S001-T01"),
    TerminalCred("S001-T02", "S001", "pw-S001-T02"),
    TerminalCred("S002-T01", "S002", "pw-S002-T01"),
)
DEFAULT_SERVICES: Final = (
    ServiceCred("ingest", "pw-ingest"),
    ServiceCred("hq", "pw-hq"),
)


class BrokerError(RuntimeError):
    """The test broker failed to start or stop; the message carries the log tail."""


class ConnectRefused(RuntimeError):
    """The broker answered CONNECT with a failure reason code."""

    def __init__(self, reason: ReasonCode | str) -> None:
        super().__init__(f"connection refused: {reason}")
        self.reason = reason


def mosquitto_binary() -> str:
    """Path of the mosquitto executable (Debian package mosquitto)."""
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None
    )
    if not found:
        raise BrokerError("mosquitto not found: apt-get install mosquitto")
    return found


def free_ports(count: int) -> list[int]:
    """Distinct loopback TCP ports that were free a moment ago (all held open while chosen)."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((HOST, 0))
            ports.append(sock.getsockname()[1])
        return ports


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    return free_ports(1)[0]


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

    The ports stay the same across restart(), so clients can reconnect to the same address.
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
        self.port, tls_port, cert_port = free_ports(3)
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
        )

    def password(self, username: str) -> str:
        """The plaintext password of a configured terminal or service."""
        for t in self.terminals:
            if t.terminal_id == username and t.password is not None:
                return t.password
        for s in self.services:
            if s.username == username:
                return s.password
        raise KeyError(username)

    def terminal(self, terminal_id: str) -> TerminalCred:
        """The configured credentials of one terminal."""
        for t in self.terminals:
            if t.terminal_id == terminal_id:
                return t
        raise KeyError(terminal_id)

    def add_terminal(self, cred: TerminalCred) -> None:
        """Add (or replace) a terminal's credentials and reload the running broker.

        With TLS, the terminal also gets a client certificate in certs.clients.
        """
        self.terminals = [t for t in self.terminals if t.terminal_id != cred.terminal_id]
        self.terminals.append(cred)
        if self.certs is not None:
            ca = load_ca(self.certs.ca.cert, self.certs.ca.key)
            self.certs.clients[cred.terminal_id] = issue_client_cert(
                ca, self.dir / "certs" / "clients", cred.terminal_id
            )
        self._write()
        self.reload()

    def set_password(self, username: str, password: str) -> None:
        """Rotate a terminal's or service's password and reload."""
        self.terminals = [
            replace(t, password=password) if t.terminal_id == username else t
            for t in self.terminals
        ]
        self.services = [
            replace(s, password=password) if s.username == username else s for s in self.services
        ]
        self._write()
        self.reload()

    def remove_terminal(self, terminal_id: str) -> None:
        """Revoke a terminal: drop its password and ACL entries and reload."""
        self.terminals = [t for t in self.terminals if t.terminal_id != terminal_id]
        self._write()
        self.reload()

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

    def restart(self, *, hard: bool = False) -> None:
        """Stop (or kill, with hard=True) and start again on the same ports and data dir."""
        if hard:
            self.kill()
        else:
            self.stop()
        self.start()

    def reload(self, timeout: float = 10.0) -> None:
        """SIGHUP: re-read password and ACL files; waits until the log shows the reload."""
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
        timeout: float = 10.0,
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


@dataclass(frozen=True, slots=True)
class Received:
    """One message as a client received it."""

    topic: str
    payload: bytes
    qos: int
    retain: bool


class MqttClient:
    """A thin paho wrapper that waits for CONNACK/SUBACK/PUBACK and records what arrives."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None,
        password: str | None,
        client_id: str = "",
        ca_file: Path | None = None,
        client_cert: CertPair | None = None,
        will: tuple[str, bytes, int, bool] | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._connack: ReasonCode | None = None
        self._subacks: dict[int, list[ReasonCode]] = {}
        self._pubacks: dict[int, ReasonCode] = {}
        self._disconnected = threading.Event()
        self.paho = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.paho.username_pw_set(username, password)
        if ca_file is not None:
            self.paho.tls_set(
                ca_certs=str(ca_file),
                certfile=str(client_cert.cert) if client_cert else None,
                keyfile=str(client_cert.key) if client_cert else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if will is not None:
            self.paho.will_set(will[0], will[1], qos=will[2], retain=will[3])
        self.paho.on_connect = self._on_connect
        self.paho.on_connect_fail = self._on_connect_fail
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_subscribe = self._on_subscribe
        self.paho.on_publish = self._on_publish
        self.paho.on_message = self._on_message

    # paho callbacks run on its network thread; everything shared goes through _cond.
    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._connack = rc
            self._cond.notify_all()

    def _on_connect_fail(self, _c: Any, _u: Any) -> None:
        with self._cond:
            self._connack = ReasonCode(PacketTypes.CONNACK, "Unspecified error")
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            if self._connack is None:
                self._connack = rc
            self._disconnected.set()
            self._cond.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        with self._cond:
            self._subacks[mid] = list(rcs)
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._pubacks[mid] = rc
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), msg.qos, msg.retain))
            self._cond.notify_all()

    def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        with self._cond:
            if not self._cond.wait_for(ready, timeout):
                raise TimeoutError(f"no {what} within {timeout}s")

    def connect(
        self, *, clean_start: bool = True, session_expiry_s: int = 0, timeout: float = 10.0
    ) -> ReasonCode:
        """Connect and wait for CONNACK; raise ConnectRefused on a failure code."""
        props = Properties(PacketTypes.CONNECT)
        if session_expiry_s:
            props.SessionExpiryInterval = session_expiry_s
        with self._cond:
            self._connack = None
        self._disconnected.clear()
        try:
            self.paho.connect(
                self.host, self.port, keepalive=30, clean_start=clean_start, properties=props
            )
        except (OSError, ssl.SSLError) as err:
            raise ConnectRefused(f"{type(err).__name__}: {err}") from err
        self.paho.loop_start()
        try:
            self._wait(lambda: self._connack is not None, timeout, "CONNACK")
        except TimeoutError:
            self.close()
            raise
        rc = self._connack
        assert rc is not None
        if rc.is_failure:
            self.close()
            raise ConnectRefused(rc)
        return rc

    def subscribe(self, topic: str, qos: int = 1, timeout: float = 10.0) -> ReasonCode:
        """Subscribe and return the SUBACK reason code (failure codes are returned, not raised)."""
        result, mid = self.paho.subscribe(topic, qos)
        if result != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"subscribe failed locally: {mqtt.error_string(result)}")
        self._wait(lambda: mid in self._subacks, timeout, f"SUBACK for {topic}")
        return self._subacks[mid][0]

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False, timeout: float = 10.0
    ) -> ReasonCode | None:
        """Publish; for QoS 1/2 wait for the broker's PUBACK and return its reason code."""
        info = self.paho.publish(topic, payload, qos=qos, retain=retain)
        if qos == 0:
            return None
        self._wait(lambda: info.mid in self._pubacks, timeout, f"PUBACK for {topic}")
        return self._pubacks[info.mid]

    def wait_for(
        self, predicate: Callable[[Received], bool], timeout: float = 10.0, count: int = 1
    ) -> list[Received]:
        """Wait until `count` received messages satisfy predicate; return them."""
        self._wait(
            lambda: sum(1 for m in self.messages if predicate(m)) >= count,
            timeout,
            f"{count} matching message(s)",
        )
        with self._cond:
            return [m for m in self.messages if predicate(m)]

    def received_on(self, topic: str) -> list[Received]:
        """Messages received so far on exactly this topic."""
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_disconnected(self, timeout: float = 10.0) -> None:
        """Wait until the broker or network dropped this client."""
        if not self._disconnected.wait(timeout):
            raise TimeoutError(f"still connected after {timeout}s")

    def drop_socket(self) -> None:
        """Cut the TCP connection without DISCONNECT, as a crash or a pulled cable would."""
        sock = self.paho.socket()
        self.paho.loop_stop()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        """Disconnect cleanly (no will) and stop the network thread."""
        with contextlib.suppress(Exception):
            self.paho.disconnect()
        self.paho.loop_stop()


@contextlib.contextmanager
def running_broker(workdir: Path, **kwargs: Any) -> Iterator[Broker]:
    """Start a Broker for the duration of a with-block."""
    broker = Broker(workdir, **kwargs)
    broker.start()
    try:
        yield broker
    finally:
        broker.close()
