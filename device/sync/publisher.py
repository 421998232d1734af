"""Sends the outbox to the cloud in seq order; only the cloud's application ACK acknowledges rows.

The outbox is the queue (paho's queue lives in memory only). The publisher keeps a window of
in-flight batches; a broker PUBACK proves nothing about the cloud's database, so only an Ack
naming the highest contiguous seq the cloud stored acknowledges rows (the outbox keeps them for
its resend window, and rewind() sends them again to a cloud restored from a backup). When the
ACK makes no progress for `resend_after_s` while batches are in flight, everything after the
ACK is sent again: the cloud ignores (terminal, seq) it already holds, so a resend is safe.

Threading: one thread only (the sync thread) calls tick() and on_ack(); both touch the store.
Batches are packed here rather than with protocol.codec.pack_batches because the outbox already
holds each body as JSON: the store hands over each event as its finished wire envelope (built
by SQLite around the stored body), so packing is only joining bytes within the limits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from device.store.outbox import WireFrame
from protocol import topics
from protocol.envelope import MAX_BATCH_BYTES, MAX_EVENTS_PER_BATCH, PROTOCOL_VERSION

log = logging.getLogger(__name__)


class OutboxStore(Protocol):
    """The slice of device.store the publisher needs."""

    def outbox_wire(
        self, after_seq: int, limit: int, frame: WireFrame
    ) -> Sequence[tuple[int, bytes]]:
        """Unacked events with seq > after_seq as (seq, wire envelope JSON), in seq order."""
        ...

    def outbox_ack(self, up_to_seq: int) -> int:
        """Acknowledge every row with seq <= up_to_seq (pruning those past the resend window)."""
        ...

    def outbox_acked_seq(self) -> int:
        """The highest seq the cloud has acknowledged (the outbox's ACKED counter)."""
        ...


@dataclass(slots=True)
class _InFlight:
    first_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """Counters for status and benchmarks."""

    acked_seq: int
    sent_seq: int
    in_flight_batches: int
    batches_sent: int
    events_sent: int
    resends: int


class OutboxPublisher:
    """Drives the outbox towards the cloud; call tick() often and on_ack() for each ACK."""

    def __init__(
        self,
        store: OutboxStore,
        send: Callable[[str, bytes], bool],
        store_id: str,
        terminal_id: str,
        batch_size: int = 200,
        window: int = 8,
        resend_after_s: float = 10.0,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        epoch: str = "",
    ) -> None:
        if not 1 <= batch_size <= MAX_EVENTS_PER_BATCH:
            raise ValueError(f"batch_size {batch_size} is not 1-{MAX_EVENTS_PER_BATCH}")
        if window < 1 or resend_after_s <= 0:
            raise ValueError("window must be >= 1 and resend_after_s > 0")
        self._store = store
        self._send = send
        self._topic = topics.events_topic(store_id, terminal_id)
        self._batch_size = batch_size
        self._window = window
        self._resend_after_s = resend_after_s
        self._max_bytes = max_batch_bytes
        self._head = b'{"v":%d,"terminal_id":"%s","store_id":"%s","events":[' % (
            PROTOCOL_VERSION,
            terminal_id.encode(),
            store_id.encode(),
        )
        self._epoch = epoch  # the store file's; a repair starts a new publisher with the new one
        self._frame = WireFrame.of(terminal_id, store_id, epoch)
        # Rows at or below the ACKED counter are kept only to be sent again (rewind()).
        self._acked = store.outbox_acked_seq()
        self._sent = self._acked
        self._inflight: list[_InFlight] = []
        self._last_progress = 0.0
        self._online = False
        self._batches_sent = 0
        self._events_sent = 0
        self._resends = 0

    @property
    def acked_seq(self) -> int:
        """Highest seq the cloud has confirmed (lowered by rewind() to a restored cloud's)."""
        return self._acked

    def stats(self) -> PublisherStats:
        """A snapshot of the counters."""
        return PublisherStats(
            self._acked,
            self._sent,
            len(self._inflight),
            self._batches_sent,
            self._events_sent,
            self._resends,
        )

    def on_connected(self, now: float) -> None:
        """The link is up: start sending; the resend clock starts afresh."""
        self._online = True
        self._last_progress = now

    def on_disconnected(self) -> None:
        """The link is down: stop handing batches to paho (the outbox keeps them)."""
        self._online = False

    def on_ack(self, acked_seq: int, now: float) -> int:
        """The cloud holds every seq <= acked_seq: acknowledge those rows. Returns rows deleted
        (acknowledged rows stay for the outbox's resend window)."""
        if acked_seq <= self._acked:
            return 0  # a duplicate or late ACK: nothing new
        deleted = self._store.outbox_ack(acked_seq)
        self._acked = acked_seq
        self._sent = max(self._sent, acked_seq)
        self._inflight = [b for b in self._inflight if b.last_seq > acked_seq]
        self._last_progress = now
        return int(deleted or 0)

    def rewind(self, cloud_seq: int, now: float) -> None:
        """The cloud holds only up to ``cloud_seq`` (its database restored from a backup): send
        everything above it again, the kept acknowledged rows first, through the same window.

        They go out as they were (seq, event id, body, epoch), so the cloud stores the ones it
        lost as new and keeps any it still holds as duplicates.
        """
        if cloud_seq >= self._acked:
            return
        log.warning("the cloud holds only up to seq %d: sending from %d again", cloud_seq,
                    cloud_seq + 1)  # fmt: skip
        self._acked = cloud_seq
        self._sent = cloud_seq
        self._inflight.clear()
        self._last_progress = now

    def tick(self, now: float) -> int:
        """Resend if the ACK has stalled, then fill the window. Returns events handed to paho."""
        if not self._online:
            return 0
        if self._inflight and now - self._last_progress >= self._resend_after_s:
            log.info(
                "no ACK progress for %.1fs past seq %d: resending from %d",
                now - self._last_progress,
                self._acked,
                self._acked + 1,
            )
            self._sent = self._acked
            self._inflight.clear()
            self._resends += 1
        sent = 0
        while len(self._inflight) < self._window:
            free = self._window - len(self._inflight)
            rows = self._store.outbox_wire(self._sent, self._batch_size * free, self._frame)
            if not rows:
                break
            start = 0
            while start < len(rows) and len(self._inflight) < self._window:
                payload, count = self._pack(rows, start)
                if not self._send(self._topic, payload):
                    return sent  # link went down under us; the outbox still has them
                if not self._inflight:
                    self._last_progress = now
                first, last = rows[start][0], rows[start + count - 1][0]
                self._inflight.append(_InFlight(first, last))
                self._sent = last
                self._batches_sent += 1
                self._events_sent += count
                sent += count
                start += count
            if len(rows) < self._batch_size * free:
                break
        return sent

    def _pack(self, rows: Sequence[tuple[int, bytes]], start: int) -> tuple[bytes, int]:
        """Join envelopes rows[start:] into one batch within both limits: (payload, count)."""
        parts: list[bytes] = []
        size = len(self._head) + 2
        limit = self._max_bytes
        for seq, envelope in rows[start : start + self._batch_size]:
            size += len(envelope) + 1
            if size > limit + 1:  # the first part has no comma before it
                if parts:
                    break
                # Too big for any batch: send it alone so the cloud dead-letters it visibly
                # rather than blocking the outbox behind it forever.
                log.error("event seq %d is %d bytes, over the batch limit", seq, len(envelope))
            parts.append(envelope)
        return self._head + b",".join(parts) + b"]}", len(parts)
