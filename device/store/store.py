"""The Store façade: opens the file and offers every port and recording call the terminal uses."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from device.checkout.ports import Clock
from device.checkout.records import ReturnRecord, SaleRecord, Tier
from device.store import bulk
from device.store.catalogue import CatalogueCache
from device.store.coupons import CouponCache
from device.store.db import Database, DbOptions, open_database
from device.store.errors import StoreError
from device.store.facts import FactRecorder
from device.store.journal import JournalReader, JournalWriter, Recorded
from device.store.kernel_clock import kernel_clock_synced
from device.store.members import MemberCache
from device.store.models import bind_models
from device.store.outbox import Outbox, OutboxRow
from device.store.staff import PinPolicy, StaffDirectory
from device.store.till_state import TillStateReader


class SystemClock:
    """UTC wall clock; ``synced`` asks the kernel unless a fixed answer is given (tests)."""

    def __init__(self, synced: bool | None = None) -> None:
        self._synced = synced

    def now(self) -> dt.datetime:
        """Current UTC time."""
        return dt.datetime.now(dt.UTC)

    def synced(self) -> bool:
        """Whether the clock has been synchronised since boot (NTP, per the kernel)."""
        return kernel_clock_synced() if self._synced is None else self._synced


@dataclass(frozen=True, slots=True)
class StoreConfig:
    """Identity and policy of the terminal that owns the file."""

    terminal_id: str
    receipt_prefix: str = ""  # defaults to terminal_id: "S001-T01" -> S001-T01-20261123-0007
    timezone: str = "Asia/Shanghai"  # receipts restart at local midnight
    pin_policy: PinPolicy = field(default_factory=PinPolicy)
    db: DbOptions = field(default_factory=DbOptions)


class Store:
    """One open store file; the ports are attributes, the recording calls are methods."""

    def __init__(self, db: Database, config: StoreConfig, clock: Clock) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        tz = ZoneInfo(config.timezone)
        models = bind_models(db.pw)
        self.models = models
        self.catalogue = CatalogueCache(db)
        self.members = MemberCache(db)
        self.coupons = CouponCache(db)
        self.staff = StaffDirectory(db, models, clock, config.pin_policy, tz)
        self.journal = JournalReader(db, models)
        self.outbox = Outbox(db, now=clock.now)
        self.till = TillStateReader(db)  # what recovery reads to rebuild the till
        self.facts = FactRecorder(db, self.members, clock)
        # The other recorded facts, each one transaction with one outbox event (see facts.py).
        self.record_shift_open = self.facts.record_shift_open
        self.record_shift_close = self.facts.record_shift_close
        self.record_cash_movement = self.facts.record_cash_movement
        self.record_audit = self.facts.record_audit
        self.record_feedback = self.facts.record_feedback
        self.record_complaint = self.facts.record_complaint
        self.record_member_registration = self.facts.record_member_registration
        self.suspend = self.facts.suspend
        self.recall = self.facts.recall
        self._writer = JournalWriter(db, config.receipt_prefix or config.terminal_id, tz)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        config: StoreConfig,
        *,
        create: bool = False,
        clock: Clock | None = None,
    ) -> Store:
        """Open the terminal's database (``create=True`` only when provisioning)."""
        db = open_database(path, create=create, options=config.db)
        try:
            cls._claim(db, config.terminal_id)
        except BaseException:
            db.close()
            raise
        return cls(db, config, clock or SystemClock())

    @staticmethod
    def _claim(db: Database, terminal_id: str) -> None:
        """Bind the file to one terminal: another terminal's journal must never continue here."""
        with db.write() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'terminal_id'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('terminal_id', ?)", (terminal_id,)
                )
            elif row[0] != terminal_id:
                raise StoreError(
                    f"{db.path} belongs to terminal {row[0]}, but this is configured as "
                    f"{terminal_id}; fix the configuration or re-provision"
                )

    def close(self) -> None:
        """Close this thread's connection."""
        self.db.close()

    # -- recording (each call is one transaction; print only after it returns) --------------

    def check_headroom(self) -> None:
        """Raise DatabaseFull if a sale might not fit; call before taking payment."""
        self.db.check_headroom()

    def record_sale(self, sale: SaleRecord, new_tier: Tier | None = None) -> Recorded:
        """Record a completed sale in one transaction; print only after this returns.

        The transaction holds the sale row (lines, tenders, points), its outbox event, and the
        cached member's spend and ``new_tier`` (an upgrade this sale earned, if any).
        """
        return self._writer.record_sale(sale, self.clock.now(), new_tier)

    def record_return(self, ret: ReturnRecord) -> Recorded:
        """A return with refunds and points reversals, atomically."""
        return self._writer.record_return(ret, self.clock.now())

    def business_date(self, moment: dt.datetime) -> str:
        """The store-local day (YYYYMMDD) a receipt number uses."""
        return self._writer.business_date(moment)

    # -- outbox, for the sync layer -------------------------------------------------------

    def outbox_pending(self, after_seq: int | None = None, limit: int = 500) -> list[OutboxRow]:
        """Unacknowledged events after ``after_seq`` in seq order."""
        return self.outbox.pending(after_seq, limit)

    def outbox_ack(self, up_to_seq: int) -> int:
        """Delete events up to and including ``up_to_seq`` (idempotent)."""
        return self.outbox.ack(up_to_seq)

    def outbox_depth(self) -> int:
        """Events waiting for an ACK."""
        return self.outbox.depth()

    def oldest_unsynced_age_s(self, now: dt.datetime | None = None) -> float | None:
        """Age of the oldest unacknowledged event in seconds, or None."""
        return self.outbox.oldest_unsynced_age_s(now or self.clock.now())

    # -- downstream streams ---------------------------------------------------------------

    def stream_version(self, stream: str) -> int:
        """The version of a downstream stream applied here (0 if never)."""
        return bulk.stream_version(self.db.conn(), stream)

    def stream_versions(self) -> dict[str, int]:
        """Every stream's applied version, for the terminal status message."""
        return {s: int(v) for s, v in self.db.query("SELECT stream, version FROM stream_version")}

    def set_stream_version(self, stream: str, version: int) -> None:
        """Record a stream version on its own (e.g. a change that needed no rows)."""
        with self.db.write() as conn:
            bulk.set_stream_version(conn, stream, version)

    def load_member_snapshot(
        self, items: Iterable[Mapping[str, Any]], *, version: int | None = None,
        batch_size: int = 50_000,
    ) -> int:  # fmt: skip
        """Replace the member cache atomically; a failed load keeps the old cache."""
        return self.members.load_snapshot(items, version=version, batch_size=batch_size)

    def load_catalogue_snapshot(
        self, items: Iterable[Mapping[str, Any]], *, version: int | None = None
    ) -> int:
        """Replace the catalogue atomically; a failed load keeps the old catalogue."""
        return self.catalogue.load_snapshot(items, version=version)
