"""The stores registry: each store's name, time zone and business-day start, managed by admins."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloud.store.db import CloudDB, open_cloud_db, utcnow
from cloud.store.errors import CloudStoreError

DEFAULT_TIMEZONE = "Asia/Shanghai"


class BadStore(CloudStoreError):
    """A store definition that cannot be used (unknown time zone, hour out of range)."""


@dataclass(frozen=True, slots=True)
class StoreClock:
    """How a store counts its days: its zone, and the local hour a business day starts."""

    timezone: ZoneInfo
    day_start_hour: int = 0

    def business(self, local: dt.datetime) -> tuple[dt.date, int]:
        """The business day and clock hour of a store-local time."""
        return (local - dt.timedelta(hours=self.day_start_hour)).date(), local.hour

    def today(self, now: dt.datetime | None = None) -> dt.date:
        """The current business day."""
        local = (now or dt.datetime.now(dt.UTC)).astimezone(self.timezone)
        return self.business(local)[0]


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name; BadStore naming it if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise BadStore(f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)") from err


def put_store(cdb: CloudDB, store_id: str, name: str, timezone: str, day_start_hour: int) -> None:
    """Create or change a store (inside the caller's write transaction)."""
    zone(timezone)
    if not 0 <= day_start_hour <= 12:
        raise BadStore("day_start_hour: 0-12 (a business day starts between midnight and noon)")
    s = cdb.hq.Store
    s.insert(
        store_id=store_id,
        name=name,
        timezone=timezone,
        day_start_hour=day_start_hour,
        created_at=utcnow(),
    ).on_conflict(
        conflict_target=[s.store_id],
        update={s.name: name, s.timezone: timezone, s.day_start_hour: day_start_hour},
    ).execute()


def list_stores(cdb: CloudDB, only: frozenset[str] | None = None) -> list[dict[str, Any]]:
    """Registered stores (those in ``only`` if given), by id."""
    s = cdb.hq.Store
    q = s.select().order_by(s.store_id)
    if only is not None:
        q = q.where(s.store_id.in_(sorted(only)))
    return [
        {
            "store_id": r.store_id,
            "name": r.name,
            "timezone": r.timezone,
            "day_start_hour": r.day_start_hour,
        }
        for r in q
    ]


def store_known(cdb: CloudDB, store_id: str) -> bool:
    """True when the store is registered, or a terminal of it registered or connected."""
    h, m = cdb.hq, cdb.models
    return (
        h.Store.select().where(h.Store.store_id == store_id).exists()
        or m.Terminal.select().where(m.Terminal.store_id == store_id).exists()
        or h.TerminalRegistration.select()
        .where(h.TerminalRegistration.store_id == store_id)
        .exists()
    )


def clocks(
    cdb: CloudDB, default_timezone: str = DEFAULT_TIMEZONE, only: Iterable[str] | None = None
) -> dict[str, StoreClock]:
    """Registered stores' clocks, of ``only`` these if given (a store not listed uses the chain
    default, day at 00:00)."""
    s = cdb.hq.Store
    query = s.select(s.store_id, s.timezone, s.day_start_hour)
    if only is not None:  # ingest: a batch is one store's, and a chain has thousands
        query = query.where(s.store_id.in_(sorted(set(only))))
    out = {}
    for store_id, tz, hour in query.tuples():
        try:
            out[store_id] = StoreClock(zone(tz), int(hour))
        except BadStore:
            out[store_id] = StoreClock(zone(default_timezone), int(hour))
    return out


def timezones(cdb: CloudDB) -> dict[str, str]:
    """Store id -> time zone name, for ingest's IngestRules."""
    s = cdb.hq.Store
    return dict(s.select(s.store_id, s.timezone).tuples())


def registered_timezones(url: str) -> dict[str, str]:
    """Store id -> time zone from the registry at ``url`` (for ingest's rules at start)."""
    cdb = open_cloud_db(url)
    try:
        return timezones(cdb)
    finally:
        cdb.close()
