"""The terminal's end of the I/O-board link: sessions, reconnects and fault counts over pyserial.

One daemon thread owns the serial port and the channel (device.mcu.channel, the same code the
board runs). It opens a session with HELLO and takes the board's ANNOUNCE answer:
- the same board (boot id) after a cable glitch: both sides keep their numbering, so what was
  delivered is not delivered again and what was not is resent;
- a board that restarted: its numbering is taken afresh, the restart is counted and reported,
  and our unacknowledged requests are resent to it;
- a board speaking another protocol version: no session, an error status saying what to flash.
A port that fails is closed and reopened with backoff; a board that goes silent for
`dead_ms` is reported as not answering and greeted again until it answers.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

from device.drivers.errors import DeviceUnavailable, DriverError
from device.drivers.events import Emit
from device.drivers.link import Backoff, Reporter, open_failure
from device.drivers.transport import Transport
from device.mcu import channel as C
from device.mcu import frames as F

log = logging.getLogger(__name__)

HELLO_EVERY_MS = 500
QUERY_EVERY_S = 10.0
REPORT_EVERY_S = 5.0
Handler = Callable[[bytes], None]


def ticks_ms() -> int:
    """Milliseconds on the same wrapping scale as MicroPython's time.ticks_ms()."""
    return int(time.monotonic() * 1000) % F.TICKS_PERIOD


class IoBoardLink:
    """The session with one board; `send` from any thread, events go to `handlers`."""

    def __init__(
        self,
        transport: Transport,
        emit: Emit,
        handlers: Mapping[int, Handler],
        on_session: Callable[[bool], None],
        dead_ms: int = 1500,
        backoff: Backoff | None = None,
    ) -> None:
        self.transport = transport
        self.where = transport.where
        self.reporter = Reporter("ioboard", emit)
        self._handlers = handlers
        self._on_session = on_session
        self._backoff = backoff or Backoff(initial=0.2, cap=5.0)
        self._lock = threading.RLock()
        self.chan = C.Channel(self._write, ticks_ms, dead_ms=dead_ms, queue_max=64)
        self.session = int.from_bytes(os.urandom(4), "big")
        self.board_boot: int | None = None
        self.firmware = ""
        self.reset_cause = ""
        self.problem = ""
        self.counts = {"board_resets": 0, "reconnects": 0, "mismatches": 0, "silences": 0,
                       "withdrawn": 0, "bad_events": 0}  # fmt: skip
        self.board_stats: dict[str, int] = {}
        self.notes: list[str] = []
        self._stats_seen = threading.Event()
        self.connected = threading.Event()
        self._last_hello = 0
        self._last_query = 0.0
        self._last_report = 0.0
        self._reported_faults = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- any thread ---------------------------------------------------------------------

    def start(self) -> None:
        """Open the port and keep the session up on a daemon thread (idempotent)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="ioboard-link", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the port (queued requests are kept for a restart)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=3)
        with self._lock:
            self.chan.close()
        self.transport.close()
        self.connected.clear()

    def send(self, ftype: int, payload: bytes = b"") -> bool:
        """Queue a request for the board; False when the queue is full."""
        with self._lock:
            return bool(self.chan.send(ftype, payload))

    def withdraw(self, ftype: int, payload: bytes) -> bool:
        """Take back a request not yet put on the wire; True if it was still waiting."""
        with self._lock:
            for i, (t, p) in enumerate(self.chan.pending):
                if t == ftype and p == payload:
                    del self.chan.pending[i]
                    self.counts["withdrawn"] += 1
                    return True
        return False

    def faults(self) -> dict[str, int]:
        """Everything counted so far: this side's channel, the session, the board's own."""
        with self._lock:
            stats = dict(self.chan.stats)
            stats["crc_errors"] = self.chan.decoder.crc_errors
            stats["bad_frames"] = self.chan.decoder.bad_frames
            out = {f"terminal.{k}": int(v) for k, v in stats.items()}
            out.update({f"link.{k}": v for k, v in self.counts.items()})
            out.update({f"board.{k}": v for k, v in self.board_stats.items()})
        return out

    def fault_total(self) -> int:
        """Faults that mean something went wrong (not sessions or kicks)."""
        skip = ("sessions", "kicks")
        return sum(v for k, v in self.faults().items() if not k.endswith(skip))

    # -- the link thread ------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self.transport.write(data)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.transport.is_open and not self._open():
                self._stop.wait(self._backoff.next())
                continue
            try:
                self._pass()
            except DriverError as exc:
                self._lost(f"I/O board on {self.where} disconnected ({exc})")
            except Exception as exc:  # a bug here must not stop the keypad for good
                log.exception("I/O-board link failed")
                self._lost(f"I/O board link failed on {self.where}: {exc}")

    def _open(self) -> bool:
        try:
            self.transport.open()
        except Exception as exc:
            self.transport.close()
            msg = str(exc) if isinstance(exc, DriverError) else ""
            if not msg or (self.where.startswith("/") and not os.path.exists(self.where)):
                msg = open_failure("I/O board", self.where, exc)
            self.reporter.report("disconnected", msg)
            return False
        self._backoff.reset()
        with self._lock:
            self.chan.decoder.buf = bytearray()  # a half frame from before the gap is junk
            self._hello(force=True)
        return True

    def _lost(self, message: str) -> None:
        with self._lock:
            self.chan.close()
        self.connected.clear()
        self.transport.close()
        self.counts["reconnects"] += 1
        self.reporter.report("disconnected", message)

    def _read(self) -> bytes:
        first = self.transport.read(1, 0.02)
        if not first:
            return b""
        return first + self.transport.read(4096, 0)

    def _pass(self) -> None:
        data = self._read()
        with self._lock:
            frames = self.chan.feed(data) if data else []
        # An ANNOUNCE is handled before `step` goes on with the frames behind it, which are
        # numbered for the session it opens.
        self._dispatch(frames)
        with self._lock:
            was_open = self.chan.open
            frames = self.chan.step()
            if was_open and not self.chan.open:
                self.counts["silences"] += 1
                self.connected.clear()
                self.reporter.report("disconnected", f"I/O board not answering on {self.where}")
            if not self.chan.open:
                self._hello()
        self._dispatch(frames)
        self._housekeeping()

    def _dispatch(self, frames: list[tuple[int, int, bytes]]) -> None:
        for ftype, seq, payload in frames:
            self._frame(ftype, seq, payload)

    def _hello(self, force: bool = False) -> None:
        now = ticks_ms()
        if not force and F.ticks_diff(now, self._last_hello) < HELLO_EVERY_MS:
            return
        self._last_hello = now
        known = self.board_boot is not None
        payload = F.pack_hello(self.session, self.chan.rx_expect, self.board_boot or 0, known)
        self.chan.control(F.HELLO, payload, seq=self.chan.tx_base)

    def _frame(self, ftype: int, seq: int, payload: bytes) -> None:
        if ftype == F.ANNOUNCE:
            self._announce(seq, payload)
            return
        handler = self._handlers.get(ftype)
        if ftype == F.STATS:
            handler = self._on_stats
        elif ftype == F.NOTE:
            handler = self._on_note
        try:
            if handler is None:
                raise ValueError(f"unknown frame type 0x{ftype:02x}")
            handler(payload)
        except Exception as exc:  # the board sent something we cannot use: count and say
            self.counts["bad_events"] += 1
            log.warning("I/O board sent a bad %s frame: %s", F.TYPE_NAMES.get(ftype, "?"), exc)

    def _announce(self, seq: int, payload: bytes) -> None:
        try:
            version, boot, cause, flags, firmware = F.unpack_announce(payload)
        except (ValueError, UnicodeError):
            self.counts["bad_events"] += 1
            return
        if version != F.PROTOCOL_VERSION or flags & F.ANN_MISMATCH:
            self.counts["mismatches"] += 1
            with self._lock:
                self.chan.close()
            self.connected.clear()
            self.problem = (
                f"I/O board on {self.where} runs firmware {firmware} speaking link protocol"
                f" v{version}; this terminal speaks v{F.PROTOCOL_VERSION}: update it with"
                f" python -m provisioning mcu flash --port {self.where}"
            )
            self.reporter.report("error", self.problem)
            return
        if not flags & F.ANN_REPLY:
            # A boot announcement: the board restarted, or it has not heard from us yet.
            with self._lock:
                self._hello(force=self.chan.open and boot != self.board_boot)
            return
        restarted = self.board_boot is not None and boot != self.board_boot
        fresh = boot != self.board_boot
        if restarted:
            self.counts["board_resets"] += 1
            log.warning("I/O board on %s restarted (%s)", self.where, _cause(cause))
        with self._lock:
            self.board_boot = boot
            self.chan.start(rx_expect=seq if fresh else None)
        self.firmware = firmware
        self.reset_cause = _cause(cause)
        self.problem = ""
        if firmware != F.FIRMWARE_VERSION:
            self.problem = (
                f"I/O board runs firmware {firmware}; this terminal ships {F.FIRMWARE_VERSION}"
                f" (python -m provisioning mcu flash --port {self.where})"
            )
        self.connected.set()
        self._on_session(fresh)
        self._last_report = 0.0
        self._housekeeping()

    def _housekeeping(self) -> None:
        if not self.connected.is_set():
            return
        now = time.monotonic()
        if now - self._last_query >= QUERY_EVERY_S:
            self._last_query = now
            self.send(F.QUERY)
        if now - self._last_report >= REPORT_EVERY_S:
            self._last_report = now
            self.reporter.report("connected", self.summary())

    def summary(self) -> str:
        """One line for the technician: where, which firmware, what went wrong so far."""
        text = f"I/O board ready on {self.where} (firmware {self.firmware}"
        text += f", started by {self.reset_cause})" if self.reset_cause else ")"
        faults = self.faults()
        worth = {
            "corrupt frames": faults.get("terminal.crc_errors", 0)
            + faults.get("board.crc_errors", 0),
            "frames resent": faults.get("terminal.retransmits", 0)
            + faults.get("board.retransmits", 0),
            "duplicates dropped": faults.get("terminal.duplicates", 0)
            + faults.get("board.duplicates", 0),
            "board restarts": faults.get("link.board_resets", 0),
            "silences": faults.get("link.silences", 0),
            "events lost to a full board queue": faults.get("board.queue_overflows", 0),
        }
        seen = [f"{n} {what}" for what, n in worth.items() if n]
        if seen:
            text += "; link faults so far: " + ", ".join(seen)
        if self.problem:
            text += f"; {self.problem}"
        return text

    def query_stats(self, timeout: float = 2.0) -> dict[str, int]:
        """Ask the board for its counters now and wait for them."""
        self._stats_seen.clear()
        if not self.send(F.QUERY):
            raise DeviceUnavailable("I/O board request queue is full")
        if not self._stats_seen.wait(timeout):
            raise DeviceUnavailable(f"I/O board on {self.where} did not report its counters")
        return dict(self.board_stats)

    def _on_stats(self, payload: bytes) -> None:
        self.board_stats = F.unpack_stats(payload)
        self._stats_seen.set()

    def _on_note(self, payload: bytes) -> None:
        self.notes.append(payload.decode("utf-8", "replace"))
        del self.notes[:-20]
        log.warning("I/O board on %s says: %s", self.where, self.notes[-1])


def _cause(code: int) -> str:
    return F.RESET_CAUSES[code] if 0 <= code < len(F.RESET_CAUSES) else "unknown"
