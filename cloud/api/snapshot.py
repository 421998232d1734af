"""Sends a stream snapshot to one terminal: chunked DownChanges on its own downstream topic."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, cast

import msgspec

from cloud.api.publisher import Publisher
from cloud.domain.snapshot import SnapshotError, chunked
from cloud.store.snapshot import StreamSnapshot
from protocol.codec import encode_down
from protocol.envelope import MAX_BATCH_BYTES, MAX_EVENTS_PER_BATCH, DownChange, StreamName, utc_iso
from protocol.topics import terminal_down_topic

#: Room left in each chunk for the DownChange fields around the items.
_ENVELOPE_BYTES: Final = 1024
#: Mirrors device.sync.downstream.MAX_SNAPSHOT_CHUNKS: a terminal refuses bigger snapshots
#: (the cloud does not import device code), so refuse before sending anything.
MAX_SNAPSHOT_CHUNKS: Final = 4096


@dataclass(frozen=True, slots=True)
class SentSnapshot:
    """What went out: the id the chunks share, how many, the items and the stream version."""

    snapshot_id: str
    topic: str
    chunks: int
    items: int
    version: int


def _size(item: Mapping[str, Any]) -> int:
    return len(msgspec.json.encode(item)) + 1  # the comma between items


def snapshot_messages(snap: StreamSnapshot, snapshot_id: str) -> list[bytes]:
    """Encode the snapshot as chunk messages, each within the protocol's batch bounds."""
    parts = chunked(snap.items, MAX_EVENTS_PER_BATCH, MAX_BATCH_BYTES - _ENVELOPE_BYTES, _size)
    if len(parts) > MAX_SNAPSHOT_CHUNKS:
        raise SnapshotError(
            f"{snap.stream} snapshot needs {len(parts)} chunks; a terminal takes at most "
            f"{MAX_SNAPSHOT_CHUNKS}"
        )
    sent_at = utc_iso(dt.datetime.now(dt.UTC))
    stream = cast(StreamName, snap.stream)  # build_snapshot checked it against STREAMS
    return [
        encode_down(DownChange(stream=stream, version=snap.version, scope=snap.store_id,
                               kind="snapshot_chunk", items=[dict(i) for i in part],
                               chunk=n, chunks=len(parts), snapshot_id=snapshot_id,
                               sent_at=sent_at))
        for n, part in enumerate(parts)
    ]  # fmt: skip


def send_snapshot(publisher: Publisher, snap: StreamSnapshot, terminal_id: str) -> SentSnapshot:
    """Publish every chunk to the terminal; raises PublishError if the broker refuses one.

    All chunks are encoded before the first is sent, so a snapshot that cannot be encoded
    sends nothing. A chunk lost on the way only makes the terminal keep its old cache.
    """
    snapshot_id = uuid.uuid4().hex
    topic = terminal_down_topic(snap.store_id, terminal_id, snap.stream)
    messages = snapshot_messages(snap, snapshot_id)
    for payload in messages:
        publisher.publish(topic, payload)
    return SentSnapshot(snapshot_id, topic, len(messages), len(snap.items), snap.version)
