"""Prepare events messages (decode, check, project, build rows), in a thread or a child process.

Preparing is pure CPU work, a little over half of what ingest spends per event. In one
process it shares the interpreter lock with the commit thread, and the two slow each other
down by more than the lock's share: measured in the ingest benchmark's worker, preparing took
about 1.6 times its single-threaded CPU and committing about 1.7 times. A child process
prepares on its own interpreter instead; what it hands back is a lean batch (no per-event
projection or typed body, see cloud.store.apply.PreparedBatch.lean), which costs a fraction
of preparing to unpickle. Messages go through the child strictly in order.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import multiprocessing.connection as mpc
import pickle
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cloud.ingest.decode import Rejection, decode_events_message
from cloud.store.apply import PreparedBatch, prepare_batch
from cloud.store.db import CloudDB, open_cloud_db
from cloud.store.effects import IngestRules
from cloud.store.rules import RuleBook
from cloud.store.stores import StoreClock

log = logging.getLogger(__name__)

#: Seconds a child process gets to exit once its pipe is closed.
CHILD_EXIT_S = 10.0
#: Seconds the worker waits for its prepare process to start (import, open the database).
CHILD_START_S = 60.0
#: What the child sends once it can prepare.
READY = b"ready"
#: Allocations between young-generation collections (Python's default: 700), in the worker
#: and its prepare process (see cloud.ingest.__main__).
GC_YOUNG_THRESHOLD = 20_000


@dataclass(frozen=True, slots=True)
class Pickled:
    """A result of the prepare process as it came down the pipe (pickle.loads makes it)."""

    data: bytes


class PrepareFailed(RuntimeError):
    """Preparing a message raised in the child (its type and text, as the parent's log shows)."""


class Preparer:
    """Decode and prepare events messages against the rules HQ published."""

    def __init__(self, rules: IngestRules, db: CloudDB | None = None) -> None:
        """``db`` is read for rules versions published after the start (none: fixed rules)."""
        self._rulebook = RuleBook(rules)
        self.rules = rules
        self.db = db

    def load(self) -> IngestRules:
        """Read every published rules version (at start)."""
        if self.db is not None:
            self.rules = self._rulebook.load(self.db)
        return self.rules

    def ensure(self, versions: Iterable[str]) -> IngestRules:
        """The rules, topped up first if any of ``versions`` is new to them."""
        if self.db is not None:
            self.rules = self._rulebook.ensure(self.db, versions)
        return self.rules

    def prepare(
        self,
        topic: str,
        payload: bytes,
        now_aware: dt.datetime,
        clocks: Mapping[str, StoreClock],
    ) -> PreparedBatch | Rejection:
        """Decode and project one events message; the database is read only for new rules."""
        decoded = decode_events_message(topic, payload)
        if isinstance(decoded, Rejection):
            return decoded
        # A sale priced with a version published a moment ago is checked against it.
        self.ensure({e.rules_version for e in decoded.events})
        return prepare_batch(
            store_id=decoded.store_id, terminal_id=decoded.terminal_id, events=decoded.events,
            topic=topic, rules=self.rules, now_aware=now_aware,
            unplaceable=decoded.unplaceable, clocks=clocks,
            copy_text=self.db is not None and self.db.is_postgres,
        )  # fmt: skip


def _serve(requests: mpc.Connection, results: mpc.Connection, db_url: str,
           rules: IngestRules) -> None:  # fmt: skip
    """The child: prepare each (topic, payload, now, clocks) received, send back the result."""
    import gc

    db = open_cloud_db(db_url)
    preparer = Preparer(rules, db)
    preparer.load()
    # Prepared batches are short-lived, and nothing loaded at start ever dies (see
    # cloud.ingest.__main__ for the same settings in the worker).
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    results.send_bytes(READY)
    try:
        while True:
            try:
                topic, payload, now_aware, clocks = requests.recv()
            except EOFError:
                return  # the parent closed its end: stopping
            result: object
            try:
                prepared = preparer.prepare(topic, payload, now_aware, clocks)
                result = prepared.lean() if isinstance(prepared, PreparedBatch) else prepared
            except Exception as err:  # the parent keeps the message aside, as a thread would
                result = PrepareFailed(f"{type(err).__name__}: {err}")
            # Plain pickle, not Connection.send: multiprocessing's pickler looks every object
            # up in its own reducer table, which made pickling a batch about half as fast.
            results.send_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        db.close()


class PrepareProcess:
    """A child process that prepares events messages, in the order they are sent."""

    def __init__(self, db_url: str, rules: IngestRules) -> None:
        """Start nothing yet: see start()."""
        self.db_url = db_url
        self.rules = rules
        self._process: Any = None
        self._send: mpc.Connection | None = None
        self._receive: mpc.Connection | None = None
        # Set by whichever of the worker's threads finds the child gone; read by both.
        self.broken = False
        self.started_at = time.monotonic()

    def start(self) -> None:
        """Start the child (spawned: the parent runs threads, which fork does not copy)."""
        self.started_at = time.monotonic()
        ctx = multiprocessing.get_context("spawn")
        child_requests, send = ctx.Pipe(duplex=False)
        receive, child_results = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=_serve, args=(child_requests, child_results, self.db_url, self.rules),
            name="ingest-prepare", daemon=True,
        )  # fmt: skip
        self._process.start()
        child_requests.close()
        child_results.close()
        self._send, self._receive = send, receive
        # Ready means able to prepare: a worker announcing itself before the child has
        # imported and opened the database would leave the first messages waiting on it.
        try:
            ready = receive.recv_bytes() if receive.poll(CHILD_START_S) else b""
        except (EOFError, OSError):
            ready = b""
        if ready != READY:
            self.stop()
            raise RuntimeError(f"the prepare process did not start (exit code {self.exitcode})")

    @property
    def pid(self) -> int | None:
        """The child's process id (None before start)."""
        return None if self._process is None else int(self._process.pid)

    @property
    def exitcode(self) -> int | None:
        """The child's exit code once it has exited (negative: the signal that ended it)."""
        return None if self._process is None else self._process.exitcode

    def send(
        self, topic: str, payload: bytes, now_aware: dt.datetime,
        clocks: Mapping[str, StoreClock],
    ) -> None:  # fmt: skip
        """Hand a message to the child; raises OSError if the child is gone."""
        if self._send is None:
            raise OSError("the prepare process is not running")
        self._send.send((topic, payload, now_aware, dict(clocks)))

    def receive(self) -> bytes:
        """The next result, pickled, in the order sent; EOFError or OSError if the child died."""
        if self._receive is None:
            raise EOFError("the prepare process is not running")
        return self._receive.recv_bytes()

    # The two pipe ends are closed separately, each by the one thread that uses it: a
    # descriptor closed under a thread blocked reading it may be reused at once by the next
    # child's pipe, and that read would then take the new child's results.

    def close_sending(self) -> None:
        """Close the pipe to the child (it exits once it has answered what it holds)."""
        if self._send is not None:
            self._send.close()
            self._send = None

    def close_receiving(self) -> None:
        """Close the pipe from the child (answers still in it are dropped)."""
        if self._receive is not None:
            self._receive.close()
            self._receive = None

    def stop(self) -> None:
        """Close the pipes and wait for the child to exit (killed if it does not)."""
        self.close_sending()
        self.close_receiving()
        self.reap()

    def reap(self) -> None:
        """Wait for the child to exit (killed if it does not within CHILD_EXIT_S)."""
        if self._process is not None:
            self._process.join(CHILD_EXIT_S)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(CHILD_EXIT_S)
            self._process = None
