"""The ingest worker's heartbeat: its row, rewritten every few seconds (see store.workers)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from typing import Protocol

from cloud.store.db import CloudDB, utcnow
from cloud.store.workers import Beat, beat

log = logging.getLogger(__name__)
DEFAULT_INTERVAL_S = 5.0


class Observed(Protocol):
    """What the heartbeat reads from a worker."""

    client_id: str
    batches_applied: int
    last_commit_monotonic: float | None

    def load(self) -> tuple[bool, int]:
        """(connected to the broker, messages received but not yet committed)."""


class Heartbeat:
    """A daemon thread writing the worker's row until stopped; a final beat marks a clean stop."""

    def __init__(self, worker: Observed, cdb: CloudDB, interval_s: float = DEFAULT_INTERVAL_S):
        self.worker = worker
        self.cdb = cdb
        self.interval_s = interval_s
        self.started_at = utcnow()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"{worker.client_id}-heartbeat", daemon=True
        )

    def start(self) -> None:
        """Beat now, then every interval."""
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and record the clean stop."""
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 5)
        self.beat_once(stopped=True)

    def beat_once(self, *, stopped: bool = False) -> None:
        """Write one beat; a database error is logged, never raised (ingest goes on)."""
        connected, depth = self.worker.load()
        last = self.worker.last_commit_monotonic
        now = utcnow()
        last_at = None if last is None else now - dt.timedelta(seconds=time.monotonic() - last)
        try:
            beat(
                self.cdb,
                Beat(
                    client_id=self.worker.client_id,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    started_at=self.started_at,
                    now=now,
                    connected=connected and not stopped,
                    last_commit_at=last_at,
                    commits=self.worker.batches_applied,
                    queue_depth=depth,
                    interval_s=self.interval_s,
                    stopped=stopped,
                ),
            )
        except Exception as err:  # the heartbeat must never take ingest down
            log.warning("heartbeat not written: %s", err)
        finally:
            self.cdb.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.beat_once()
            self._stop.wait(self.interval_s)
