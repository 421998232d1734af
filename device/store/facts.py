"""The till's other recorded facts: shifts, cash, audit, feedback, complaints, notes, members."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any

from device.checkout.ports import Clock
from device.checkout.records import AuditEntry, CashMovement, Member, ShiftReport
from device.store import outbox
from device.store.db import Database
from device.store.errors import InvalidRecord
from device.store.members import MemberCache, normalise_phone
from device.store.serialize import decode, encode, iso_utc, to_body
from protocol.bounds import TEXT_CHARS


@dataclass(frozen=True, slots=True)
class Suspended:
    """A parked sale, listed for recall."""

    suspend_id: str
    cashier_id: str
    shift_id: str
    label: str
    suspended_at: str


class FactRecorder:
    """Each method is one transaction: its table rows plus exactly one outbox event."""

    def __init__(self, db: Database, members: MemberCache, clock: Clock) -> None:
        self._db = db
        self._members = members
        self._clock = clock

    def _synced(self, clock_synced: bool | None) -> bool:
        return self._clock.synced() if clock_synced is None else clock_synced

    def _emit(
        self, conn: sqlite3.Connection, kind: str, when: dt.datetime, synced: bool,
        body: dict[str, Any],
    ) -> int:  # fmt: skip
        return outbox.emit(conn, kind, iso_utc(when), synced, body, iso_utc(self._clock.now()))

    @staticmethod
    def _open_shift(conn: sqlite3.Connection, shift_id: str) -> tuple[Any, ...]:
        row = conn.execute(
            "SELECT shift_id, closed_at FROM shift WHERE shift_id = ?", (shift_id,)
        ).fetchone()
        if row is None:
            raise InvalidRecord(f"no shift {shift_id} was opened on this terminal")
        if row[1] is not None:
            raise InvalidRecord(f"shift {shift_id} is already closed")
        return tuple(row)

    def record_shift_open(
        self, shift_id: str, staff_id: str, float_fen: int, device_time: dt.datetime,
        clock_synced: bool | None = None,
    ) -> int:  # fmt: skip
        """Open a shift with its cash float; returns the event seq."""
        if float_fen < 0:
            raise InvalidRecord("the float cannot be negative")
        opened_at = iso_utc(device_time)
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM shift WHERE shift_id = ?", (shift_id,)).fetchone():
                raise InvalidRecord(f"shift {shift_id} was already opened")
            conn.execute(
                "INSERT INTO shift (shift_id, opened_by, float_fen, opened_at) VALUES (?, ?, ?, ?)",
                (shift_id, staff_id, float_fen, opened_at),
            )
            return self._emit(
                conn, "shift_opened", device_time, self._synced(clock_synced),
                {"shift_id": shift_id, "opened_by": staff_id, "float_fen": float_fen,
                 "device_time": opened_at},
            )  # fmt: skip

    def record_shift_close(
        self, report: ShiftReport, closed_by: str, device_time: dt.datetime,
        clock_synced: bool | None = None,
    ) -> int:  # fmt: skip
        """Close a shift with its Z report (expected against counted cash); returns the seq."""
        if report.kind != "Z" or report.counted_cash_fen is None:
            raise InvalidRecord("a shift closes with a Z report that has the counted cash")
        closed_at = iso_utc(device_time)
        body = to_body(report, closed_by=closed_by, device_time=closed_at)
        with self._db.write() as conn:
            self._open_shift(conn, report.shift_id)
            conn.execute(
                "UPDATE shift SET closed_by = ?, closed_at = ?, counted_cash_fen = ?, "
                "z_report = ? WHERE shift_id = ?",
                (closed_by, closed_at, report.counted_cash_fen, encode(body), report.shift_id),
            )
            return self._emit(conn, "shift_closed", device_time, self._synced(clock_synced), body)

    def record_cash_movement(self, movement: CashMovement, clock_synced: bool | None = None) -> int:
        """Cash in or out of the drawer during an open shift; returns the seq."""
        if movement.amount_fen == 0:
            raise InvalidRecord("a cash movement needs a non-zero amount")
        if not movement.reason.strip():
            raise InvalidRecord("a cash movement needs a reason")
        body = to_body(movement)
        with self._db.write() as conn:
            self._open_shift(conn, movement.shift_id)
            seq = self._emit(
                conn, "cash_movement", movement.device_time, self._synced(clock_synced), body
            )
            conn.execute(
                "INSERT INTO cash_movement (movement_id, shift_id, amount_fen, reason, staff_id, "
                "device_time, seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (movement.movement_id, movement.shift_id, movement.amount_fen, movement.reason,
                 movement.staff_id, iso_utc(movement.device_time), seq),
            )  # fmt: skip
            return seq

    def record_audit(self, entry: AuditEntry, clock_synced: bool | None = None) -> int:
        """An override or other audited action; returns the seq."""
        with self._db.write() as conn:
            seq = self._emit(
                conn, "audit", entry.device_time, self._synced(clock_synced), to_body(entry)
            )
            conn.execute(
                "INSERT INTO audit_log (audit_id, action, staff_id, manager_id, detail, "
                "device_time, seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (entry.audit_id, entry.action, entry.staff_id, entry.manager_id, entry.detail,
                 iso_utc(entry.device_time), seq),
            )  # fmt: skip
            return seq

    def record_feedback(
        self, feedback_id: str, sale_id: str, rating: int, device_time: dt.datetime,
        comment: str = "", clock_synced: bool | None = None,
    ) -> int:  # fmt: skip
        """A 1-5 satisfaction rating attached to a sale recorded here; returns the seq."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise InvalidRecord(f"a rating is 1 to 5, got {rating!r}")
        stamp = iso_utc(device_time)
        with self._db.write() as conn:
            if not conn.execute("SELECT 1 FROM sale WHERE sale_id = ?", (sale_id,)).fetchone():
                raise InvalidRecord(f"no sale {sale_id} on this terminal to rate")
            seq = self._emit(
                conn, "feedback", device_time, self._synced(clock_synced),
                {"feedback_id": feedback_id, "sale_id": sale_id, "rating": rating,
                 "comment": comment, "device_time": stamp},
            )  # fmt: skip
            conn.execute(
                "INSERT INTO feedback (feedback_id, sale_id, rating, comment, device_time, seq) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (feedback_id, sale_id, rating, comment, stamp, seq),
            )
            return seq

    def record_complaint(
        self, complaint_id: str, staff_id: str, text: str, device_time: dt.datetime, *,
        member_id: str | None = None, sale_id: str | None = None,
        clock_synced: bool | None = None,
    ) -> int:  # fmt: skip
        """A complaint against a member or a sale, recorded as open; returns the seq."""
        if member_id is None and sale_id is None:
            raise InvalidRecord("a complaint is recorded against a member or a sale")
        if not text.strip():
            raise InvalidRecord("a complaint needs its text")
        if len(text) > TEXT_CHARS:
            raise InvalidRecord(f"a complaint is at most {TEXT_CHARS} characters")
        stamp = iso_utc(device_time)
        body = {
            "complaint_id": complaint_id, "member_id": member_id, "sale_id": sale_id,
            "staff_id": staff_id, "text": text, "status": "open", "device_time": stamp,
        }  # fmt: skip
        with self._db.write() as conn:
            seq = self._emit(conn, "complaint", device_time, self._synced(clock_synced), body)
            conn.execute(
                "INSERT INTO complaint (complaint_id, member_id, sale_id, staff_id, text, status, "
                "device_time, seq) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)",
                (complaint_id, member_id, sale_id, staff_id, text, stamp, seq),
            )
            return seq

    def record_member_note(
        self, note_id: str, member_id: str, staff_id: str, role: str, text: str,
        device_time: dt.datetime, *, clock_synced: bool | None = None,
    ) -> int:  # fmt: skip
        """A follow-up note on a member, for HQ's member 360; returns the seq.

        The till keeps no copy of its own (members' personal notes belong at HQ): the outbox
        row is the durable record until the cloud has acknowledged it.
        """
        if not member_id.strip():
            raise InvalidRecord("a note is written about a member")
        if not text.strip():
            raise InvalidRecord("a note needs its text")
        if len(text) > TEXT_CHARS:
            raise InvalidRecord(f"a note is at most {TEXT_CHARS} characters")
        body = {"note_id": note_id, "member_id": member_id, "staff_id": staff_id, "role": role,
                "text": text, "device_time": iso_utc(device_time)}  # fmt: skip
        with self._db.write() as conn:
            return self._emit(conn, "member_note", device_time, self._synced(clock_synced), body)

    def record_member_registration(
        self, member: Member, registered_by: str, device_time: dt.datetime, *,
        gender: str = "", cards: tuple[str, ...] = (), clock_synced: bool | None = None,
    ) -> int:  # fmt: skip
        """Register a member at the till (offline too): cache row, registration, one event."""
        phone = normalise_phone(member.phone)
        if len(phone) < 5:
            raise InvalidRecord("the phone number is required to register a member")
        stamp = iso_utc(device_time)
        body = to_body(member, phone=phone, gender=gender, cards=list(cards),
                       registered_by=registered_by, device_time=stamp)  # fmt: skip
        with self._db.write() as conn:
            self._members.insert_local(conn, member, cards)
            seq = self._emit(
                conn, "member_registered", device_time, self._synced(clock_synced), body
            )
            conn.execute(
                "INSERT INTO member_registration (member_id, phone, name, gender, birthday, "
                "registered_by, device_time, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (member.member_id, phone, member.name, gender,
                 member.birthday.isoformat() if member.birthday else None, registered_by,
                 stamp, seq),
            )  # fmt: skip
            return seq

    def suspend(
        self, suspend_id: str, cashier_id: str, shift_id: str, label: str,
        payload: dict[str, Any],
    ) -> None:  # fmt: skip
        """Park a cart (payload is the machine's plain dict). Local only: not a sale yet."""
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO suspended_sale (suspend_id, cashier_id, shift_id, label, payload, "
                "suspended_at) VALUES (?, ?, ?, ?, ?, ?)",
                (suspend_id, cashier_id, shift_id, label, encode(payload),
                 iso_utc(self._clock.now())),
            )  # fmt: skip

    def recall(self, suspend_id: str) -> dict[str, Any] | None:
        """Take a parked cart back (it leaves the list); None if it is not there."""
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT payload FROM suspended_sale WHERE suspend_id = ?", (suspend_id,)
            ).fetchone()
            if row is None:
                return None
            conn.execute("DELETE FROM suspended_sale WHERE suspend_id = ?", (suspend_id,))
        payload: dict[str, Any] = decode(row[0])
        return payload

    def suspended(self) -> list[Suspended]:
        """Parked carts, oldest first."""
        rows = self._db.query(
            "SELECT suspend_id, cashier_id, shift_id, label, suspended_at FROM suspended_sale "
            "ORDER BY suspended_at"
        )
        return [Suspended(*r) for r in rows]
