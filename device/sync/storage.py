"""Binds device.store to what sync needs: the outbox queue API and one StreamSink per stream.

Every store call made here runs its own write transaction with the stream version inside it,
so a change and its version commit together or not at all. HQ configuration has no cache of
its own in device.store yet, so its items ({"key", "value"}) are kept as JSON in the store's
meta table under "hq_config:<key>", written the same way (one transaction with the version).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import msgspec

from device.store import bulk, epoch, outbox
from device.store.catalogue import CatalogueCache
from device.store.coupons import CouponCache
from device.store.db import Database, DbOptions, open_database
from device.store.members import MemberCache
from device.store.outbox import DEFAULT_RESEND_WINDOW, Outbox, OutboxRow, WireFrame
from device.store.serialize import iso_utc
from device.store.staff_stream import apply_staff
from device.sync.errors import BadMessage
from device.sync.verify import Journal, SeqsLost
from protocol.envelope import Ack
from protocol.items import ItemError, validate_items
from protocol.problems import from_wire, to_wire
from protocol.rules import RULES_KEY, store_rules_key

_KEYS = MappingProxyType(
    {"catalogue": "sku", "members": "member_id", "coupons": "code", "config": "key"}
)
CONFIG_PREFIX = "hq_config:"
#: How the till opens the store file for its sync thread (device.wiring): the runtime already
#: checked the file at open, sync reads only the outbox tail and a few caches, and what it
#: writes is fetched or redone after a power cut (see DbOptions.durable).
SYNC_DB_OPTIONS = DbOptions(cache_mb=4, check="none", durable=False)


def _checked(
    stream: str, kind: str, items: Sequence[Mapping[str, Any]]
) -> Sequence[Mapping[str, Any]]:
    """Items as the protocol allows them, or BadMessage naming the first that is not.

    HQ validates what it pushes against the same schemas; checking again here means a till
    never caches a value that its own sales could not carry to the cloud.
    """
    try:
        return validate_items(stream, kind, items)
    except ItemError as err:
        raise BadMessage(f"{stream} {kind}: {err}") from None


def _keys(stream: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
    key = _KEYS[stream]
    try:
        return [str(item[key]) for item in items]
    except (KeyError, TypeError) as err:
        raise BadMessage(f"{stream} delete: every item needs its {key!r}") from err


class SyncStorage:
    """The sync thread's view of the terminal store (open it on that thread)."""

    def __init__(self, db: Database, resend_window: dt.timedelta = DEFAULT_RESEND_WINDOW) -> None:
        self.db = db
        self.outbox = Outbox(db, resend_window)
        self.catalogue = CatalogueCache(db)
        self.members = MemberCache(db)
        self.coupons = CouponCache(db)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        options: DbOptions | None = None,
        resend_window: dt.timedelta = DEFAULT_RESEND_WINDOW,
    ) -> SyncStorage:
        """Open an existing store file (sync never creates one: provisioning does)."""
        return cls(open_database(path, options=options), resend_window)

    def close(self) -> None:
        """Close this thread's connection."""
        self.db.close()

    # -- outbox -------------------------------------------------------------------------

    def outbox_pending(self, after_seq: int | None = None, limit: int = 500) -> list[OutboxRow]:
        """Unacked events with seq > after_seq, oldest first."""
        return self.outbox.pending(after_seq, limit)

    def outbox_wire(self, after_seq: int, limit: int, frame: WireFrame) -> list[tuple[int, bytes]]:
        """Unacked events with seq > after_seq as (seq, wire envelope bytes), oldest first."""
        return self.outbox.wire(after_seq, limit, frame)

    def outbox_ack(self, up_to_seq: int) -> int:
        """Acknowledge events the cloud confirmed (pruning those past the resend window)."""
        return self.outbox.ack(up_to_seq)

    def outbox_depth(self) -> int:
        """Events still waiting for an ACK."""
        return self.outbox.depth()

    def outbox_acked_seq(self) -> int:
        """The highest seq the cloud has acknowledged."""
        return self.outbox.acked_seq()

    def resend_window_days(self) -> int:
        """How many days acknowledged events are kept to be sent again."""
        return self.outbox.resend_window.days

    def outbox_oldest_kept(self) -> int | None:
        """The lowest seq the outbox still holds (acknowledged rows are kept to resend)."""
        return self.outbox.oldest_kept()

    def record_seqs_lost(self, lost: SeqsLost) -> int:
        """Queue a ``seqs_lost`` event naming seqs the cloud lost and this till can no longer
        send (older than the resend window); once only per range. Returns its seq (0: queued
        already)."""
        now = dt.datetime.now(dt.UTC)
        body = {
            "from_seq": lost.first, "to_seq": lost.last, "cloud_high_water": lost.cloud_seq,
            "acked_seq": lost.acked_seq, "resend_window_days": lost.window_days,
            "device_time": iso_utc(now),
        }  # fmt: skip
        # The event takes a seq the cloud will hold: its commit must survive a power cut (this
        # connection may run synchronous=NORMAL), or the seq would be written twice.
        with self.db.write(durable=True) as tx:
            queued = tx.execute(
                "SELECT 1 FROM outbox WHERE type = 'seqs_lost' AND seq > ? AND "
                "json_extract(body, '$.from_seq') = ? AND json_extract(body, '$.to_seq') = ?",
                (lost.cloud_seq, lost.first, lost.last),
            ).fetchone()
            if queued:
                return 0
            return outbox.emit(tx, "seqs_lost", iso_utc(now), False, body, iso_utc(now))

    def oldest_unsynced_age_s(self, now: dt.datetime) -> float | None:
        """Age of the oldest unacked event."""
        return self.outbox.oldest_unsynced_age_s(now)

    def journal(self) -> Journal:
        """Where the store file stands, for checking what the cloud says it holds."""
        return Journal(
            epoch=epoch.current(self.db),
            last_seq=self.outbox.last_seq(),
            acked_seq=self.outbox.acked_seq(),
            event_id_at=self.outbox.event_id_at,
            epoch_first_seq=epoch.first_seq(self.db),
        )

    def halted(self) -> str:
        """The recorded reason sync is stopped ("" when it is not)."""
        found = epoch.halt(self.db)
        return from_wire(found.message, found.reason) if found else ""

    def halt(self, reason: str, ack: Ack) -> None:
        """Record the halt with the cloud's numbers, for the technician's repair."""
        now = dt.datetime.now(dt.UTC).isoformat()
        found = epoch.Halt(str(reason), ack.acked_seq, ack.max_seq, ack.epoch, now, to_wire(reason))
        epoch.record_halt(self.db, found)

    def resume(self) -> None:
        """Forget a recorded halt: the cloud and this file agree again."""
        epoch.clear_halt(self.db)

    # -- StreamSink ---------------------------------------------------------------------

    def version(self, stream: str) -> int:
        """The version of a downstream stream applied here."""
        return bulk.stream_version(self.db.conn(), stream)

    def apply(
        self, stream: str, version: int, kind: str, items: Sequence[Mapping[str, Any]]
    ) -> None:
        """One upsert or delete change, with its version, in one transaction."""
        items = _checked(stream, kind, items)
        if stream == "catalogue":
            if kind == "upsert":
                self.catalogue.upsert(items, version=version)
            else:
                self.catalogue.delete(_keys(stream, items), version=version)
        elif stream == "prices":
            if kind != "upsert":
                raise BadMessage("prices only take upserts ({sku, price_fen} items)")
            self.catalogue.update_prices(items, version=version)
        elif stream == "members":
            if kind == "upsert":
                self.members.upsert(items, version=version)
            else:
                self.members.delete(_keys(stream, items), version=version)
        elif stream == "coupons":
            if kind != "upsert":
                raise BadMessage("coupons cannot be deleted from a till (a redemption may exist)")
            self.coupons.upsert(items, version=version)
        elif stream == "config":
            self._config(version, kind, items, replace=False)
        elif stream == "staff":
            if kind != "upsert":
                raise BadMessage("staff are deactivated, never deleted (the audit log names them)")
            apply_staff(self.db, items, version=version)
        else:
            raise BadMessage(f"unknown stream {stream!r}")

    def replace(self, stream: str, version: int, items: Sequence[Mapping[str, Any]]) -> None:
        """A full snapshot swapped in atomically (the old cache stays on any failure).

        A snapshot with no items for a cache that holds some is refused: a till emptied of
        its catalogue turns every scan into "unknown product" (HQ deletes items explicitly).
        """
        items = _checked(stream, "upsert", items)
        held = {"catalogue": self.catalogue.count, "members": self.members.count}.get(stream)
        if not items and held is not None and (count := held()) > 0:
            raise BadMessage(
                f"a {stream} snapshot with no items would empty this till's {count} "
                f"{stream} entries; refused, the cache stays as it is"
            )
        if stream == "catalogue":
            self.catalogue.load_snapshot(items, version=version)
        elif stream == "members":
            self.members.load_snapshot(items, version=version)
        elif stream == "prices":
            # A price list snapshot is every price at once: applying it as one update is the
            # same as replacing, since prices live on the product rows.
            self.catalogue.update_prices(items, version=version)
        elif stream == "coupons":
            # Coupons are only ever added or changed: a snapshot must not drop a coupon this
            # till has redeemed but the cloud has not yet heard about.
            self.coupons.upsert(items, version=version)
        elif stream == "config":
            self._config(version, "upsert", items, replace=True)
        elif stream == "staff":
            apply_staff(self.db, items, version=version, replace=True)
        else:
            raise BadMessage(f"unknown stream {stream!r}")

    def rules_version(self, store_id: str) -> str:
        """The version of HQ's rule set in force for this till ("" = the built-in defaults).

        Only rule sets that passed protocol.rules_check are ever stored, so the version read
        here is the one the till's next sale records.
        """
        for key in (store_rules_key(store_id), RULES_KEY):
            row = self.db.row("SELECT value FROM meta WHERE key = ?", (CONFIG_PREFIX + key,))
            if row is not None:
                value = msgspec.json.decode(row[0])
                return str(value.get("version", "")) if isinstance(value, dict) else ""
        return ""

    def config(self) -> dict[str, Any]:
        """The configuration HQ pushed, key -> value."""
        rows = self.db.query(
            "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?",
            (len(CONFIG_PREFIX), CONFIG_PREFIX),
        )
        return {k[len(CONFIG_PREFIX) :]: msgspec.json.decode(v) for k, v in rows}

    def _config(
        self, version: int, kind: str, items: Sequence[Mapping[str, Any]], *, replace: bool
    ) -> None:
        keys = _keys("config", items)
        if any(not k or len(k) > 64 for k in keys):
            raise BadMessage("config keys must be 1-64 characters")
        with self.db.write() as conn:
            if version <= bulk.stream_version(conn, "config"):
                return
            if replace:
                conn.execute(
                    "DELETE FROM meta WHERE substr(key, 1, ?) = ?",
                    (len(CONFIG_PREFIX), CONFIG_PREFIX),
                )
            for key, item in zip(keys, items, strict=True):
                if kind == "delete":
                    conn.execute("DELETE FROM meta WHERE key = ?", (CONFIG_PREFIX + key,))
                    continue
                if "value" not in item:
                    raise BadMessage(f"config item {key!r} has no value")
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (CONFIG_PREFIX + key, msgspec.json.encode(item["value"]).decode()),
                )
            bulk.set_stream_version(conn, "config", version)
