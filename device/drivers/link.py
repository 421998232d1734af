"""Keeping an input device connected: reopen with backoff, status reporting, a reader thread.

Every input driver (serial or evdev) runs one daemon thread that owns its device: it opens it,
reads, hands bytes or events to a decoder, and on any failure reports a DeviceStatus, closes,
waits (doubling up to a cap) and tries again. Nothing a device sends or fails to send escapes
that thread: decoder bugs are reported as an error status and the thread keeps reading.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from device.drivers.errors import DeviceState, DeviceStatus, DriverError
from device.drivers.events import Emit
from device.drivers.transport import Transport

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Clock = Callable[[], float]


class Backoff:
    """Retry delays: initial, doubled after each failure, capped; reset after a success."""

    def __init__(self, initial: float = 0.1, cap: float = 5.0) -> None:
        self.initial, self.cap = initial, cap
        self.delay = initial

    def next(self) -> float:
        """The delay to wait now; the following one doubles."""
        delay = self.delay
        self.delay = min(self.cap, self.delay * 2)
        return delay

    def reset(self) -> None:
        """Back to the initial delay after a good connection."""
        self.delay = self.initial


class Reporter:
    """Emits a DeviceStatus only when the state or message changes (no flood on a dead port)."""

    def __init__(self, name: str, emit: Emit) -> None:
        self.name = name
        self._emit = emit
        self.status = DeviceStatus(name, "disconnected", f"{name} not started")
        self._lock = threading.Lock()

    def report(self, state: DeviceState, message: str) -> None:
        """Record and emit a new status if it differs from the last one."""
        status = DeviceStatus(self.name, state, message)
        with self._lock:
            if status == self.status:
                return
            self.status = status
        # A broken consumer must not stop the device thread.
        with contextlib.suppress(Exception):
            self._emit(status)


def open_failure(label: str, where: str, exc: Exception) -> str:
    """A technician's sentence for a port that would not open."""
    if where.startswith("/") and not os.path.exists(where):
        return f"{label} not found on {where}"
    return f"{label}: cannot open {where} ({exc})"


class Source(Protocol[T_co]):
    """Something a reader thread can open, read chunks from, and close."""

    where: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def read_chunk(self, timeout: float) -> T_co | None:
        """One chunk of input, or None when nothing came within timeout."""
        ...


class SerialSource:
    """Adapts a Transport to Source: chunks are bytes."""

    def __init__(self, transport: Transport, read_size: int = 256) -> None:
        self.transport = transport
        self.where = transport.where
        self._read_size = read_size

    def open(self) -> None:
        self.transport.open()

    def close(self) -> None:
        self.transport.close()

    def read_chunk(self, timeout: float) -> bytes | None:
        return self.transport.read(self._read_size, timeout) or None


class ReaderThread(Generic[T]):
    """Runs open -> read -> handle forever on a daemon thread, reconnecting after failures."""

    def __init__(
        self,
        label: str,
        source: Source[T],
        handle: Callable[[T], None],
        reporter: Reporter,
        backoff: Backoff | None = None,
        poll_s: float = 0.05,
        on_connect: Callable[[], None] | None = None,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.label = label
        self.source = source
        self._handle = handle
        self.reporter = reporter
        self._backoff = backoff or Backoff()
        self._poll_s = poll_s
        self._on_connect = on_connect
        self._on_idle = on_idle  # called after a poll that brought nothing (the line is quiet)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        """Start the thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.label, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the device."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=3)
        self.source.close()
        self.connected.clear()

    def _connect(self) -> bool:
        try:
            self.source.open()
            if self._on_connect is not None:
                self._on_connect()
        except Exception as exc:
            self.source.close()
            where = self.source.where
            msg = exc.args[0] if isinstance(exc, DriverError) and exc.args else None
            if msg is None or (where.startswith("/") and not os.path.exists(where)):
                msg = open_failure(self.label, where, exc)
            self.reporter.report("error", msg)
            return False
        self._backoff.reset()
        self.connected.set()
        self.reporter.report("connected", f"{self.label} ready on {self.source.where}")
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.connected.is_set() and not self._connect():
                self._stop.wait(self._backoff.next())
                continue
            try:
                chunk = self.source.read_chunk(self._poll_s)
            except Exception as exc:
                self.connected.clear()
                self.source.close()
                self.reporter.report(
                    "error", f"{self.label} on {self.source.where} disconnected ({exc})"
                )
                continue
            if chunk is None:
                if self._on_idle is not None:
                    try:
                        self._on_idle()
                    except Exception as exc:
                        self.reporter.report("error", f"{self.label}: could not decode ({exc})")
                continue
            try:
                self._handle(chunk)
            except Exception as exc:  # decoder bug: say so, keep the terminal selling
                self.reporter.report("error", f"{self.label}: could not decode input ({exc})")
                continue
            if self.reporter.status.state == "error":
                self.reporter.report("connected", f"{self.label} ready on {self.source.where}")


def wait_until(pred: Callable[[], bool], timeout: float, clock: Clock = time.monotonic) -> bool:
    """Poll a condition every few ms until true or timeout; returns the final value."""
    deadline = clock() + timeout
    while not pred():
        if clock() >= deadline:
            return False
        time.sleep(0.005)
    return True


class ReaderDevice:
    """Life cycle shared by input devices: a reader thread, a status reporter, start and stop."""

    label = "device"

    def __init__(self, emit: Emit, name: str) -> None:
        self._emit = emit
        self.name = name
        self.reporter = Reporter(name, emit)
        self.reader: ReaderThread[Any] | None = None

    @property
    def status(self) -> DeviceStatus:
        """The latest status (connected / error with a technician's message)."""
        return self.reporter.status

    def start(self) -> None:
        """Open the device (retrying in the background) and start emitting its events."""
        assert self.reader is not None
        self.reader.start()

    def stop(self) -> None:
        """Stop reading and close the device."""
        if self.reader is not None:
            self.reader.stop()
