"""The ESC/POS receipt-printer driver: a spooled job queue, status polling, drawer, self-test.

A worker thread prints spooled jobs one at a time. Before each job it reads DLE EOT status;
after sending a job it waits for the GS ( H process-ID response, which the printer sends only
once everything before it has printed. If the printer stops mid-job (paper out, cover open)
the driver clears the printer's buffer with DLE DC4 fn=8, so the rest of the job does not come
out on the new roll, keeps the job, and re-sends it whole once the printer is ready again.
Status requests are only ever written between complete commands, never inside a job's data.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from device.drivers import escpos_commands as cmd
from device.drivers.errors import (
    DeviceState,
    DeviceStatus,
    DeviceTimeout,
    DeviceUnavailable,
    DriverError,
    PrinterError,
    ProtocolViolation,
)
from device.drivers.escpos_status import FIXED_MASK, FIXED_VALUE, PrinterState, parse_status
from device.drivers.printer_config import PrinterConfig, make_transport
from device.drivers.printer_spool import JobSpool, PrintJob
from device.drivers.receipt_layout import CodeSet, Receipt, ReceiptLine, render
from device.drivers.transport import Transport

log = logging.getLogger(__name__)

ALL_STATUS = b"".join(cmd.status_request(n) for n in (1, 2, 3, 4))


@dataclass(frozen=True, slots=True)
class SelfTestResult:
    """Outcome of the printer self-test page."""

    ok: bool
    status: DeviceStatus
    message: str
    job_id: str


class PrinterDriver:
    """Owns one printer: spool, transport, status, drawer kick through the printer."""

    name = "printer"

    def __init__(
        self,
        config: PrinterConfig,
        transport: Transport | None = None,
        spool: JobSpool | None = None,
        on_status: Callable[[DeviceStatus], None] | None = None,
        on_printed: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.transport = transport or make_transport(config)
        self.spool = spool or JobSpool(config.spool_dir, config.done_history)
        self._on_status = on_status
        self._on_printed = on_printed
        self._io = threading.RLock()
        self._rx = bytearray()
        self._status_bytes: list[int] = []
        self._pids: set[bytes] = set()
        self._cleared = False
        self._pid_counter = 0
        self._stale_input = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._thread: threading.Thread | None = None
        self._backoff = config.retry_min_s
        self._status = DeviceStatus(self.name, "disconnected", self._not_connected())
        self.last_state: PrinterState | None = None

    # ----- public API -----

    def start(self) -> None:
        """Start the worker thread that prints spooled jobs."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="printer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the worker and close the port; pending jobs stay in the spool."""
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)
        with self._io:
            self.transport.close()

    @property
    def running(self) -> bool:
        """True while the worker thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def submit(self, job: PrintJob) -> bool:
        """Queue a job; False when a job with this id is already queued or was printed."""
        queued = self.spool.submit(job)
        self._wake.set()
        return queued

    def print_receipt(self, receipt: Receipt, job_id: str) -> bool:
        """Lay out (for this printer's paper width) and queue a receipt under a replay-safe id."""
        config = self.config
        if (receipt.width, receipt.code_set) != (config.width, config.code_set):
            code_set = cast(CodeSet, config.code_set)
            receipt = dataclasses.replace(receipt, width=config.width, code_set=code_set)
        return self.submit(PrintJob(job_id, render(receipt)))

    def status(self) -> DeviceStatus:
        """The latest status, with a technician-readable message."""
        return self._status

    def pending_jobs(self) -> list[str]:
        """Ids of jobs waiting to print, oldest first."""
        return [job.job_id for job in self.spool.pending()]

    def wait_printed(self, job_id: str, timeout: float) -> bool:
        """Block until the job has printed (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout
        with self._done:
            while not self.spool.is_done(job_id):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(min(left, 0.1))
        return True

    def read_state(self) -> PrinterState:
        """Poll DLE EOT 1-4 now; raises DriverError when the printer cannot be asked."""
        with self._io:
            self._ensure_open()
            return self._poll()

    def kick_drawer(
        self, pin: int | None = None, on_ms: int | None = None, off_ms: int | None = None
    ) -> None:
        """Pulse the cash-drawer solenoid through the printer's drawer port."""
        pin = self.config.drawer_pin if pin is None else pin
        on_ms = self.config.drawer_on_ms if on_ms is None else on_ms
        off_ms = self.config.drawer_off_ms if off_ms is None else off_ms
        pulse = cmd.drawer_kick(pin, on_ms, off_ms)
        with self._io:
            self._ensure_open()
            state = self._poll() if self.transport.bidirectional else PrinterState()
            if state.ready:
                self.transport.write(pulse)
            else:
                # ESC p would wait in the buffer behind the stopped job; DLE DC4 fn=1 is a
                # real-time pulse that works while the printer is offline.
                self.transport.write(cmd.realtime_pulse(pin, on_ms))

    def drawer_open(self) -> bool:
        """True when the drawer's open switch (DLE EOT 1, bit 2, pin 3) reports open."""
        state = self.read_state()
        return state.drawer_pin3_high == self.config.drawer_open_high

    def self_test(self, timeout: float = 60.0) -> SelfTestResult:
        """Print a test page (both languages, a QR code) and report whether it came out."""
        job_id = f"selftest:{uuid.uuid4()}"
        self.submit(PrintJob(job_id, render(self_test_receipt(self.config))))
        if self._thread is None or not self._thread.is_alive():
            deadline = time.monotonic() + timeout
            while not self.spool.is_done(job_id) and time.monotonic() < deadline:
                self._work_once()
        ok = self.wait_printed(job_id, timeout=timeout if self._thread else 0.01)
        status = self.status()
        message = "test page printed" if ok else f"test page not printed: {status.message}"
        return SelfTestResult(ok, status, message, job_id)

    # ----- worker -----

    def _run(self) -> None:
        while not self._stop.is_set():
            self._work_once()

    def _work_once(self) -> None:
        """One step: print the next job or poll status; sleep with backoff after a failure."""
        try:
            job = self.spool.next()
            with self._io:
                self._ensure_open()
                if job is None:
                    self._poll()
            if job is None:
                self._wake.wait(self.config.idle_poll_s)
                self._wake.clear()
                self._backoff = self.config.retry_min_s
                return
            self._print(job)
            self._backoff = self.config.retry_min_s
            return
        except DeviceUnavailable as exc:
            with self._io:
                self.transport.close()
            log.info("printer unavailable: %s", exc)
            self._set_status("disconnected", self._not_connected())
        except DeviceTimeout as exc:
            with self._io:
                self.transport.close()
            self._set_status("error", str(exc))
        except PrinterError as exc:
            self._set_status("error", str(exc))
        except DriverError as exc:
            self._stale_input = True
            self._set_status("error", f"printer error: {exc}")
        except Exception as exc:  # nothing the printer does may kill the worker
            log.exception("printer worker failed")
            self._stale_input = True
            self._set_status("error", f"printer driver fault: {type(exc).__name__}: {exc}")
        self._stop.wait(self._backoff)
        self._backoff = min(self._backoff * 2, self.config.retry_max_s)

    def _not_connected(self) -> str:
        return f"printer not connected on {self.config.where}"

    def _set_status(self, state: DeviceState, message: str) -> None:
        status = DeviceStatus(self.name, state, message)
        if status != self._status:
            self._status = status
            log.info("printer status: %s (%s)", state, message)
            if self._on_status is not None:
                try:
                    self._on_status(status)
                except Exception:
                    log.exception("printer status callback failed")

    def _ensure_open(self) -> None:
        if not self.transport.is_open:
            self.transport.open()
            self._rx.clear()
            self._stale_input = True

    # ----- bytes from the printer -----

    def _pump(self, timeout: float) -> None:
        """Read what the printer sent and sort it into status bytes and responses."""
        self._rx += self.transport.read(256, timeout)
        rx = self._rx
        while rx:
            first = rx[0]
            if first == 0x37:  # 37H starts a response block (process ID, buffer clear)
                if len(rx) < 3:
                    return
                if rx[1] == 0x22:
                    if len(rx) < 7:
                        return
                    if rx[6] == 0:
                        self._pids.add(bytes(rx[2:6]))
                        del rx[:7]
                        continue
                elif rx[1] == 0x25 and rx[2] == 0:
                    self._cleared = True
                    del rx[:3]
                    continue
                del rx[:1]
            elif first & FIXED_MASK == FIXED_VALUE:
                self._status_bytes.append(first)
                del rx[:1]
            else:
                del rx[:1]  # noise on the line: dropped, never fatal

    def _poll(self) -> PrinterState:
        """DLE EOT 1, 2, 3, 4 between jobs; returns the combined state and updates status."""
        if not self.transport.bidirectional:
            state = PrinterState()
            self._set_status("connected", "printer output to file (no status channel)")
            return state
        if self._stale_input:
            self.transport.discard_input()
            self._rx.clear()
            self._stale_input = False
        self._status_bytes.clear()
        self.transport.write(ALL_STATUS)
        deadline = time.monotonic() + self.config.status_timeout_s
        while len(self._status_bytes) < 4:
            left = deadline - time.monotonic()
            if left <= 0:
                self._stale_input = True
                raise DeviceTimeout(
                    f"printer on {self.config.where} is not answering status requests "
                    "(check its power, cable and baud rate)"
                )
            self._pump(min(left, 0.1))
        try:
            state = parse_status(*self._status_bytes[:4])
        except ProtocolViolation:
            self._stale_input = True
            raise
        self.last_state = state
        problem = state.problem()
        if problem:
            waiting = self.spool.count()
            self._set_status(
                "error", f"{problem}; {waiting} job(s) waiting" if waiting else problem
            )
        else:
            self._set_status("connected", state.warning() or "printer ready")
        return state

    # ----- printing -----

    def _next_pid(self) -> str:
        self._pid_counter = (self._pid_counter + 1) % 10000
        return f"{self._pid_counter:04d}"

    def _print(self, job: PrintJob) -> None:
        with self._io:
            self._ensure_open()
            state = self._poll()
            if not state.ready:
                raise PrinterError(f"{state.problem()}; job {job.job_id} kept")
            if self.config.confirm == "process_id" and self.transport.bidirectional:
                pid = self._next_pid()
                self._pids.discard(pid.encode())
                self.transport.write(job.data + cmd.process_id(pid))
            else:
                pid = ""
                self.transport.write(job.data)
        if pid:
            self._await_printed(job, pid)
        else:
            with self._io:
                state = self._poll()
            if not state.ready:
                raise PrinterError(f"{state.problem()} while printing job {job.job_id}; kept")
        self.spool.mark_done(job.job_id)
        with self._done:
            self._done.notify_all()
        if self._on_printed is not None:
            self._on_printed(job.job_id)

    def _await_printed(self, job: PrintJob, pid: str) -> None:
        deadline = time.monotonic() + self.config.job_timeout_s
        next_poll = time.monotonic() + 0.5
        while True:
            with self._io:
                self._pump(0.05)
                if pid.encode() in self._pids:
                    self._pids.discard(pid.encode())
                    return
                now = time.monotonic()
                if now < next_poll and now < deadline:
                    continue
                next_poll = now + 0.5
                # The whole job is in the printer, so a status request here sits between
                # commands; process-ID responses and status bytes cannot be confused (bit 0).
                state = self._poll()
                if not state.ready:
                    self._clear_printer_buffer()
                    raise PrinterError(
                        f"{state.problem()} while printing job {job.job_id}; "
                        "it will be reprinted in full"
                    )
                if now >= deadline:
                    # Ready but silent: most likely a printer without GS ( H. Counting it as
                    # printed risks a lost receipt; reprinting risks a double. Prefer no double.
                    self._set_status(
                        "error",
                        f"printer did not confirm job {job.job_id}; assuming printed "
                        "(set confirm='status' for printers without GS ( H)",
                    )
                    return

    def _clear_printer_buffer(self) -> None:
        self._cleared = False
        self.transport.write(cmd.BUFFER_CLEAR)
        deadline = time.monotonic() + self.config.status_timeout_s
        while not self._cleared and time.monotonic() < deadline:
            self._pump(0.05)
        if not self._cleared:
            raise DeviceTimeout(f"printer on {self.config.where} did not confirm buffer clear")


def self_test_receipt(config: PrinterConfig) -> Receipt:
    """The self-test page: header, both languages, columns, a QR code and a cut."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    return Receipt(
        receipt_no=f"SELFTEST-{time.strftime('%Y%m%d%H%M%S')}",
        time=stamp,
        cashier="-",
        header=("打印机自检 SELF-TEST", f"{config.kind} {config.where}"),
        lines=(
            ReceiptLine(f"中文测试 {config.code_set.upper()} 字符：￥é", "1", "0.00", "0.00"),
            ReceiptLine("English test line with a long name that wraps", "1", "0.00", "0.00"),
        ),
        total=("合计 TOTAL", "0.00"),
        extra=(f"width {config.width} columns, drawer pin {config.drawer_pin}",),
        footer=("如能扫描上方二维码则打印正常", "Scan the QR code above to check"),
        language="zh",
        width=config.width,
        code_set=cast(CodeSet, config.code_set),
    )
