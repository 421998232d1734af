"""Crash safety for the runtime: the command log, and the till state rebuilt from the store.

The till's state is read through the store's TillStateReader (store.till); the command log
is a small SQLite file of its own beside the store. It remembers which print
and drawer commands have run (by command id, so a replay never prints or kicks twice) and
whether a sale was in progress, so that after a crash the cashier can be told that the open
sale was not recorded. It is a separate file because the store's schema belongs to its
migrations; nothing in it is business data, so losing it costs at most a reprint offer.

WAL with synchronous=NORMAL: a process crash (SIGKILL) loses nothing, a power cut may lose the
last marker, never the store's journal (which is synchronous=FULL).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from device.checkout import shifts
from device.checkout.cart import CartLimits
from device.checkout.errors import CartError
from device.checkout.shifts import Shift
from device.checkout.snapshot import cart_from_plain
from device.checkout.state import Suspended
from device.store.store import Store

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS command (command_id TEXT PRIMARY KEY, kind TEXT NOT NULL, "
    "ref TEXT NOT NULL, status TEXT NOT NULL, at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS marker (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


@dataclass(frozen=True, slots=True)
class Unprinted:
    """A sale that was committed but whose receipt never reached the printer."""

    sale_id: str
    receipt_no: str


class CommandLog:
    """Durable memory of executed print/drawer command ids and of an open sale."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        for sql in _SCHEMA:
            self._conn.execute(sql)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()

    def status(self, command_id: str) -> str | None:
        """The recorded status of a command ("pending", "done") or None if never seen."""
        with self._lock:
            row = self._conn.execute(
                "SELECT status FROM command WHERE command_id = ?", (command_id,)
            ).fetchone()
        return None if row is None else str(row[0])

    def begin(self, command_id: str, kind: str, ref: str) -> bool:
        """Record the intent to run a command; False if it was seen before (do not run it)."""
        now = dt.datetime.now(dt.UTC).isoformat()
        with self._lock:
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO command (command_id, kind, ref, status, at) "
                "VALUES (?, ?, ?, 'pending', ?)",
                (command_id, kind, ref, now),
            )
        return cur.rowcount == 1

    def done(self, command_id: str) -> None:
        """Mark a command as carried out."""
        with self._lock:
            self._conn.execute(
                "UPDATE command SET status = 'done' WHERE command_id = ?", (command_id,)
            )

    def printed_refs(self, kind: str = "print_receipt") -> dict[str, list[tuple[str, str]]]:
        """ref -> [(command_id, status)] for every logged command of ``kind``."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT ref, command_id, status FROM command WHERE kind = ?", (kind,)
            ).fetchall()
        out: dict[str, list[tuple[str, str]]] = {}
        for ref, cid, status in rows:
            out.setdefault(ref, []).append((cid, status))
        return out

    def set_marker(self, key: str, value: str | None) -> None:
        """Set (or with None clear) a marker such as the open sale."""
        with self._lock:
            if value is None:
                self._conn.execute("DELETE FROM marker WHERE key = ?", (key,))
            else:
                self._conn.execute(
                    "INSERT INTO marker (key, value) VALUES (?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (key, value),
                )

    def marker(self, key: str) -> str | None:
        """A marker's value, or None."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM marker WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])


def open_shift(store: Store) -> Shift | None:
    """The shift left open in the store, with its running totals folded from the journal."""
    row = store.till.open_shift()
    if row is None:
        return None
    shift = shifts.open_shift(row.shift_id, row.opened_by, _when(row.opened_at), row.float_fen)
    for sale_id in store.till.shift_sale_ids(row.shift_id):
        found = store.journal.sale(sale_id)
        if found is not None:
            shift = shifts.add_sale(shift, found[0])
    shift = _fold_returns(store, shift)
    for amount in store.till.shift_cash_movements(row.shift_id):
        if amount > 0:
            shift = _replace(shift, cash_in_fen=shift.cash_in_fen + amount)
        elif amount < 0:
            shift = _replace(shift, cash_out_fen=shift.cash_out_fen - amount)
    return _replace(shift, no_sale_count=store.till.no_sales_since(row.opened_at))


def _fold_returns(store: Store, shift: Shift) -> Shift:
    # Returns are folded from their refund rows directly: the journal reader rebuilds a return
    # only through its original sale, and a no-receipt return has none.
    seen: set[str] = set()
    totals = dict(shift.by_tender)
    refund_total = shift.refund_fen
    for refund in store.till.shift_refunds(shift.shift_id):
        if refund.return_id not in seen:
            seen.add(refund.return_id)
            refund_total += refund.refund_fen
        if refund.kind is not None:
            totals[refund.kind] = totals.get(refund.kind, 0) - refund.amount_fen
    return _replace(
        shift,
        returns_count=shift.returns_count + len(seen),
        by_tender=tuple(sorted(totals.items())),
        refund_fen=refund_total,
    )


def suspended_sales(store: Store, limits: CartLimits) -> tuple[tuple[Suspended, ...], list[str]]:
    """Parked carts as the machine holds them, plus messages for any that cannot be read."""
    out: list[Suspended] = []
    problems: list[str] = []
    for parked in store.till.parked_carts():
        try:
            out.append(Suspended(parked.suspend_id, cart_from_plain(parked.payload, limits)))
        except CartError as err:
            problems.append(f"suspended sale {parked.suspend_id}: {err}")
    return tuple(out), problems


def unprinted_sales(store: Store, log: CommandLog, spool_state: Any, day: str) -> list[Unprinted]:
    """Sales of business day ``day`` whose receipt never reached the printer's spool.

    A receipt counts as handled when a print command for the sale is done, or when its job
    is in the spool (pending jobs print by themselves once the printer is back).
    """
    printed = log.printed_refs()
    out: list[Unprinted] = []
    for sale_id, receipt_no in store.till.sales_of_day(day):
        entries = printed.get(sale_id, [])
        if any(status == "done" or spool_state(cid) != "unknown" for cid, status in entries):
            continue
        out.append(Unprinted(sale_id, receipt_no))
    return out


def _when(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _replace(shift: Shift, **changes: Any) -> Shift:
    return replace(shift, **changes)
