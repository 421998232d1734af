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

from device.store import bulk
from device.store.catalogue import CatalogueCache
from device.store.coupons import CouponCache
from device.store.db import Database, DbOptions, open_database
from device.store.members import MemberCache
from device.store.outbox import Outbox, OutboxRow
from device.store.staff_stream import apply_staff
from device.sync.errors import BadMessage

_KEYS = MappingProxyType(
    {"catalogue": "sku", "members": "member_id", "coupons": "code", "config": "key"}
)
CONFIG_PREFIX = "hq_config:"


def _keys(stream: str, items: Sequence[Mapping[str, Any]]) -> list[str]:
    key = _KEYS[stream]
    try:
        return [str(item[key]) for item in items]
    except (KeyError, TypeError) as err:
        raise BadMessage(f"{stream} delete: every item needs its {key!r}") from err


class SyncStorage:
    """The sync thread's view of the terminal store (open it on that thread)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.outbox = Outbox(db)
        self.catalogue = CatalogueCache(db)
        self.members = MemberCache(db)
        self.coupons = CouponCache(db)

    @classmethod
    def open(cls, path: str | os.PathLike[str], options: DbOptions | None = None) -> SyncStorage:
        """Open an existing store file (sync never creates one: provisioning does)."""
        return cls(open_database(path, options=options))

    def close(self) -> None:
        """Close this thread's connection."""
        self.db.close()

    # -- outbox -------------------------------------------------------------------------

    def outbox_pending(self, after_seq: int = 0, limit: int = 500) -> list[OutboxRow]:
        """Unacked events with seq > after_seq, oldest first."""
        return self.outbox.pending(after_seq, limit)

    def outbox_ack(self, up_to_seq: int) -> int:
        """Delete events the cloud confirmed."""
        return self.outbox.ack(up_to_seq)

    def outbox_depth(self) -> int:
        """Events still waiting for an ACK."""
        return self.outbox.depth()

    def oldest_unsynced_age_s(self, now: dt.datetime) -> float | None:
        """Age of the oldest unacked event."""
        return self.outbox.oldest_unsynced_age_s(now)

    # -- StreamSink ---------------------------------------------------------------------

    def version(self, stream: str) -> int:
        """The version of a downstream stream applied here."""
        return bulk.stream_version(self.db.conn(), stream)

    def apply(
        self, stream: str, version: int, kind: str, items: Sequence[Mapping[str, Any]]
    ) -> None:
        """One upsert or delete change, with its version, in one transaction."""
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
        """A full snapshot swapped in atomically (the old cache stays on any failure)."""
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
