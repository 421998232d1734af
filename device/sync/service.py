"""SyncService: the one sync thread that owns the store and drives publish, ACK, downstream, status.

Threading: paho's network thread (loop_start) only puts items on `inbox`. The sync thread opens
the store itself (SQLite connections are per thread), then loops: take inbox items, apply ACKs
and downstream changes, fill the publish window, expire snapshots and catch-ups, publish status.
Other threads may call wake() (after recording a sale), stats() and stop().
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import msgspec

from device.store.errors import InvalidRecord
from device.sync.client import (
    BrokerSettings,
    Connected,
    Disconnected,
    Inbound,
    InboxItem,
    Link,
    Wake,
    published_ok,
)
from device.sync.downstream import DownstreamApplier, StreamSink
from device.sync.errors import SyncError
from device.sync.publisher import OutboxPublisher
from device.sync.remote import Ask, HqDesk
from device.sync.renew import IdentityFiles, Outcome, Renewer, finish_install
from device.sync.status import Health, StatusReporter
from device.sync.verify import Journal, SeqsLost, cloud_behind, span
from device.sync.verify import problem as ack_problem
from protocol import codec, topics
from protocol.bounds import MAX_SEQS_LOST
from protocol.envelope import Ack, CatchupRequest, Hello
from protocol.errors import ProtocolError
from protocol.problems import Said
from protocol.tls import certificate_end

log = logging.getLogger(__name__)

#: Pause after a failed loop step (store error) before trying again.
STEP_RETRY_S = 1.0


class SyncStore(Protocol):
    """What the sync thread needs from device.store (plus StreamSink via `sink_factory`)."""

    def outbox_wire(self, after_seq: int, limit: int, frame: Any) -> Any:
        """Unacked events after a seq, as (seq, wire envelope) pairs."""
        ...

    def outbox_ack(self, up_to_seq: int) -> Any:
        """Drop rows up to a seq."""
        ...

    def outbox_depth(self) -> int:
        """Rows still unacked."""
        ...

    def outbox_acked_seq(self) -> int:
        """The highest seq the cloud acknowledged."""
        ...

    def outbox_oldest_kept(self) -> int | None:
        """The lowest seq still in the outbox (acknowledged rows are kept to resend)."""
        ...

    def record_seqs_lost(self, lost: SeqsLost) -> int:
        """Queue the event naming seqs past the resend window that a restored cloud lost."""
        ...

    def resend_window_days(self) -> int:
        """How many days acknowledged events are kept to be sent again."""
        ...

    def oldest_unsynced_age_s(self, now: dt.datetime) -> float | None:
        """Age of the oldest unacked row, None when empty."""
        ...

    def journal(self) -> Journal:
        """Where the store file stands: epoch, last and acknowledged seqs, event ids."""
        ...

    def halted(self) -> str:
        """The recorded reason sync is stopped ("" when it is not)."""
        ...

    def halt(self, reason: str, ack: Ack) -> None:
        """Record that sync stopped, with the cloud's numbers (kept across restarts)."""
        ...

    def resume(self) -> None:
        """The cloud and this file agree again: forget a recorded halt."""
        ...


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """Tuning for one terminal's sync; the defaults suit a store on a normal uplink."""

    broker: BrokerSettings
    software_version: str = "0.0.0"
    batch_size: int = 200
    window: int = 8
    resend_after_s: float = 10.0
    poll_s: float = 0.05  # how often the outbox is looked at when nobody calls wake()
    status_interval_s: float = 30.0
    status_check_s: float = 0.5
    catchup_wait_s: float = 5.0
    # Besides every connect, ask again now and then: a lost last change of the day shows no gap.
    catchup_interval_s: float = 600.0
    snapshot_timeout_s: float = 60.0
    # The connect-time Hello is asked again this often until the cloud answers it.
    hello_retry_s: float = 5.0
    # While its certificate is due, the till asks for a new one this often (and at each start).
    renew_retry_s: float = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class SyncStats:
    """A copy of the sync thread's view, safe to read from any thread."""

    connected: bool = False
    acked_seq: int = 0
    sent_seq: int = 0
    outbox_depth: int = -1
    batches_sent: int = 0
    events_sent: int = 0
    resends: int = 0
    acks: int = 0
    statuses_sent: int = 0
    rejected_messages: int = 0
    down_applied: int = 0
    down_skipped: int = 0
    snapshots_loaded: int = 0
    snapshots_failed: int = 0
    catchups_requested: int = 0
    stream_versions: Mapping[str, int] = field(default_factory=dict)
    last_problem: str = ""  # the last refused inbound message, with its reason
    link_problem: str = ""  # why the broker link is down ("" while connected)
    # Why publishing has stopped: the cloud holds what this store file cannot have written
    # (restored from an old backup, or copied). Selling goes on; a technician repairs it.
    halted: str = ""
    verified: bool = False  # the cloud's answer to this connection's Hello agreed
    renewals_asked: int = 0  # signing requests published for a new certificate
    renewals_installed: int = 0  # renewed certificates installed (each followed by a reconnect)
    error: str = ""


class SyncService:
    """Runs terminal sync on its own thread: start(), wake() after each record, stop()."""

    def __init__(
        self,
        settings: SyncSettings,
        open_store: Callable[[], Any],
        sink_factory: Callable[[Any], StreamSink] = lambda store: store,
        printer: Callable[[], str] = lambda: "unknown",
        clock_synced: Callable[[], bool] = lambda: False,
        close_store: Callable[[Any], None] = lambda store: store.close(),
        self_test: Callable[[], Any] = lambda: None,
        device_problem: Callable[[], str] = lambda: "",
    ) -> None:
        """open_store runs on the sync thread and returns e.g. SyncStorage.open(path), which is
        also the StreamSink by default. printer and clock_synced are called from the sync thread:
        they should only read a value the runtime keeps current (no I/O, no locks held long).
        """
        self.settings = settings
        self._open_store = open_store
        self._sink_factory = sink_factory
        self._close_store = close_store
        self._printer = printer
        self._clock_synced = clock_synced
        self._self_test = self_test
        # The till's own worst problem (a store file its background check found damaged):
        # it goes first into the retained status, ahead of anything sync itself noticed.
        self._device_problem = device_problem
        self._inbox: queue.Queue[InboxItem] = queue.Queue()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # notified with each new snapshot
        self._stats = SyncStats()
        self.heartbeat = time.monotonic()
        b = settings.broker
        self._ack_topic = topics.ack_topic(b.store_id, b.terminal_id)
        self._catchup_topic = topics.catchup_topic(b.store_id, b.terminal_id)
        self._hello_topic = topics.hello_topic(b.store_id, b.terminal_id)

    # -- any thread ---------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start the sync thread; returns once it has opened the store (not the broker)."""
        if self._thread is not None:
            raise SyncError("sync service already started")
        self._thread = threading.Thread(target=self._run, name="sync", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise SyncError(f"sync thread did not start within {timeout}s")
        if self._stats.error:
            raise SyncError(f"sync could not start: {self._stats.error}")

    def wake(self) -> None:
        """Look at the outbox now (call after committing a sale)."""
        self._inbox.put(Wake())

    def ask(
        self, request_id: str, query: Any, timeout_s: float, answer: Callable[[object], None] | None
    ) -> None:
        """Put a question to the cloud; ``answer`` gets its Hq* event (None: no answer wanted).

        Never blocks: the sync thread publishes it and answers by itself on a timeout.
        """
        self._inbox.put(Ask(request_id, query, timeout_s, answer))  # type: ignore[arg-type]

    def stats(self) -> SyncStats:
        """The latest counters from the sync thread."""
        with self._lock:
            return self._stats

    def stop(self, timeout: float = 10.0) -> None:
        """Publish a retained offline status, disconnect and join the thread."""
        self._stop.set()
        self._inbox.put(Wake())
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait(self, predicate: Callable[[SyncStats], bool], timeout: float) -> bool:
        """Block until predicate holds for the stats, or timeout (for tools and tests).

        Woken by each new stats snapshot, so it returns as soon as the sync thread's step that
        made the predicate true has ended; the predicate runs outside the lock (it may call
        stats() itself) and is asked again at least every 20 ms in case it reads other state.
        """
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._changed:
                if self._stats is stats:
                    self._changed.wait(min(left, 0.02))

    # -- sync thread only ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            store = self._open_store()
        except Exception as err:
            with self._changed:
                self._stats = SyncStats(error=f"{type(err).__name__}: {err}")
                self._changed.notify_all()
            self._ready.set()
            return
        try:
            _Loop(self, store).run()
        except Exception:
            log.exception("sync thread failed")
            raise
        finally:
            self._close_store(store)


class _Loop:
    """The sync thread's state; lives and dies on that thread."""

    def __init__(self, svc: SyncService, store: Any) -> None:
        s = svc.settings
        b = s.broker
        self.svc = svc
        self.store = store
        self.reporter = StatusReporter(
            b.store_id,
            b.terminal_id,
            s.software_version,
            printer=svc._printer,
            clock_synced=svc._clock_synced,
            self_test=svc._self_test,
            interval_s=s.status_interval_s,
            cert_not_after=lambda: certificate_end(b.cert_file),
        )
        self.applier = DownstreamApplier(
            svc._sink_factory(store),
            b.store_id,
            self._send_catchup,
            catchup_wait_s=s.catchup_wait_s,
            snapshot_timeout_s=s.snapshot_timeout_s,
        )
        versions = self.applier.versions()
        self.renewer = self._new_renewer()
        self.link = Link(b, svc._inbox, self.reporter.will(store.outbox_depth(), versions))
        self.desk = HqDesk(b.store_id, b.terminal_id, self._send_request)
        self.publisher = self._new_publisher()
        self.acks = 0
        self.link_problem = ""
        self.ack_due = 0
        self.statuses_sent = 0
        self.rejected = 0
        self.last_problem = ""
        self.cloud_gap = ""  # what a cloud restored from a backup lost, until it has it again
        self.gap_until = 0  # the seq the cloud's ACK must reach again to close that gap
        self.gap_lost = ""  # the part of it past the resend window, for HQ to recover
        self.depth = store.outbox_depth()
        self.versions = versions
        self.next_check = 0.0
        self.next_catchup = float("inf")  # set on connect
        self.nonce = ""
        self.hello_at = 0.0
        # The link's Connected item has been handled: the first Hello went out with it, so
        # retries count from there (the link can be up a moment before that item is read).
        self.greeted = False
        self.verified = False
        self.halted = store.halted()
        self.journal = store.journal()

    def _new_renewer(self) -> Renewer | None:
        s, b = self.svc.settings, self.svc.settings.broker
        if b.ca_file is None or b.cert_file is None or b.key_file is None:
            return None  # a password login has no certificate to renew
        files = IdentityFiles(b.ca_file, b.cert_file, b.key_file)
        finish_install(files)  # before the link loads the pair
        return Renewer(
            b.store_id, b.terminal_id, files,
            lambda topic, payload: published_ok(self.link.publish(topic, payload, retain=True)),
            retry_s=s.renew_retry_s,
        )  # fmt: skip

    def _new_publisher(self) -> OutboxPublisher:
        s, b = self.svc.settings, self.svc.settings.broker
        return OutboxPublisher(
            self.store,
            self._send,
            b.store_id,
            b.terminal_id,
            batch_size=s.batch_size,
            window=s.window,
            resend_after_s=s.resend_after_s,
            epoch=self.store.journal().epoch,
        )

    def _hello(self, now: float) -> None:
        """Tell the cloud where this journal stands; publishing waits for its answer."""
        b = self.svc.settings.broker
        self.journal = self.store.journal()
        self.nonce = secrets.token_hex(8)
        self.hello_at = now
        hello = Hello(
            terminal_id=b.terminal_id, store_id=b.store_id, epoch=self.journal.epoch,
            last_seq=self.journal.last_seq, acked_seq=self.journal.acked_seq, nonce=self.nonce,
            software_version=self.svc.settings.software_version,
        )  # fmt: skip
        self.link.publish(self.svc._hello_topic, codec.encode_hello(hello))

    def _send(self, topic: str, payload: bytes) -> bool:
        return self.link.connected and published_ok(self.link.publish(topic, payload))

    def _send_request(self, topic: str, payload: bytes, properties: Any) -> bool:
        return published_ok(self.link.publish(topic, payload, properties=properties))

    def _send_catchup(self, streams: dict[str, int]) -> None:
        b = self.svc.settings.broker
        # convert() checks every stream name against the protocol's list of streams.
        request = msgspec.convert(
            {"terminal_id": b.terminal_id, "store_id": b.store_id, "streams": streams},
            CatchupRequest,
        )
        payload = codec.encode_catchup(request)
        self.link.publish(self.svc._catchup_topic, payload)

    def run(self) -> None:
        svc = self.svc
        self.link.start()
        self._publish_stats()
        svc._ready.set()
        try:
            while not svc._stop.is_set():
                svc.heartbeat = time.monotonic()  # read by the systemd watchdog (device.watchdog)
                try:
                    item: InboxItem | None = svc._inbox.get(timeout=svc.settings.poll_s)
                except queue.Empty:
                    item = None
                try:
                    self._step(item)
                except Exception as err:
                    # A store error (disk, lock timeout) must not end sync for good: the
                    # outbox still holds everything, so report it, wait, and try again.
                    log.exception("sync step failed; retrying in %.0fs", STEP_RETRY_S)
                    self.last_problem = Said("sync.step", kind=type(err).__name__, error=err)
                    self._publish_stats()
                    svc._stop.wait(STEP_RETRY_S)
        finally:
            self._farewell()

    def _step(self, item: InboxItem | None) -> None:
        svc = self.svc
        now = time.monotonic()
        while item is not None:
            self._handle(item, now)
            try:
                item = svc._inbox.get_nowait()
            except queue.Empty:
                item = None
        self._apply_ack(now)
        self.desk.tick(now)
        if self.greeted and self.link.connected and not self.verified:
            self._maybe_resume(now)
            if now - self.hello_at >= svc.settings.hello_retry_s:
                self._hello(now)
        self.publisher.tick(now)
        self.applier.tick(now)
        if self.renewer is not None:
            self.renewer.tick(now, self.link.connected)
        if now >= self.next_check:
            self.next_check = now + svc.settings.status_check_s
            self._maybe_status(now)
        if now >= self.next_catchup and self.link.connected:
            self.next_catchup = now + svc.settings.catchup_interval_s
            self.applier.catch_up(now)
        self._publish_stats()

    def _farewell(self) -> None:
        try:
            depth, versions = self.store.outbox_depth(), self.applier.versions()
        except Exception:  # the store is what failed: say offline without the figures
            depth, versions = self.depth, self.versions
        # The goodbye keeps the newest problem: it is what HQ reads while the till is away.
        goodbye = Health(False, depth, None, versions, self._problem())
        self.link.stop(self.reporter.payload(goodbye))
        self._publish_stats()

    def _handle(self, item: InboxItem | Ask, now: float) -> None:
        if isinstance(item, Ask):
            self.desk.send(item, self.link.connected, now)
        elif isinstance(item, Inbound):
            if item.topic == self.svc._ack_topic:
                self._on_ack(item.payload, now)
            elif item.topic == self.desk.reply_topic:
                self.desk.on_reply(item.payload)
            elif self.renewer is not None and item.topic == self.renewer.cert_topic:
                self._on_cert(item.payload)
            else:
                self.applier.handle(item.topic, item.payload, now)
                self.versions = self.applier.versions()
        elif isinstance(item, Connected):
            log.info("connected (session present: %s)", item.session_present)
            self.link_problem = ""
            self.verified = False  # events wait for the cloud's answer to this Hello
            self.greeted = True
            self._hello(now)
            self.reporter.reset()
            self.applier.catch_up(now)
            self.next_catchup = now + self.svc.settings.catchup_interval_s
            self.next_check = 0.0
        elif isinstance(item, Disconnected):
            log.info("disconnected: %s", item.reason)
            self.link_problem = item.reason
            self.verified = False
            self.greeted = False
            self.publisher.on_disconnected()
            self.desk.on_disconnected()
        elif isinstance(item, Wake):
            pass  # the tick after this drain does the work

    def _on_cert(self, payload: bytes) -> None:
        assert self.renewer is not None
        outcome = self.renewer.on_cert(payload)
        if outcome is Outcome.REFUSED:
            self.rejected += 1
            self.last_problem = self.renewer.stats.last_problem
        elif outcome is Outcome.INSTALLED:
            if getattr(self.last_problem, "msg_id", "") == "renew.refused":
                self.last_problem = ""  # a good answer came after the bad one
            self.link.reconnect()  # the broker checks certificates only at the handshake

    def _on_ack(self, payload: bytes, now: float) -> None:
        try:
            ack = codec.decode_ack(payload)
            if ack.terminal_id != self.svc.settings.broker.terminal_id:
                raise ProtocolError(f"ACK for terminal {ack.terminal_id!r}")
        except ProtocolError as err:
            self.rejected += 1
            self.last_problem = Said("ack.bad", error=err)
            log.warning("ACK dropped: %s", err)
            return
        self.acks += 1
        if ack.hello and ack.hello != self.nonce:
            return  # the answer to an earlier connection's Hello
        # A repair may have landed since the last tick: take its epoch (and a publisher that
        # stamps it) before this answer can resume sync under the old one.
        self._maybe_resume(now)
        self.journal = self.store.journal()
        found = ack_problem(ack, self.journal)
        if found and (ack.hello or ack.conflicts):
            # The cloud's own verdict on this store file: stop before it does any harm.
            self._halt(found, ack)
            return
        if found:
            # An ordinary ACK this journal cannot own is never applied (it would mark unsynced
            # sales acknowledged); the Hello at the next connect settles what the cloud holds.
            self.rejected += 1
            self.last_problem = Said("ack.ignored", seq=ack.acked_seq, reason=found)
            log.error("ACK ignored: %s", found)
            return
        if ack.hello:
            self._check_cloud_behind(ack, now)
        elif self.gap_until and ack.acked_seq >= self.gap_until:
            log.warning("the cloud holds this terminal's events up to seq %d again", ack.acked_seq)
            self.last_problem = self.gap_lost  # the lost seqs still wait for HQ
            self.cloud_gap, self.gap_until, self.gap_lost = "", 0, ""
        if ack.hello and not self.verified:
            self.verified = True
            if self.halted:
                log.warning("the cloud agrees with this store file again; sync resumes")
                self.store.resume()
                self.halted = ""
            self.publisher.on_connected(now)
        if ack.dead_lettered:
            log.error("cloud kept seqs %s aside as unreadable", ack.dead_lettered[:20])
            self.last_problem = Said("ack.dead_lettered", seqs=ack.dead_lettered[:20])
        # ACKs that queued up together are applied as one delete (one store transaction).
        self.ack_due = max(self.ack_due, ack.acked_seq)

    def _check_cloud_behind(self, ack: Ack, now: float) -> None:
        """A Hello answer below what the cloud acknowledged before (its database restored from
        a backup): send the kept events again from its mark, and name what cannot be."""
        oldest = self.store.outbox_oldest_kept()
        behind = cloud_behind(ack, self.journal, oldest, self.store.resend_window_days())
        if behind is None:
            if self.gap_lost:  # closed while the link was down: the lost seqs still wait
                self.last_problem = self.gap_lost
            self.cloud_gap, self.gap_until, self.gap_lost = "", 0, ""
            return
        if behind.text != self.cloud_gap:
            log.error("%s", behind.text)
        self.cloud_gap, self.gap_until = behind.text, behind.acked_seq
        self.gap_lost = ""
        if behind.lost is not None:
            lost = behind.lost
            self.gap_lost = Said("cloud.gap_lost", seqs=span(lost.first, lost.last))
            # Told to the cloud as an event after the others, so its mark can pass them and
            # every later sale still drains; HQ sees them as lost (docs/sync.md).
            for first in range(lost.first, lost.last + 1, MAX_SEQS_LOST):
                last = min(lost.last, first + MAX_SEQS_LOST - 1)
                self.store.record_seqs_lost(replace(lost, first=first, last=last))
        # An ACK queued before this answer is older news than what the cloud holds now.
        self.ack_due = 0
        self.publisher.rewind(behind.cloud_seq, now)

    def _halt(self, reason: str, ack: Ack) -> None:
        """Stop publishing for good (until a repair): never apply an ACK this file cannot own."""
        if not self.halted:
            log.error("sync stopped: %s", reason)
        self.halted = reason
        self.verified = False
        self.ack_due = 0
        self.publisher.on_disconnected()
        self.store.halt(reason, ack)

    def _maybe_resume(self, now: float) -> None:
        """A technician's repair gave the file a new epoch while this service ran: start over."""
        if not self.halted:
            return
        journal = self.store.journal()
        if journal.epoch != self.journal.epoch and not self.store.halted():
            log.warning("store file now has epoch %s; sync starts again", journal.epoch)
            self.halted = ""
            self.journal = journal
            self.publisher = self._new_publisher()
            self.hello_at = -1e9  # ask again at once

    def _apply_ack(self, now: float) -> None:
        if self.ack_due <= self.publisher.acked_seq:
            return
        acked = self.ack_due
        try:
            self.publisher.on_ack(acked, now)
        except InvalidRecord as err:  # an ACK beyond anything written here: never retried
            self.ack_due = 0
            self.rejected += 1
            self.last_problem = Said("ack.refused", seq=acked, error=err)
            log.error("ACK %d refused by the store: %s", acked, err)
            return
        except Exception as err:  # busy or failing store: keep the ACK and retry next step
            self.last_problem = Said("ack.pending", seq=acked, error=err)
            log.warning("ACK %d not applied yet: %s", acked, err)
            return
        self.ack_due = 0

    def _problem(self) -> str:
        """The newest problem for HQ: a halted sync first, then the till's own (a damaged store
        file), then what sync itself refused."""
        return (
            self.halted
            or self.cloud_gap
            or self.svc._device_problem()
            or self.applier.stats.last_problem
            or self.last_problem
        )

    def _maybe_status(self, now: float) -> None:
        self.depth = self.store.outbox_depth()
        self.versions = self.applier.versions()
        problem = self._problem()
        if not (self.link.connected and self.reporter.due(now, self.depth, self.versions, problem)):
            return
        wall = dt.datetime.now(dt.UTC)
        health = Health(True, self.depth, self.store.oldest_unsynced_age_s(wall), self.versions,
                        problem, self._rules_version())  # fmt: skip
        self.link.publish(self.link.status_topic, self.reporter.payload(health, wall), retain=True)
        self.reporter.sent(now, self.depth, self.versions, problem)
        self.statuses_sent += 1

    def _rules_version(self) -> str:
        held = getattr(self.store, "rules_version", None)  # stores without rules report none
        return str(held(self.svc.settings.broker.store_id)) if held is not None else ""

    def _publish_stats(self) -> None:
        p = self.publisher.stats()
        d = self.applier.stats
        stats = SyncStats(
            connected=self.link.connected,
            acked_seq=p.acked_seq,
            sent_seq=p.sent_seq,
            outbox_depth=self.depth,
            batches_sent=p.batches_sent,
            events_sent=p.events_sent,
            resends=p.resends,
            acks=self.acks,
            statuses_sent=self.statuses_sent,
            rejected_messages=self.rejected + d.rejected,
            down_applied=d.applied,
            down_skipped=d.skipped,
            snapshots_loaded=d.snapshots_loaded,
            snapshots_failed=d.snapshots_failed,
            catchups_requested=d.catchups_requested,
            stream_versions=dict(self.versions),
            last_problem=self.halted or self.cloud_gap or d.last_problem or self.last_problem,
            link_problem=self.link_problem,
            halted=self.halted,
            verified=self.verified,
            renewals_asked=self.renewer.stats.asked if self.renewer else 0,
            renewals_installed=self.renewer.stats.installed if self.renewer else 0,
        )
        with self.svc._changed:
            self.svc._stats = stats
            self.svc._changed.notify_all()
