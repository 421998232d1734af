"""The store file's epoch, the sync halt it may be under, and the repair that starts a new epoch.

A store file restored from an old backup (or copied to a second device) re-uses seqs the
cloud already holds from the original. The sync layer finds this at connect, records a halt
here (so a restart does not forget it, and the repair knows the cloud's numbers) and stops
publishing; selling goes on, durably, into the outbox. The technician's repair then gives the
file a new epoch: every unacknowledged event is sent again after an ``epoch_started`` event
that sits above every seq the cloud holds, so nothing is dropped or overwritten on either side.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
from dataclasses import asdict, dataclass
from typing import Final

import msgspec

from device.store import outbox
from device.store.db import Database
from device.store.errors import InvalidRecord
from device.store.serialize import encode, iso_utc
from protocol.envelope import Problem

EPOCH_KEY: Final = "store_epoch"
HALT_KEY: Final = "sync_halt"
#: The seq of the current epoch's ``epoch_started`` event (absent: the file's first epoch).
EPOCH_FIRST_KEY: Final = "store_epoch_first_seq"
REASONS: Final = ("restored", "cloned", "technician")


def new_epoch(previous: str) -> str:
    """The next generation's epoch: generation + 1 (4 hex digits), then 48 random bits."""
    generation = int(previous[:4], 16) + 1 if len(previous) == 16 else 1
    return f"{generation:04x}{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class Halt:
    """Why sync stopped, and what the cloud said it holds at that moment."""

    reason: str
    cloud_high_water: int
    cloud_max_seq: int
    cloud_epoch: str
    at: str  # UTC ISO time
    # The reason's message id and arguments, so HQ still says it in its page's language after
    # a restart (None for a halt recorded by software that predates them).
    message: Problem | None = None


@dataclass(frozen=True, slots=True)
class Repair:
    """What a new epoch did: where it starts and what it carried."""

    epoch: str
    previous_epoch: str
    first_seq: int
    carried: int
    carried_after_seq: int


def current(db: Database) -> str:
    """This store file's epoch."""
    row = db.row("SELECT value FROM meta WHERE key = ?", (EPOCH_KEY,))
    return str(row[0]) if row else ""


def first_seq(db: Database) -> int:
    """The seq this store file's epoch started at (its ``epoch_started`` event); 0 for a file
    never repaired."""
    row = db.row("SELECT value FROM meta WHERE key = ?", (EPOCH_FIRST_KEY,))
    return int(row[0]) if row else 0


def halt(db: Database) -> Halt | None:
    """The recorded halt, if sync is stopped."""
    row = db.row("SELECT value FROM meta WHERE key = ?", (HALT_KEY,))
    return msgspec.json.decode(row[0], type=Halt) if row else None


def record_halt(db: Database, found: Halt) -> None:
    """Remember why sync stopped (kept across restarts until a repair or a good hello)."""
    with db.write() as conn:
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (HALT_KEY, encode(asdict(found))),
        )


def clear_halt(db: Database) -> None:
    """The cloud and this file agree again."""
    with db.write() as conn:
        conn.execute("DELETE FROM meta WHERE key = ?", (HALT_KEY,))


def start_new_epoch(db: Database, reason: str, now: dt.datetime, note: str = "") -> Repair:
    """Give the file a new epoch and queue its unacknowledged events again above the cloud's seqs.

    Uses the cloud's numbers recorded with the halt; refuses when there is no halt (a
    technician can record one with the cloud's figures first). One transaction: either the
    file is repaired whole or it is as it was.
    """
    if reason not in REASONS:
        raise InvalidRecord(f"reason must be one of {', '.join(REASONS)}, not {reason!r}")
    found = halt(db)
    if found is None:
        raise InvalidRecord(
            "sync is not halted: there is nothing to repair (a new epoch is only for a store "
            "file the cloud found restored or copied)"
        )
    with db.write() as conn:
        previous = current_in(conn)
        epoch = new_epoch(previous)
        acked = outbox.counter(conn, outbox.ACKED_COUNTER)
        last = outbox.counter(conn, outbox.SEQ_COUNTER)
        rows = conn.execute(outbox.PENDING_SQL, (acked, 1 << 62)).fetchall()
        first = max(last, found.cloud_max_seq, found.cloud_high_water) + 1
        body = {
            "epoch": epoch, "previous_epoch": previous, "reason": reason,
            "cloud_high_water": found.cloud_high_water, "cloud_max_seq": found.cloud_max_seq,
            "carried_after_seq": min(acked, found.cloud_max_seq), "carried": len(rows),
            "note": note[:2000], "device_time": iso_utc(now),
        }  # fmt: skip
        # Every row goes, the acknowledged ones kept for resending too: they are the old
        # epoch's, and a resend stamps the file's current epoch on what it sends.
        conn.execute("DELETE FROM outbox")
        outbox.set_counter(conn, outbox.SEQ_COUNTER, first - 1)
        outbox.set_counter(conn, outbox.ACKED_COUNTER, first - 1)
        created = iso_utc(now)
        started = outbox.next_seq(conn)  # == first: the counter was set just below it
        outbox.append(conn, started, "epoch_started", created, False, body, created)
        conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (EPOCH_FIRST_KEY, str(started)),
        )
        for _old_seq, event_id, kind, device_time, synced, text, created_at in rows:
            conn.execute(
                outbox.INSERT_SQL,
                (outbox.next_seq(conn), event_id, kind, device_time, synced, text, created_at),
            )
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (epoch, EPOCH_KEY))
        conn.execute("DELETE FROM meta WHERE key = ?", (HALT_KEY,))
    return Repair(epoch, previous, first, len(rows), body["carried_after_seq"])


def current_in(conn: sqlite3.Connection) -> str:
    """The epoch, read inside the caller's transaction."""
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (EPOCH_KEY,)).fetchone()
    return str(row[0]) if row else ""
