"""The ingest worker: shared-subscription MQTT consumer that stores batches, then ACKs terminals.

Per events message, in this order: one database transaction (insert new events, project
them, advance the high-water mark); commit; publish any member changes the batch caused and
the terminal's ACK; only then PUBACK the message to the broker (paho ``manual_ack``). A worker
killed anywhere before the PUBACK gets the message redelivered when its persistent session
reconnects, and re-applying it is a no-op because (terminal, seq) is unique.

Under a backlog (tills back from an outage) the commit thread finds more prepared events
messages already waiting, and commits up to ``group_max`` of them in one transaction
(cloud.store.apply.commit_group): the same steps, each message keeping its own outcome and
ACK, but one commit and one member push for the group. It never waits for more messages, so
a worker that keeps up commits one message per transaction as before.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import paho.mqtt.client as mqtt
import peewee as pw

from cloud.domain.flags import Flag
from cloud.ingest.certs import CertDesk
from cloud.ingest.decode import Rejection
from cloud.ingest.heartbeat import DEFAULT_INTERVAL_S, Heartbeat
from cloud.ingest.preparer import Pickled, PrepareProcess, Preparer
from cloud.ingest.requests import RequestDesk, RequestSettings
from cloud.mqtt import (
    DEFAULT_SESSION_EXPIRY_S,
    BrokerSettings,
    connect_properties,
    make_client,
)
from cloud.store.apply import (
    BatchOutcome,
    IngestRules,
    PreparedBatch,
    commit_batch,
    commit_group,
    flag_terminal,
    record_dead_letter,
    reject_payload,
)
from cloud.store.db import CloudDB, open_cloud_db, utcnow
from cloud.store.downstream import changes_since, raise_to
from cloud.store.effects import PendingDown
from cloud.store.isolate import REFUSALS, commit_isolating
from cloud.store.staff import absorb_pin_events
from cloud.store.stores import StoreClock
from cloud.store.terminals import hello_problem, terminal_state
from protocol.codec import decode_catchup, decode_hello, decode_status, encode_ack, encode_down
from protocol.envelope import MAX_LISTED_SEQS, Ack, DownChange, utc_iso
from protocol.errors import ProtocolError, SchemaError
from protocol.topics import (
    ALL_CERT,
    ALL_STATUS,
    PREFIX,
    STREAMS,
    ack_topic,
    down_topic,
    never_retained,
    parse_catchup_topic,
    parse_hello_topic,
    parse_status_topic,
    terminal_down_topic,
)

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: How long a transient database failure (lock, deadlock, lost connection) is retried.
RETRY_FOR_S = 60.0
#: Changes read per query when answering a catch-up request.
CATCHUP_PAGE = 1000
#: Events messages committed in one transaction at most, when that many are already waiting:
#: eight batches of the usual ~250 events share one commit and one member push (7/8 of those
#: costs gone; sixteen measured no better) while the group's transaction stays short (~0.1-0.2
#: s here), so the first message's ACK is barely later and another worker waits little on the
#: rows it holds.
GROUP_MAX = 8
#: Events in one group at most (a group stops before the message that would pass it).
GROUP_EVENTS = 2000
#: An events message up to this size is prepared in the worker when its prepare process is
#: idle (about 20 sales: a till that keeps up sends one or a few): the child's round trip
#: costs more latency than such a message takes to prepare. A backlog goes to the child.
PREPARE_HERE_BYTES = 16 * 1024
#: Seconds after a prepare process started before one that died is replaced: a message
#: that kills it every time is then prepared in the worker, not in a restart loop.
CHILD_RESTART_S = 30.0


def _replayed(msg: mqtt.MQTTMessage) -> bool:
    """A retained copy on a topic where only a live message means anything (the broker sends
    live messages to subscribers with the retain flag cleared)."""
    return bool(msg.retain) and never_retained(msg.topic)


def _fresh_events(msg: mqtt.MQTTMessage) -> bool:
    return msg.topic.endswith("/events") and not _replayed(msg)


class IngestWorker:
    """One stateless ingest process; run several against one database to scale out."""

    def __init__(
        self,
        db_url: str,
        broker: BrokerSettings,
        *,
        client_id: str,
        share_group: str = "ingest",
        rules: IngestRules | None = None,
        session_expiry_s: int = DEFAULT_SESSION_EXPIRY_S,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        heartbeat_s: float = DEFAULT_INTERVAL_S,
        requests: RequestSettings | None = None,
        group_max: int = GROUP_MAX,
        group_events: int = GROUP_EVENTS,
        prepare_process: bool = False,
        prepare_here_bytes: int = PREPARE_HERE_BYTES,
        child_restart_s: float = CHILD_RESTART_S,
    ) -> None:
        self.db_url = db_url
        # Prepare in a child process (the service's default), or in a thread of this one.
        self.prepare_process = prepare_process
        self.prepare_here_bytes = prepare_here_bytes
        self.child_restart_s = child_restart_s
        self._child: PrepareProcess | None = None
        # 1: every events message in its own transaction, as when there is no backlog.
        self.group_max = max(1, group_max)
        self.group_events = group_events
        self.groups_committed = 0  # transactions that held more than one message
        self.broker = broker
        self.client_id = client_id
        self.share_group = share_group
        self.rules = rules or IngestRules()
        # Every rules version HQ published, topped up when a batch names a new one.
        self._preparer = Preparer(self.rules)
        self._store_clocks: Mapping[str, StoreClock] = {}
        self.session_expiry_s = session_expiry_s
        self.clock = clock
        self.batches_applied = 0
        self.events_inserted = 0
        self.last_commit_monotonic: float | None = None
        self._db: CloudDB | None = None
        self.heartbeat_s = heartbeat_s
        self._heartbeat: Heartbeat | None = None
        # Terminals' requests (coupons, receipts, return claims), answered on their reply topics.
        self.requests = RequestDesk(lambda: self.db, self._publish, self.rules, clock, requests)
        # Certificates the fleet's signer issued, so HQ's registration names the current one.
        ca_pem = Path(broker.tls_ca).read_bytes() if broker.tls_ca else None
        self.certs = CertDesk(lambda: self.db, ca_pem, clock)
        self._cert_mid: int | None = None
        # network thread -> prepare thread -> commit thread, strictly in arrival order (MQTT
        # wants PUBACKs in the order the messages came), so decoding and projecting the next
        # message overlaps the database round trips of the current one.
        self._inbox: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue()
        # With a prepare process: each message and how it is prepared ("child", "here" or
        # "none"), in arrival order, between the thread that sends and the one that receives.
        self._sent: queue.Queue[tuple[mqtt.MQTTMessage, str, PrepareProcess | None] | None] = (
            queue.Queue()
        )
        # Messages sent to a child, results taken back, and messages a child died holding
        # (each counted by one thread).
        self._to_child = self._from_child = self._unanswered = 0
        self._ready: queue.Queue[tuple[mqtt.MQTTMessage, object] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._stopping = threading.Event()
        self._client = make_client(broker, client_id, manual_ack=True)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> None:
        """Open the database, connect with a persistent session, subscribe; return when ready."""
        self._db = open_cloud_db(self.db_url)
        self._preparer.db = self._db
        self.rules = self._preparer.load()
        self._heartbeat = Heartbeat(self, self._db, self.heartbeat_s)
        log.info("ingest worker %s: %s", self.client_id, self.certs.trust_note())
        if self.prepare_process:
            self._child = PrepareProcess(self.db_url, self.rules)
            self._child.start()
            preparing = [
                threading.Thread(target=self._send_loop, name=f"{self.client_id}-send",
                                 daemon=True),
                threading.Thread(target=self._receive_loop, name=f"{self.client_id}-receive",
                                 daemon=True),
            ]  # fmt: skip
        else:
            preparing = [
                threading.Thread(target=self._prepare_loop, name=f"{self.client_id}-prepare",
                                 daemon=True),
            ]  # fmt: skip
        self._threads = [
            *preparing,
            threading.Thread(target=self._commit_loop, name=f"{self.client_id}-commit",
                             daemon=True),
        ]  # fmt: skip
        for thread in self._threads:
            thread.start()
        self._client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=self.broker.keepalive_s,
            clean_start=False,
            properties=connect_properties(self.session_expiry_s),
        )
        self._client.loop_start()
        self._heartbeat.start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise TimeoutError(
                f"ingest worker {self.client_id} not subscribed at "
                f"{self.broker.host}:{self.broker.port} within {timeout}s"
            )

    def stop(self) -> None:
        """Finish the message or group in hand, then disconnect (the session stays at the broker).

        Messages received but not yet committed are not acknowledged, so the broker sends
        them again when this client id reconnects.
        """
        self._stopping.set()
        self._inbox.put(None)
        for thread in self._threads:
            thread.join(timeout=RETRY_FOR_S)
        if self._child is not None:
            self._child.stop()
        self._client.disconnect()
        self._client.loop_stop()
        if self._heartbeat is not None:
            self._heartbeat.stop()
        if self._db is not None:
            self._db.close()

    def load(self) -> tuple[bool, int]:
        """(connected, messages received and not yet committed), for the heartbeat."""
        waiting = self._inbox.qsize() + self._sent.qsize() + self._ready.qsize()
        return self._connected.is_set(), waiting

    def wait(self) -> None:
        """Block until stop() is called (from a signal handler, say)."""
        self._stopping.wait()

    # -- paho callbacks (network thread) ------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, flags: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker refused ingest worker %s: %s", self.client_id, rc)
            return
        self._connected.set()
        log.info("ingest worker %s connected (session present: %s)", self.client_id,
                 flags.session_present)  # fmt: skip
        client.subscribe(
            [
                (f"$share/{self.share_group}/{PREFIX}/+/+/events", 1),
                (f"$share/{self.share_group}/{PREFIX}/+/+/catchup", 1),
                (f"$share/{self.share_group}/{PREFIX}/+/+/hello", 1),
                (f"$share/{self.share_group}/{PREFIX}/+/+/req", 1),
                # Not shared: retained status is only sent to plain subscriptions, and every
                # worker applying the same status is harmless.
                (ALL_STATUS, 1),
            ]
        )
        # Asked apart: a broker whose ACL predates this (until `fleet apply`) refuses it, and
        # the worker must still take events.
        _rc, self._cert_mid = client.subscribe(ALL_CERT, 1)

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[Any], _p: Any) -> None:
        failed = [rc for rc in rcs if rc.is_failure]
        if mid == self._cert_mid:
            if failed:
                log.error("ingest worker %s may not read the cert topics (%s): HQ's terminal "
                          "registrations will not follow renewed certificates until the broker's "
                          "rights are updated (provisioning: fleet apply)", self.client_id,
                          failed[0])  # fmt: skip
            return
        if failed:
            log.error("ingest worker %s: subscription refused: %s", self.client_id, failed)
            return
        self._subscribed.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("ingest worker %s disconnected: %s; reconnecting", self.client_id, rc)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put(msg)

    # -- pipeline threads ---------------------------------------------------------------

    def _prepare_loop(self) -> None:
        while (msg := self._inbox.get()) is not None:
            prepared = self._prepare_here(msg) if _fresh_events(msg) else None
            self._ready.put((msg, prepared))
        self._ready.put(None)

    def _send_loop(self) -> None:
        """Hand each events message to the prepare process, in arrival order."""
        while (msg := self._inbox.get()) is not None:
            how, child = "none", self._child
            if _fresh_events(msg):
                how, child = "here", self._usable_child()
                # A small message while the worker is idle (a till that keeps up) is prepared
                # here: the round trip to the child would only add latency. Behind others
                # (many tills back at once, each with a few sales) it goes to the child.
                busy = (self._to_child > self._from_child + self._unanswered
                        or not self._sent.empty() or not self._ready.empty())  # fmt: skip
                if child is not None and (busy or len(msg.payload) > self.prepare_here_bytes):
                    try:
                        child.send(msg.topic, bytes(msg.payload), self.clock(),
                                   self._store_clocks)  # fmt: skip
                        self._to_child += 1
                        how = "child"
                    except (OSError, ValueError) as err:  # the receiving thread prepares it
                        self._child_broke(child, f"unreachable ({err})")
            self._sent.put((msg, how, child))
        self._sent.put(None)

    def _usable_child(self) -> PrepareProcess | None:
        """The prepare process; one that broke is replaced once child_restart_s has passed
        since it started (None until then: messages are prepared in the worker)."""
        child = self._child
        if child is None or not child.broken:
            return child
        if time.monotonic() - child.started_at < self.child_restart_s:
            return None
        fresh = PrepareProcess(self.db_url, self.rules)
        try:
            fresh.start()
        except Exception as err:
            log.error("ingest worker %s: prepare process not restarted: %s", self.client_id, err)
            child.started_at = time.monotonic()  # tried again after the same interval
            return None
        child.close_sending()
        child.reap()  # its receiving end is the receiving thread's to close
        self._child = fresh
        log.warning("ingest worker %s: prepare process restarted (pid %s)", self.client_id,
                    fresh.pid)  # fmt: skip
        return fresh

    def _child_broke(self, child: PrepareProcess, why: str) -> None:
        if not child.broken:
            child.broken = True
            log.error("ingest worker %s: prepare process %s (exit code %s); preparing in this "
                      "process until it is restarted", self.client_id, why,
                      child.exitcode)  # fmt: skip

    def _receive_loop(self) -> None:
        """Take each prepare process's results in order (or prepare here if it died).

        Results are handed on still pickled: the commit thread unpickles each when it takes
        it, because unpickling a batch holds the interpreter lock for milliseconds, and done
        here it would stall the commit thread after every database round trip.
        """
        reading: PrepareProcess | None = None
        while (item := self._sent.get()) is not None:
            msg, how, child = item
            if child is not reading:
                if reading is not None and reading.broken:
                    reading.close_receiving()  # replaced: nothing more will come from it
                reading = child
            prepared: object = None
            if how == "child" and child is not None:
                try:
                    prepared = Pickled(child.receive())
                    self._from_child += 1
                except (EOFError, OSError) as err:
                    self._child_broke(child, f"died ({type(err).__name__})")
                    self._unanswered += 1
                    how = "here"
            if how == "here":
                prepared = self._prepare_here(msg)
            self._ready.put((msg, prepared))
        self._ready.put(None)

    def _prepare_here(self, msg: mqtt.MQTTMessage) -> object:
        try:
            return self.prepare_events(msg.topic, bytes(msg.payload))
        except Exception as err:  # handed on, so the commit thread keeps it aside
            return err

    def _take(self, item: tuple[mqtt.MQTTMessage, object]) -> tuple[mqtt.MQTTMessage, object]:
        """A ready item with a child's result unpickled (commit thread)."""
        msg, prepared = item
        if not isinstance(prepared, Pickled):
            return item
        try:
            result = pickle.loads(prepared.data)
        except Exception as err:  # a result that does not load: prepared here instead
            log.error("ingest worker %s: unreadable result from the prepare process (%s)",
                      self.client_id, err)  # fmt: skip
            return msg, self._prepare_here(msg)
        return msg, self._received(msg, result)

    def _received(self, msg: mqtt.MQTTMessage, result: object) -> object:
        """A child's lean batch, able to rebuild itself here (same payload, same receive time)."""
        if not isinstance(result, PreparedBatch):
            return result
        now_aware = result.now.replace(tzinfo=dt.UTC)
        payload = bytes(msg.payload)

        def rebuild() -> PreparedBatch:
            whole = self._preparer.prepare(msg.topic, payload, now_aware, self._store_clocks)
            if not isinstance(whole, PreparedBatch):
                raise RuntimeError(f"a batch of {result.terminal_id} no longer decodes")
            return whole

        return replace(result, rebuild=rebuild)

    def _commit_loop(self) -> None:
        carried: tuple[mqtt.MQTTMessage, object] | None = None
        while True:
            item = carried if carried is not None else self._ready.get()
            if item is not None:
                item = self._take(item)
            carried = None
            if item is None:
                return
            if self._stopping.is_set():
                continue  # not acknowledged: redelivered when this client id reconnects
            msg, prepared = item
            if _replayed(msg):
                self._ignore_retained(msg)
                continue
            if isinstance(prepared, PreparedBatch) and not prepared.complete:
                # Prepared by the child against its rules: these are topped up the same way.
                self.rules = self._preparer.ensure(e.rules_version for e in prepared.events)
            if not isinstance(prepared, PreparedBatch) or self.group_max == 1:
                self._process(msg, prepared)
                continue
            group, carried, end = self._gather(msg, prepared)
            if len(group) == 1:
                self._process(msg, prepared)
            else:
                self._process_group(group)
            if end:
                return

    def _gather(
        self, msg: mqtt.MQTTMessage, prepared: PreparedBatch
    ) -> tuple[list[tuple[mqtt.MQTTMessage, PreparedBatch]], Any, bool]:
        """This message and the prepared events messages already waiting behind it, up to the
        caps: (the group, the message that ended it if taken off the queue, whether the queue
        ended). Never waits: without a backlog a group is the one message."""
        group = [(msg, prepared)]
        events = len(prepared.events)
        while len(group) < self.group_max:
            try:
                item = self._ready.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return group, None, True
            item = self._take(item)
            nxt = item[1]
            # Anything else (a rejection, a status, a hello...) is handled after the group,
            # alone and in order; so is a message that would make the group too large.
            if not isinstance(nxt, PreparedBatch) or events + len(nxt.events) > self.group_events:
                return group, item, False
            group.append((item[0], nxt))
            events += len(nxt.events)
        return group, None, False

    def _process_group(self, group: list[tuple[mqtt.MQTTMessage, PreparedBatch]]) -> None:
        """Commit several events messages in one transaction, then announce and PUBACK each
        in arrival order; if the database refuses the group's content, one by one instead."""
        try:
            done = self._retrying(
                lambda: commit_group(self.db, [prepared for _, prepared in group], self.rules)
            )
        except (pw.OperationalError, pw.InterfaceError):
            log.exception("ingest worker %s: database unavailable for a group of %d messages",
                          self.client_id, len(group))  # fmt: skip
            return  # none acknowledged: the broker redelivers them all
        except Exception as err:
            # A batch the database refuses (or one that trips a bug) rolled the group back:
            # each message is committed alone, exactly as without grouping, so the good ones
            # are stored and the bad one is kept aside by its own fallback.
            known = isinstance(err, REFUSALS)
            (log.warning if known else log.exception)(
                "ingest worker %s: a group of %d messages failed (%s); committing them one by "
                "one", self.client_id, len(group), err,
            )  # fmt: skip
            for msg, prepared in group:
                self._process(msg, prepared)
            return
        self.groups_committed += 1
        sent_at = utc_iso(self.clock())
        for (_, prepared), outcome in zip(group, done.outcomes, strict=True):
            self._committed(prepared, outcome)
            self._publish_down(outcome.down, sent_at)
        self._publish_down(done.down, sent_at)  # the group's member push, after every merge
        for (_, prepared), outcome in zip(group, done.outcomes, strict=True):
            self._acknowledge(prepared, outcome, sent_at)
        for msg, _ in group:
            if msg.qos > 0:
                self._client.ack(msg.mid, msg.qos)

    def _ignore_retained(self, msg: mqtt.MQTTMessage) -> None:
        """Acknowledge, and do nothing else with, a retained copy of a batch or a question: it
        was handled when it was published, and answering it again would repeat its effect."""
        log.warning(
            "ingest worker %s ignored a retained message on %s: terminals never retain what "
            "they send there, and the broker replays a retained one to every new subscriber "
            "(it stays at the broker until that terminal's identity clears it)",
            self.client_id, msg.topic,
        )  # fmt: skip
        if msg.qos > 0:
            self._client.ack(msg.mid, msg.qos)

    def _process(self, msg: mqtt.MQTTMessage, prepared: object) -> None:
        payload = bytes(msg.payload)
        try:
            if isinstance(prepared, Exception):
                raise prepared
            self._dispatch(msg.topic, payload, prepared)
        except (pw.OperationalError, pw.InterfaceError):
            # The database is unreachable: not acknowledged, so the broker redelivers on
            # reconnect and the terminal resends after its timeout. Delayed, never lost.
            log.exception("ingest worker %s: database unavailable for %s", self.client_id,
                          msg.topic)  # fmt: skip
            return
        except Exception as err:
            # A message that trips a bug would come back forever and pin a broker in-flight
            # slot; keep it as a dead letter instead, then acknowledge it.
            log.exception("ingest worker %s failed on %s", self.client_id, msg.topic)
            try:
                self._keep_aside(msg.topic, payload, f"internal error: {type(err).__name__}: {err}")
            except Exception:
                log.exception("ingest worker %s: could not dead-letter it either", self.client_id)
                return
        if msg.qos > 0:
            self._client.ack(msg.mid, msg.qos)

    # -- handling -----------------------------------------------------------------------

    @property
    def db(self) -> CloudDB:
        """The worker's database (opened by start())."""
        if self._db is None:
            raise RuntimeError("ingest worker not started")
        return self._db

    def _dispatch(self, topic: str, payload: bytes, prepared: object) -> None:
        if topic.endswith("/events"):
            assert isinstance(prepared, PreparedBatch | Rejection)
            self._retrying(lambda: self.commit_events(topic, payload, prepared))
        elif topic.endswith("/status"):
            self._retrying(lambda: self.handle_status(topic, payload))
        elif topic.endswith("/catchup"):
            self._retrying(lambda: self.handle_catchup(topic, payload))
        elif topic.endswith("/hello"):
            self._retrying(lambda: self.handle_hello(topic, payload))
        elif topic.endswith("/req"):
            self._retrying(lambda: self.requests.handle(topic, payload))
        elif topic.endswith("/cert"):
            self._retrying(lambda: self.certs.handle(topic, payload))
        else:
            log.warning("ingest worker ignoring unexpected topic %s", topic)

    def _keep_aside(self, topic: str, payload: bytes, reason: str) -> None:
        with self.db.write():
            record_dead_letter(self.db, topic=topic, terminal_id="", claimed_terminal_id="",
                               reason=reason, seqs=[], payload=payload, now=utcnow())  # fmt: skip

    def _retrying(self, action: Callable[[], _T]) -> _T:
        deadline = time.monotonic() + RETRY_FOR_S
        delay = 0.05
        while True:
            try:
                return action()
            except (pw.OperationalError, pw.InterfaceError) as err:
                # Locked, deadlocked or disconnected: the transaction rolled back whole, so
                # running it again is safe.
                if time.monotonic() > deadline or self._stopping.is_set():
                    raise
                log.warning("ingest worker %s: transient database error, retrying: %s",
                            self.client_id, err)  # fmt: skip
                self.db.close()
                time.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _publish(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=1, retain=False)

    def prepare_events(self, topic: str, payload: bytes) -> PreparedBatch | Rejection:
        """Decode and project one events message; the database is read only for new rules."""
        prepared = self._preparer.prepare(topic, payload, self.clock(), self._store_clocks)
        self.rules = self._preparer.rules
        return prepared

    def handle_events(self, topic: str, payload: bytes) -> BatchOutcome | int | None:
        """Store one events message (or dead-letter it) and ACK its terminal."""
        return self.commit_events(topic, payload, self.prepare_events(topic, payload))

    def commit_events(
        self, topic: str, payload: bytes, prepared: PreparedBatch | Rejection
    ) -> BatchOutcome | int | None:
        """Commit a prepared message (or dead-letter a rejected one), then ACK its terminal."""
        if isinstance(prepared, Rejection):
            return self._reject(topic, payload, prepared)
        try:
            outcome = commit_batch(self.db, prepared, self.rules)
        except (pw.IntegrityError, pw.DataError, pw.ProgrammingError) as err:
            # The database refused the content itself; retrying cannot help, so keep it aside.
            log.warning("storage refused a batch of %s (%s); storing it event by event",
                        prepared.terminal_id, err)  # fmt: skip
            outcome = commit_isolating(self.db, prepared, self.rules, str(err))
        self._committed(prepared, outcome)
        sent_at = utc_iso(self.clock())
        self._publish_down(outcome.down, sent_at)
        self._acknowledge(prepared, outcome, sent_at)
        return outcome

    def _committed(self, prepared: PreparedBatch, outcome: BatchOutcome) -> None:
        # Read by the prepare thread: the clocks the next batches' rollups are summed by (the
        # commit checks them against its own read, so an outdated one costs time, not figures).
        self._store_clocks = {**self._store_clocks, **outcome.clocks}
        self.batches_applied += 1
        self.events_inserted += outcome.inserted
        self.last_commit_monotonic = time.monotonic()

    def _publish_down(self, changes: list[PendingDown], sent_at: str) -> None:
        for change in changes:
            down = DownChange(
                stream=change.stream, version=change.version, scope=change.scope,
                kind=change.kind, items=change.items, sent_at=sent_at, previous=change.previous,
            )  # fmt: skip
            self._publish(down_topic(change.scope, change.stream), encode_down(down))

    def _acknowledge(self, prepared: PreparedBatch, outcome: BatchOutcome, sent_at: str) -> None:
        """ACK the terminal (after the commit), then what a PIN set at a till changes."""
        ack = Ack(
            terminal_id=prepared.terminal_id,
            acked_seq=outcome.high_water,
            dead_lettered=outcome.dead_lettered[:MAX_LISTED_SEQS],
            acked_event_id=outcome.acked_event_id,
            max_seq=outcome.max_seq,
            epoch=outcome.epoch,
            conflicts=outcome.conflicts[:MAX_LISTED_SEQS],
        )
        self._publish(ack_topic(prepared.store_id, prepared.terminal_id), encode_ack(ack))
        if outcome.inserted and any(e.type == "staff_pin_set" for e in prepared.events):
            # A PIN set at a till: HQ's register takes its hash, the store's other tills too.
            for change in absorb_pin_events(self.db, utcnow()):
                self._publish(down_topic(change["scope"], change["stream"]),
                              encode_down(DownChange(sent_at=sent_at, **change)))  # fmt: skip

    def _reject(self, topic: str, payload: bytes, rejection: Rejection) -> int | None:
        log.warning("dead-lettered message on %s: %s", topic, rejection.reason)
        found = reject_payload(
            self.db, topic=topic, store_id=rejection.store_id,
            terminal_id=rejection.terminal_id, claimed_terminal_id=rejection.claimed_terminal_id,
            reason=rejection.reason, seqs=rejection.seqs, payload=payload,
            placeable=rejection.placeable, clock=self.clock,
        )  # fmt: skip
        if found is None or not (rejection.store_id and rejection.terminal_id):
            return None
        mark, event_id = found
        ack = Ack(
            terminal_id=rejection.terminal_id, acked_seq=mark, acked_event_id=event_id,
            dead_lettered=sorted(set(rejection.seqs))[:MAX_LISTED_SEQS],
        )  # fmt: skip
        self._publish(ack_topic(rejection.store_id, rejection.terminal_id), encode_ack(ack))
        return mark

    def handle_status(self, topic: str, payload: bytes) -> None:
        """Record a terminal's retained status (or its last will: offline)."""
        if not payload:
            return  # a cleared retained message
        now = utcnow()
        sender: tuple[str, str] | None = None
        try:
            sender = parse_status_topic(topic)
            status = decode_status(payload)
            if (status.store_id, status.terminal_id) != sender:
                raise SchemaError(
                    f"status claims {status.store_id}/{status.terminal_id} on the topic of "
                    f"{sender[0]}/{sender[1]}"
                )
        except ProtocolError as err:
            reason = Flag("status.unreadable", kind=type(err).__name__, error=err)
            log.warning("dead-lettered status on %s: %s", topic, reason)
            with self.db.write():
                record_dead_letter(
                    self.db, topic=topic, terminal_id=sender[1] if sender else "",
                    claimed_terminal_id="", reason=reason, seqs=[], payload=payload, now=now,
                )  # fmt: skip
                if sender is not None:
                    flag_terminal(self.db, sender[1], sender[0], reason, now)
            return
        store_id, terminal_id = sender
        m = self.db.models
        fields: dict[Any, Any] = {
            m.Terminal.online: status.online,
            m.Terminal.status: msgspec.to_builtins(status),
            m.Terminal.status_at: now,
            m.Terminal.outbox_depth: status.outbox_depth,
            m.Terminal.printer: status.printer[:32],
            m.Terminal.software_version: status.software_version[:64],
            m.Terminal.clock_synced: status.clock_synced,
        }
        if status.online:
            fields[m.Terminal.last_seen] = now
        with self.db.write():
            insert = m.Terminal.insert(terminal_id=terminal_id, store_id=store_id)
            insert.on_conflict_ignore().execute()
            m.Terminal.update(fields).where(m.Terminal.terminal_id == terminal_id).execute()
            self._above_tills(terminal_id, status.stream_versions)

    def _above_tills(self, terminal_id: str, held: Mapping[str, int]) -> None:
        """Keep each stream's counter at or above what a till holds (its status and its
        catch-ups say), inside a write transaction: a cloud database restored from a backup
        would otherwise number its next changes at versions the tills skip as applied."""
        for stream, version in held.items():
            if stream not in STREAMS:
                continue
            raised = raise_to(self.db, stream, version)
            if raised is not None:
                log.error(
                    "%s holds %s v%d but the change log ended at v%d: the cloud database is "
                    "older than the tills' view (restored from a backup?); new changes now "
                    "number above it, and what HQ changed since the backup must be pushed again",
                    terminal_id, stream, version, raised,
                )  # fmt: skip

    def handle_hello(self, topic: str, payload: bytes) -> Ack | None:
        """Answer a terminal's connect-time hello with what the cloud holds of it."""
        now = utcnow()
        try:
            store_id, terminal_id = parse_hello_topic(topic)
            hello = decode_hello(payload)
            if (hello.store_id, hello.terminal_id) != (store_id, terminal_id):
                raise SchemaError(f"hello claims {hello.store_id}/{hello.terminal_id}")
        except ProtocolError as err:
            with self.db.write():
                record_dead_letter(
                    self.db, topic=topic, terminal_id="", claimed_terminal_id="",
                    reason=f"hello: {type(err).__name__}: {err}", seqs=[], payload=payload,
                    now=now,
                )  # fmt: skip
            return None
        with self.db.write():
            state = terminal_state(self.db, terminal_id)
            problem = hello_problem(hello, state)
            if problem:
                flag_terminal(self.db, terminal_id, store_id, problem, now)
        ack = Ack(
            terminal_id=terminal_id, acked_seq=state.high_water, acked_event_id=state.event_id,
            max_seq=state.max_seq, epoch=state.epoch, hello=hello.nonce,
        )  # fmt: skip
        self._publish(ack_topic(store_id, terminal_id), encode_ack(ack))
        return ack

    def handle_catchup(self, topic: str, payload: bytes) -> int:
        """Answer a terminal's catch-up request with every change after its versions."""
        try:
            store_id, terminal_id = parse_catchup_topic(topic)
            request = decode_catchup(payload)
        except ProtocolError as err:
            with self.db.write():
                record_dead_letter(
                    self.db, topic=topic, terminal_id="", claimed_terminal_id="",
                    reason=f"catchup: {type(err).__name__}: {err}", seqs=[], payload=payload,
                    now=utcnow(),
                )  # fmt: skip
            return 0
        with self.db.write():
            self._above_tills(terminal_id, request.streams)
        sent = 0
        sent_at = utc_iso(self.clock())
        for stream, from_version in request.streams.items():
            after = from_version
            # Page through the log: a terminal back from a long outage may be far behind.
            while page := changes_since(self.db, stream, store_id, after, limit=CATCHUP_PAGE):
                for change in page:
                    down = DownChange(sent_at=sent_at, **change)
                    self._publish(terminal_down_topic(store_id, terminal_id, stream),
                                  encode_down(down))  # fmt: skip
                    sent += 1
                after = page[-1]["version"]
                if len(page) < CATCHUP_PAGE:
                    break
        return sent
