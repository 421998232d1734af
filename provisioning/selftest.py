"""The hardware self-test a technician runs at the till, and its pass/fail table.

It prints a test receipt (store header, a Chinese line, a QR code), kicks the drawer and
reads its switch, asks for a scan and a card swipe and shows what was read, checks the
customer display and the keypad, then the broker over TLS with the terminal's own
certificate, the clock's NTP state, disk headroom and the store file's integrity. The table
is kept beside the store (the till repeats it in every status) and published at once in the
terminal's retained status, so HQ sees it.

The till must be stopped meanwhile (`systemctl stop pos-terminal`): the test needs the
devices, and the broker check resumes the terminal's own session. It never acknowledges a
message there, so anything queued for the till is delivered to the till afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import shutil
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from device.config import TerminalConfig
from device.drivers.events import CardEvent, KeyEvent, ScanEvent
from device.store.db import open_database
from device.store.kernel_clock import kernel_clock_synced
from device.sync.client import DEFAULT_SESSION_EXPIRY_S
from protocol import codec, topics
from protocol.envelope import MAX_PROBLEM_CHARS, SelfTest, SelfTestCheck, Status, utc_iso
from protocol.problems import Said, to_wire
from protocol.tls import certificate_end
from provisioning.lifetimes import RENEW_BEFORE

MIN_FREE_MB: Final = 200


class Technician(Protocol):
    """The person at the till: told what to do, and (for simulators) doing it."""

    def ask(self, what: str) -> None:
        """Show an instruction: "scan", "swipe", "key" or a free text."""


@dataclass
class Report:
    """The table so far."""

    checks: list[SelfTestCheck] = field(default_factory=list)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(SelfTestCheck(name=name, ok=ok, detail=detail[:200]))

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)

    def result(self) -> SelfTest:
        return SelfTest(at=utc_iso(dt.datetime.now(dt.UTC)), passed=self.passed,
                        checks=list(self.checks))  # fmt: skip

    def table(self) -> str:
        width = max((len(c.name) for c in self.checks), default=4)
        rows = [f"{c.name:<{width}}  {'PASS' if c.ok else 'FAIL'}  {c.detail}" for c in self.checks]
        verdict = "ALL PASSED" if self.passed else "FAILED: fix the FAIL lines and run again"
        return "\n".join([f"{'part':<{width}}  result", *rows, verdict])


class Inputs:
    """Driver events as they arrive, so a check can wait for the next scan, swipe or key."""

    def __init__(self) -> None:
        self.events: queue.Queue[object] = queue.Queue()

    def emit(self, event: object) -> None:
        self.events.put(event)

    def next(self, kind: type, timeout: float) -> Any:
        deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
        while (left := (deadline - dt.datetime.now()).total_seconds()) > 0:
            try:
                event = self.events.get(timeout=left)
            except queue.Empty:
                return None
            if isinstance(event, kind):
                return event
        return None


def _masked(card: str) -> str:
    return card if len(card) <= 4 else "*" * (len(card) - 4) + card[-4:]


def check_devices(hw: Any, inputs: Inputs, tech: Technician, timeout: float, r: Report) -> str:
    """Printer, drawer, scanner, card reader, display, keypad; returns the printer state."""
    printer_state = "none"
    if hw.printer is not None:
        tech.ask("watch the printer: a test receipt comes out")
        result = hw.printer.self_test(timeout=timeout)
        printer_state = "ok" if result.ok else "error"
        r.add("printer", result.ok, result.message)
    outcome = hw.drawer.self_test(timeout=min(timeout, 5.0))
    r.add("drawer", outcome.ok, outcome.message)
    tech.ask("close the drawer")
    for name, device, kind, ask, show in (
        ("scanner", getattr(hw, "scanner", None), ScanEvent, "scan", lambda e: f"read {e.text}"),
        ("card reader", getattr(hw, "card_reader", None), CardEvent, "swipe",
         lambda e: f"read card {_masked(e.card_id)}"),
    ):  # fmt: skip
        if device is None:  # configured but not built: a FAIL line saying why, never a gap
            r.add(name, False, getattr(hw, "absent", {}).get(name, f"no {name} configured"))
            continue
        tech.ask(ask)
        got = inputs.next(kind, timeout)
        if got is None:
            r.add(name, False, f"nothing read within {timeout:.0f} s: {device.status.message}")
        else:
            r.add(name, True, show(got))
    if hw.display is not None:
        status = hw.display.self_test()
        r.add("display", status.ok, status.message + " (check every column by eye)")
    tech.ask("key")
    key = inputs.next(KeyEvent, timeout)
    pressed = f"key {key.key} pressed" if key else f"no key pressed within {timeout:.0f} s"
    r.add("keypad", key is not None, pressed)
    return printer_state


def check_system(cfg: TerminalConfig, r: Report) -> None:
    """Clock sync, disk headroom, the store's integrity and the certificate's remaining life."""
    synced = kernel_clock_synced()
    r.add("clock", synced, "NTP-synchronised" if synced else
          "not synchronised: check the network time service (timedatectl)")  # fmt: skip
    db = Path(cfg.store.db_path)
    free_mb = shutil.disk_usage(db.parent if db.parent.exists() else "/").free // 2**20
    r.add("disk", free_mb >= MIN_FREE_MB, f"{free_mb} MB free (at least {MIN_FREE_MB} needed)")
    try:
        store = open_database(db)
    except Exception as err:
        r.add("store", False, f"cannot open {db}: {err}")
    else:
        try:
            problems = store.integrity_check(quick=True)
            r.add("store", not problems, "integrity ok" if not problems else "; ".join(problems))
        finally:
            store.close()
    check_certificate(cfg, r)


def check_certificate(cfg: TerminalConfig, r: Report) -> None:
    """A till whose certificate ends within RENEW_BEFORE fails: rotate it while it is here."""
    path = cfg.broker.cert_file
    if not path:
        return  # a password login (a bench without the fleet's TLS listener)
    end = certificate_end(path)
    if end is None:
        r.add("certificate", False, f"cannot read {path}")
        return
    left = end - dt.datetime.now(dt.UTC)
    ok = left > RENEW_BEFORE
    fix = f"; rotate it now: provisioning terminal rotate --terminal {cfg.terminal.terminal_id}"
    r.add("certificate", ok, f"ends {end:%Y-%m-%d} ({left.days} days)" + ("" if ok else fix))


class TerminalSession:
    """The terminal's own broker session, resumed without taking anything out of it."""

    def __init__(self, cfg: TerminalConfig, timeout: float) -> None:
        b, t = cfg.broker, cfg.terminal
        self.cfg, self.timeout = cfg, timeout
        self.connected = threading.Event()
        self.refused = ""
        # manual_ack and never acking: messages queued for the till stay queued for it.
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=t.terminal_id,
                                  protocol=mqtt.MQTTv5, manual_ack=True)  # fmt: skip
        if b.password:
            self.client.username_pw_set(b.username or t.terminal_id, b.password)
        if b.ca_file:
            cert, key = b.cert_file or None, b.key_file or None
            self.client.tls_set(b.ca_file, cert, key, cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = lambda *_a: self._fail("TLS or network failure")

    def _fail(self, why: str) -> None:
        self.refused = why
        self.connected.set()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self._fail(f"refused: {rc}")
        else:
            self.connected.set()

    def check(self, r: Report) -> bool:
        b = self.cfg.broker
        where = f"{b.host}:{b.port}" + (" over TLS" if b.ca_file else " WITHOUT TLS")
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = DEFAULT_SESSION_EXPIRY_S  # keep the till's session
        try:
            self.client.connect(b.host, b.port, keepalive=30, clean_start=False,
                                properties=props)  # fmt: skip
        except (OSError, ssl.SSLError) as err:
            r.add("broker", False, f"{where}: {err}")
            return False
        self.client.loop_start()
        if not self.connected.wait(self.timeout) or self.refused:
            r.add("broker", False, f"{where}: {self.refused or 'no answer'}")
            return False
        r.add("broker", bool(b.ca_file), f"connected to {where} as {self.cfg.terminal.terminal_id}")
        return True

    def publish(self, status: Status) -> bool:
        t = self.cfg.terminal
        info = self.client.publish(topics.status_topic(t.store_id, t.terminal_id),
                                   codec.encode_status(status), qos=1, retain=True)  # fmt: skip
        try:
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError):
            return False
        return info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def status_with(cfg: TerminalConfig, report: SelfTest, printer: str) -> Status:
    """The terminal's status (offline: the till is stopped) carrying the self-test table."""
    from device.sync.storage import SyncStorage

    depth, versions = 0, {s: 0 for s in topics.STREAMS}
    try:
        storage = SyncStorage.open(cfg.store.db_path)
        try:
            depth = storage.outbox_depth()
            versions = {s: storage.version(s) for s in topics.STREAMS}
        finally:
            storage.close()
    except Exception:  # an unreadable store is already a FAIL line of its own
        pass
    failed = [c.name for c in report.checks if not c.ok]
    problem = Said("selftest.failed", checks=", ".join(failed)) if failed else ""
    end = certificate_end(cfg.broker.cert_file or None)
    return Status(
        terminal_id=cfg.terminal.terminal_id, store_id=cfg.terminal.store_id, online=False,
        outbox_depth=depth, oldest_unsynced_s=None, stream_versions=versions,
        clock_synced=kernel_clock_synced(), printer=printer,
        software_version=cfg.terminal.software_version, sent_at=report.at,
        last_problem=str(problem)[:MAX_PROBLEM_CHARS], problem=to_wire(problem),
        self_test=report,
        cert_not_after=None if end is None else utc_iso(end),
    )  # fmt: skip


def run(
    cfg: TerminalConfig,
    hw: Any,
    inputs: Inputs,
    tech: Technician,
    *,
    timeout: float,
    say: Callable[[str], None] = print,
    result_file: Path | None = None,
) -> SelfTest:
    """Run every check, keep the table beside the store, publish it; return it."""
    r = Report()
    hw.start()
    try:
        printer = check_devices(hw, inputs, tech, timeout, r)
    finally:
        hw.stop()
    check_system(cfg, r)
    session = TerminalSession(cfg, timeout) if cfg.broker.enabled else None
    reachable = session.check(r) if session is not None else False
    report = r.result()
    if result_file is not None:
        result_file.write_bytes(msgspec.json.encode(report))
        os.chmod(result_file, 0o600)
    say(r.table())
    if session is not None:
        if reachable and session.publish(status_with(cfg, report, printer)):
            say("published in the terminal's status: HQ sees this table")
        else:
            say("NOT published (no broker): the till sends it with its status once connected")
        session.close()
    return report
