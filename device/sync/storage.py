"""Binds device.store to what sync needs: the outbox queue API and one StreamSink per stream.

Every store call made here runs its own write transaction with the stream version inside it,
so a change and its version commit together or not at all.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from typing import Any

from device.store import bulk
from device.store.catalogue import CatalogueCache
from device.store.db import Database, DbOptions, open_database
from device.store.members import MemberCache
from device.store.outbox import Outbox, OutboxRow
from device.sync.errors import BadMessage

_KEYS = {"catalogue": "sku", "members": "member_id", "coupons": "code", "config": "key"}


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
        else:
            raise BadMessage(f"the terminal store has no {stream} cache yet")

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
        else:
            raise BadMessage(f"the terminal store has no {stream} cache yet")
