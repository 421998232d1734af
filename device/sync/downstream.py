"""Applies HQ's downstream changes to the terminal's caches: in order, once, and never half-way.

Rules (see protocol.envelope.DownChange):
- Every stream has one version the terminal holds. A change at or below it is a duplicate and
  is skipped, so redelivery is harmless.
- Versions count per stream across all scopes, so a change more than one above the held
  version may follow changes for other stores, or may follow a change this terminal lost. The
  change's per-scope `previous` versions tell which: when the held version covers what this
  store's receivers got before (protocol.envelope.needed_version) the gap was other stores'
  changes and it applies at once; otherwise a change was lost, so it is held back and a
  catch-up is asked for. Catch-up replies arrive in version order on the terminal's own topic
  and are complete from the version asked for, so they apply directly. A lost change is
  waited for (the catch-up is asked again every `catchup_wait_s`), never skipped.
- A change from an older sender carries no `previous`: a gap is held back the same way, but if
  no reply comes within `catchup_wait_s` the held-back changes are applied anyway (the gap
  was most likely another store's change) rather than freezing the stream while HQ is away.
- A snapshot arrives as chunks sharing a snapshot_id and replaces the stream only when every
  chunk is there and loads cleanly in one transaction; a missing or bad chunk leaves the old
  cache in use.
- A payload that breaks the contract is counted, logged and dropped; it never raises.

Threading: called only from the sync thread (it writes the store).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from protocol import codec, topics
from protocol.envelope import DownChange, needed_version
from protocol.errors import ProtocolError
from protocol.problems import Said

log = logging.getLogger(__name__)

#: Chunks beyond this are refused: a snapshot is assembled in memory before it is swapped in.
MAX_SNAPSHOT_CHUNKS = 4096


class StreamSink(Protocol):
    """Where downstream changes land; each call is one store transaction, version included."""

    def version(self, stream: str) -> int:
        """The version of `stream` the cache holds (0: never loaded)."""
        ...

    def apply(
        self, stream: str, version: int, kind: str, items: Sequence[Mapping[str, Any]]
    ) -> None:
        """Upsert or delete items and record `version`, atomically; raise on bad items."""
        ...

    def replace(self, stream: str, version: int, items: Sequence[Mapping[str, Any]]) -> None:
        """Replace the whole stream with items and record `version`, atomically."""
        ...


@dataclass(slots=True)
class _Snapshot:
    stream: str
    version: int
    chunks: int
    started_at: float
    parts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass(slots=True)
class DownstreamStats:
    """Counters for status, logs and tests."""

    applied: int = 0
    skipped: int = 0
    held_back: int = 0
    rejected: int = 0
    snapshots_loaded: int = 0
    snapshots_failed: int = 0
    catchups_requested: int = 0
    last_problem: str = ""


class DownstreamApplier:
    """Feeds decoded downstream messages into a StreamSink per the rules above."""

    def __init__(
        self,
        sink: StreamSink,
        store_id: str,
        request_catchup: Callable[[dict[str, int]], None],
        catchup_wait_s: float = 5.0,
        snapshot_timeout_s: float = 60.0,
    ) -> None:
        self._sink = sink
        self._store_id = store_id
        self._request_catchup = request_catchup
        self._catchup_wait_s = catchup_wait_s
        self._snapshot_timeout_s = snapshot_timeout_s
        self._held_back: dict[str, dict[int, DownChange]] = {}
        self._catchup_since: dict[str, float] = {}
        self._snapshots: dict[str, _Snapshot] = {}
        self.stats = DownstreamStats()

    def versions(self) -> dict[str, int]:
        """Every stream's applied version, for the status."""
        return {s: self._sink.version(s) for s in topics.STREAMS}

    def catch_up(self, now: float, streams: Sequence[str] = topics.STREAMS) -> None:
        """Ask the cloud for everything after our versions (on every connect, and after a gap)."""
        wanted = {s: self._sink.version(s) for s in streams}
        for s in streams:
            self._catchup_since[s] = now
        self.stats.catchups_requested += 1
        self._request_catchup(wanted)

    def handle(self, topic: str, payload: bytes, now: float) -> str:
        """Process one downstream message; returns what happened (for logs and tests)."""
        try:
            scope, terminal, stream = topics.parse_down_topic(topic)
            change = codec.decode_down(payload)
            if change.stream != stream:
                raise ProtocolError(f"change for {change.stream!r} on the {stream!r} topic")
            if terminal is None and scope not in (self._store_id, topics.ALL_STORES):
                raise ProtocolError(f"change for store {scope!r} reached store {self._store_id}")
            if change.scope not in (self._store_id, topics.ALL_STORES):
                raise ProtocolError(f"change scoped to {change.scope!r}, not to this store")
        except ProtocolError as err:
            return self._reject(topic, str(err))
        if change.kind == "snapshot_chunk":
            return self._chunk(change, now)
        held = self._sink.version(stream)
        if change.version <= held:
            self.stats.skipped += 1
            return "skipped"
        direct = terminal is not None
        if not direct and not self._follows(change, held):
            return self._hold_back(change, now)
        return self._apply(change, now)

    def _follows(self, change: DownChange, held: int) -> bool:
        """Whether nothing this store should have got is missing before ``change``."""
        if change.version == held + 1:
            return True
        needed = needed_version(change, self._store_id)
        return needed is not None and needed <= held

    def tick(self, now: float) -> None:
        """Give up on stalled snapshots and on catch-ups that never got an answer."""
        for sid, snap in list(self._snapshots.items()):
            if now - snap.started_at >= self._snapshot_timeout_s:
                missing = sorted(set(range(snap.chunks)) - set(snap.parts))
                del self._snapshots[sid]
                self._snapshot_failed(sid, f"chunks {missing[:10]} never arrived")
        for stream, since in list(self._catchup_since.items()):
            if now - since < self._catchup_wait_s:
                continue
            del self._catchup_since[stream]
            pending = self._held_back.get(stream, {})
            if any(c.previous is not None for c in pending.values()):
                # The change says a change for this store was lost: wait for it, ask again.
                self.catch_up(now, [stream])
                continue
            self._held_back.pop(stream, None)
            if pending:
                log.warning(
                    "no catch-up reply for %s within %.0fs; applying %d held-back change(s)",
                    stream,
                    self._catchup_wait_s,
                    len(pending),
                )
            for version in sorted(pending):
                if version > self._sink.version(stream):
                    self._apply(pending[version], now, drain=False)

    def _reject(self, topic: str, reason: str) -> str:
        self.stats.rejected += 1
        self.stats.last_problem = Said("down.rejected", topic=topic, reason=reason)
        log.warning("downstream message dropped: %s: %s", topic, reason)
        return "rejected"

    def _hold_back(self, change: DownChange, now: float) -> str:
        self._held_back.setdefault(change.stream, {})[change.version] = change
        self.stats.held_back += 1
        if change.stream not in self._catchup_since:
            self.catch_up(now, [change.stream])
        return "held_back"

    def _apply(self, change: DownChange, now: float, drain: bool = True) -> str:
        try:
            self._sink.apply(change.stream, change.version, change.kind, change.items)
        except Exception as err:  # bad items: the transaction rolled back, nothing applied
            return self._reject(f"{change.stream} v{change.version}", f"not applied: {err}")
        self.stats.applied += 1
        if drain:
            self._drain(change.stream, now)
        return "applied"

    def _drain(self, stream: str, now: float) -> None:
        """Apply held-back changes that now follow on, and drop those already covered."""
        pending = self._held_back.get(stream)
        while pending:
            held = self._sink.version(stream)
            for version in [v for v in pending if v <= held]:
                del pending[version]
            if not pending:
                break
            first = min(pending)
            if not self._follows(pending[first], held):
                break
            self._apply(pending.pop(first), now, drain=False)
        if not pending:
            self._held_back.pop(stream, None)
            self._catchup_since.pop(stream, None)

    def _chunk(self, change: DownChange, now: float) -> str:
        sid = change.snapshot_id
        if not sid:
            return self._reject(change.stream, "snapshot chunk without a snapshot_id")
        if change.chunks > MAX_SNAPSHOT_CHUNKS:
            return self._reject(change.stream, f"snapshot of {change.chunks} chunks is too big")
        if change.version <= self._sink.version(change.stream):
            self.stats.skipped += 1
            return "skipped"
        snap = self._snapshots.get(sid)
        if snap is None:
            snap = _Snapshot(change.stream, change.version, change.chunks, now)
            self._snapshots[sid] = snap
        elif (snap.stream, snap.version, snap.chunks) != (
            change.stream,
            change.version,
            change.chunks,
        ):
            del self._snapshots[sid]
            self._snapshot_failed(sid, "chunks disagree on stream, version or chunk count")
            return "rejected"
        snap.parts[change.chunk] = change.items
        if len(snap.parts) < snap.chunks:
            return "chunk"
        del self._snapshots[sid]
        items = [item for i in range(snap.chunks) for item in snap.parts[i]]
        try:
            self._sink.replace(snap.stream, snap.version, items)
        except Exception as err:  # the loader rolled back: the old cache stays in use
            self._snapshot_failed(sid, f"did not load: {err}")
            return "rejected"
        self.stats.snapshots_loaded += 1
        log.info("%s snapshot v%d loaded: %d items", snap.stream, snap.version, len(items))
        self._drain(snap.stream, now)
        return "snapshot_loaded"

    def _snapshot_failed(self, sid: str, reason: str) -> None:
        self.stats.snapshots_failed += 1
        self.stats.last_problem = Said("down.snapshot", snapshot=sid, reason=reason)
        log.warning("snapshot %s abandoned, old cache kept: %s", sid, reason)
