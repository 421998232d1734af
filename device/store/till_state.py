"""What the runtime reads to rebuild the till after a restart: open shift, parked carts, sales."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from device.store.db import Database
from device.store.serialize import decode


@dataclass(frozen=True, slots=True)
class OpenShiftRow:
    """The shift left open in the store, as recorded when it was opened."""

    shift_id: str
    opened_by: str
    float_fen: int
    opened_at: str  # ISO 8601 UTC, as stored


@dataclass(frozen=True, slots=True)
class ShiftRefund:
    """One refund line of a return in a shift (kind None: a return refunded nothing)."""

    return_id: str
    refund_fen: int
    kind: str | None
    amount_fen: int


@dataclass(frozen=True, slots=True)
class ParkedCart:
    """A suspended sale's cart, as the checkout machine stored it (plain data)."""

    suspend_id: str
    payload: Any


class TillStateReader:
    """The shift, parked carts and the day's sales, read for recovery (no writes)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def open_shift(self) -> OpenShiftRow | None:
        """The newest shift not yet closed, or None."""
        row = self._db.row(
            "SELECT shift_id, opened_by, float_fen, opened_at FROM shift WHERE closed_at IS NULL "
            "ORDER BY opened_at DESC LIMIT 1"
        )
        if row is None:
            return None
        return OpenShiftRow(str(row[0]), str(row[1]), int(row[2]), str(row[3]))

    def shift_sale_ids(self, shift_id: str) -> list[str]:
        """Sales recorded in a shift, in journal order."""
        rows = self._db.query(
            "SELECT sale_id FROM sale WHERE shift_id = ? ORDER BY seq", (shift_id,)
        )
        return [str(sale_id) for (sale_id,) in rows]

    def shift_refunds(self, shift_id: str) -> list[ShiftRefund]:
        """Every refund line of the shift's returns, no-receipt returns included."""
        rows = self._db.query(
            "SELECT r.return_id, r.refund_fen, f.kind, f.amount_fen FROM sale_return AS r "
            "LEFT JOIN return_refund AS f ON f.seq = r.seq WHERE r.shift_id = ? "
            "ORDER BY r.seq, f.idx",
            (shift_id,),
        )
        return [
            ShiftRefund(str(rid), int(refund), kind, int(amount or 0))
            for rid, refund, kind, amount in rows
        ]

    def shift_cash_movements(self, shift_id: str) -> list[int]:
        """Cash in (positive) and out (negative) of a shift, in order."""
        rows = self._db.query(
            "SELECT amount_fen FROM cash_movement WHERE shift_id = ? ORDER BY seq", (shift_id,)
        )
        return [int(amount) for (amount,) in rows]

    def no_sales_since(self, since_iso: str) -> int:
        """Manager-authorised no-sale drawer openings since a moment (ISO 8601 UTC)."""
        row = self._db.row(
            "SELECT count(*) FROM audit_log WHERE action = 'no_sale' AND device_time >= ?",
            (since_iso,),
        )
        return int(row[0]) if row else 0

    def parked_carts(self) -> list[ParkedCart]:
        """Suspended sales' carts, oldest first."""
        rows = self._db.query(
            "SELECT suspend_id, payload FROM suspended_sale ORDER BY suspended_at"
        )
        return [ParkedCart(str(sid), decode(payload)) for sid, payload in rows]

    def sales_of_day(self, business_date: str) -> list[tuple[str, str]]:
        """(sale_id, receipt_no) of one business day's sales (YYYYMMDD), in journal order."""
        rows = self._db.query(
            "SELECT sale_id, receipt_no FROM sale WHERE business_date = ? ORDER BY seq",
            (business_date,),
        )
        return [(str(sale_id), str(receipt_no)) for sale_id, receipt_no in rows]
