"""The sales journal: recording sales and returns (one transaction each) and reading them back."""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from device.checkout.loyalty import earnable_fen
from device.checkout.money import format_fen
from device.checkout.records import PointsDelta, ReturnRecord, SaleRecord, Tier
from device.store import outbox
from device.store.coupons import USE as _COUPON_USE
from device.store.db import Database
from device.store.errors import InvalidRecord, StoreError
from device.store.models import Models
from device.store.serialize import decode, encode, encode_record, from_plain, iso_utc, to_body

# Prepared statements for the commit path (see models.py for why these are not peewee queries).
# A sale is one row holding its event body, lines, tenders and points included (schema v3);
# its outbox row points at it, so a commit dirties the sale table and its two keys, the
# counter, a shared outbox page and the member's row, and the sale is encoded only once.
_SALE: Final = (
    "INSERT INTO sale (seq, sale_id, receipt_no, business_date, cashier_id, shift_id, member_id, "
    "member_tier, gross_fen, discount_fen, total_fen, change_fen, points_earned, points_redeemed, "
    "coupon_codes, device_time, clock_synced, recorded_at, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# The till's copy of the member is the cloud's value plus this till's own events the cloud has
# not counted yet (docs/loyalty.md): each sale and return adds its own part in its own
# transaction, and the cloud's next push rebases. Spend counts money paid, as the cloud counts
# it; points are the event's ledger rows; an upgrade applies at once.
_MEMBER_DELTA: Final = (
    "UPDATE member SET cumulative_spend_fen = max(0, cumulative_spend_fen + ?), "
    "points_balance = points_balance + ?, returns_30d = returns_30d + ?, "
    "tier = coalesce(?, tier) WHERE member_id = ?"
)
_RETURN_POINTS: Final = (
    "INSERT INTO return_points (seq, idx, member_id, delta, reason, origin_sale_id, "
    "origin_return_id, device_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_RETURN: Final = (
    "INSERT INTO sale_return (seq, return_id, receipt_no, business_date, original_sale_id, "
    "original_receipt_no, cashier_id, shift_id, member_id, refund_fen, authorised_by, reason, "
    "device_time, clock_synced, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_RETURN_LINE: Final = (
    "INSERT INTO return_line (seq, idx, original_line_no, sku, quantity, weight_g, refund_fen) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_REFUND: Final = (
    "INSERT INTO return_refund (seq, idx, kind, amount_fen, tendered_fen, approval_code, "
    "reference) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# Money a sale took, and money already refunded against it (the over-refund check).
_MONEY_KINDS: Final = ("cash", "card", "mobile")
_IN_MONEY: Final = "IN (" + ", ".join(f"'{kind}'" for kind in _MONEY_KINDS) + ")"
_SALE_MONEY: Final = (
    "SELECT s.receipt_no, coalesce(sum(t.amount_fen), 0) FROM sale AS s "
    f"LEFT JOIN sale_tender AS t ON t.seq = s.seq AND t.kind {_IN_MONEY} "
    "WHERE s.sale_id = ? GROUP BY s.seq"
)
_REFUNDED_MONEY: Final = (
    "SELECT coalesce(sum(f.amount_fen), 0) FROM sale_return AS r "
    "JOIN return_refund AS f ON f.seq = r.seq "
    f"WHERE r.original_sale_id = ? AND f.kind {_IN_MONEY}"
)


@dataclass(frozen=True, slots=True)
class Recorded:
    """What the store assigned to a recorded sale or return."""

    receipt_no: str
    seq: int
    already_recorded: bool = False  # a replay of a sale/return the journal already holds


RecordedSale = Recorded  # the name the checkout's command handlers use for a sale's result


def _check_points(points: tuple[PointsDelta, ...], member_id: str | None, what: str) -> None:
    for delta in points:
        if not delta.member_id:
            raise InvalidRecord(f"{what}: a points delta has no member")
        if member_id is not None and delta.member_id != member_id:
            raise InvalidRecord(f"{what}: points delta for {delta.member_id}, not {member_id}")


def _check_refund_within_sale(conn: sqlite3.Connection, ret: ReturnRecord) -> None:
    """Refuse a return giving back more money than its sale (recorded here) took in money.

    A share paid with points or a coupon comes back as points or against the coupon, never
    as cash; otherwise the member's spend (which counts money only) would go below zero.
    A sale rung up at another till is not in this journal and is left to the cloud.
    """
    if ret.original_sale_id is None:
        return
    sale = conn.execute(_SALE_MONEY, (ret.original_sale_id,)).fetchone()
    if sale is None:
        return
    receipt_no, paid = sale[0], int(sale[1])
    earlier = int(conn.execute(_REFUNDED_MONEY, (ret.original_sale_id,)).fetchone()[0])
    money = sum(t.amount_fen for t in ret.refunds if t.kind.value in _MONEY_KINDS)
    if money + earlier > paid:
        raise InvalidRecord(
            f"return {ret.return_id}: refunds {format_fen(money)} in money, but sale "
            f"{receipt_no} took {format_fen(paid)} in money and {format_fen(earlier)} of it "
            "is already refunded"
        )


class JournalWriter:
    """Records sales and returns: journal rows, ledger rows and one outbox event, atomically."""

    def __init__(self, db: Database, receipt_prefix: str, tz: ZoneInfo) -> None:
        self._db = db
        self._prefix = receipt_prefix
        self._tz = tz

    def business_date(self, moment: dt.datetime) -> str:
        """The store-local calendar day of ``moment`` as YYYYMMDD (receipts restart daily)."""
        return moment.astimezone(self._tz).strftime("%Y%m%d")

    def record_sale(
        self, sale: SaleRecord, recorded_at: dt.datetime, new_tier: Tier | None = None
    ) -> Recorded:
        """Record a completed sale; call before printing. A replayed sale_id is not doubled.

        ``new_tier`` is the member's tier after an upgrade this sale earned (the checkout's
        RecordTierChange), so the cached member changes in the sale's own transaction.
        """
        if not sale.lines:
            raise InvalidRecord(f"sale {sale.sale_id} has no lines")
        if len({line.line_no for line in sale.lines}) != len(sale.lines):
            raise InvalidRecord(f"sale {sale.sale_id} repeats a line number")
        _check_points(sale.points, sale.member_id, f"sale {sale.sale_id}")
        device_time = iso_utc(sale.device_time)  # a naive time is refused before writing
        try:
            return self._write_sale(sale, device_time, iso_utc(recorded_at), new_tier)
        except StoreError as exc:
            # A replay of a recorded sale hits the sale_id key; answer with what was recorded.
            # (Checked after the fact so the common case pays for no extra lookup.)
            if isinstance(exc.__cause__, sqlite3.IntegrityError):
                prior = self._db.query(
                    "SELECT receipt_no, seq FROM sale WHERE sale_id = ?", (sale.sale_id,)
                )
                if prior:
                    return Recorded(prior[0][0], prior[0][1], already_recorded=True)
            raise

    def _write_sale(
        self, sale: SaleRecord, device_time: str, now: str, new_tier: Tier | None
    ) -> Recorded:
        sid = sale.sale_id
        day = self.business_date(sale.device_time)
        with self._db.write() as conn:
            seq, receipt_no = outbox.next_seq_and_receipt(conn, self._prefix, day)
            body = encode_record(sale, receipt_no=receipt_no)
            conn.execute(
                _SALE,
                (seq, sid, receipt_no, day, sale.cashier_id, sale.shift_id, sale.member_id,
                 sale.member_tier.value if sale.member_tier else None, sale.gross_fen,
                 sale.discount_fen, sale.total_fen, sale.change_fen, sale.points_earned,
                 sale.points_redeemed, encode(sale.coupon_codes), device_time,
                 int(sale.clock_synced), now, body),
            )  # fmt: skip
            if sale.member_id is not None:
                spend = earnable_fen(sale.total_fen, sale.tenders)
                tier = new_tier.value if new_tier is not None else None
                points = sum(p.delta for p in sale.points)
                conn.execute(_MEMBER_DELTA, (spend, points, 0, tier, sale.member_id))
            if sale.coupon_codes:
                # Confirmed: HQ checked the coupon online and holds the use (approval code).
                confirmed = {t.reference for t in sale.tenders
                             if t.kind.value == "coupon" and t.approval_code}  # fmt: skip
                conn.executemany(
                    _COUPON_USE,
                    [(code, seq, sid, int(code in confirmed)) for code in sale.coupon_codes],
                )
            # The event's body is the sale row's (see outbox.pending).
            outbox.append(conn, seq, "sale", device_time, sale.clock_synced, None, now)
        return Recorded(receipt_no, seq)

    def record_return(self, ret: ReturnRecord, recorded_at: dt.datetime) -> Recorded:
        """Record a return with its refunds and points reversals; replays are not doubled."""
        if not ret.lines:
            raise InvalidRecord(f"return {ret.return_id} has no lines")
        _check_points(ret.points, ret.member_id, f"return {ret.return_id}")
        refunded = sum(t.amount_fen for t in ret.refunds)
        if refunded != ret.refund_fen:
            raise InvalidRecord(
                f"return {ret.return_id}: refunds add up to {format_fen(refunded)}, "
                f"not its refund of {format_fen(ret.refund_fen)}"
            )
        body = to_body(ret)
        device_time = iso_utc(ret.device_time)
        day = self.business_date(ret.device_time)
        now = iso_utc(recorded_at)
        rid = ret.return_id
        with self._db.write() as conn:
            prior = conn.execute(
                "SELECT receipt_no, seq FROM sale_return WHERE return_id = ?", (rid,)
            ).fetchone()
            if prior is not None:
                return Recorded(prior[0], prior[1], already_recorded=True)
            _check_refund_within_sale(conn, ret)
            seq, receipt_no = outbox.next_seq_and_receipt(conn, self._prefix, day)
            conn.execute(
                _RETURN,
                (seq, rid, receipt_no, day, ret.original_sale_id, ret.original_receipt_no,
                 ret.cashier_id, ret.shift_id, ret.member_id, ret.refund_fen, ret.authorised_by,
                 ret.reason, device_time, int(ret.clock_synced), now),
            )  # fmt: skip
            conn.executemany(
                _RETURN_LINE,
                [(seq, i, ln.original_line_no, ln.sku, ln.quantity, ln.weight_g, ln.refund_fen)
                 for i, ln in enumerate(ret.lines)],
            )  # fmt: skip
            if ret.refunds:
                conn.executemany(
                    _REFUND,
                    [(seq, i, t.kind.value, t.amount_fen, t.tendered_fen, t.approval_code,
                      t.reference) for i, t in enumerate(ret.refunds)],
                )  # fmt: skip
            if ret.points:
                conn.executemany(
                    _RETURN_POINTS,
                    [(seq, i, p.member_id, p.delta, p.reason.value,
                      p.origin_sale_id or ret.original_sale_id or "", rid, device_time)
                     for i, p in enumerate(ret.points)],
                )  # fmt: skip
            if ret.member_id is not None:  # returned money no longer counts towards a tier
                refunded_money = earnable_fen(ret.refund_fen, ret.refunds)
                points = sum(p.delta for p in ret.points)
                conn.execute(_MEMBER_DELTA, (-refunded_money, points, 1, None, ret.member_id))
            body["receipt_no"] = receipt_no
            outbox.append(conn, seq, "return", device_time, ret.clock_synced, body, now)
        return Recorded(receipt_no, seq)


class JournalReader:
    """The Journal and Points ports: recorded sales and returns, read back as records."""

    def __init__(self, db: Database, models: Models) -> None:
        self._db = db
        self._m = models

    def _return_points(self, seq: int) -> list[dict[str, Any]]:
        rows = self._db.query(
            "SELECT member_id, delta, reason, origin_sale_id FROM return_points "
            "WHERE seq = ? ORDER BY idx",
            (seq,),
        )
        return [
            {"member_id": r[0], "delta": r[1], "reason": r[2], "origin_sale_id": r[3]} for r in rows
        ]

    def sale(self, sale_id: str) -> tuple[SaleRecord, str] | None:
        """(sale, receipt_no) by sale id, or None."""
        return self._sale_where("sale_id", sale_id)

    def sale_by_receipt(self, receipt_no: str) -> tuple[SaleRecord, str] | None:
        """(sale, receipt_no) for a receipt number printed by this terminal, or None."""
        return self._sale_where("receipt_no", receipt_no.strip())

    def _sale_where(self, column: str, key: str) -> tuple[SaleRecord, str] | None:
        rows = self._db.query(f"SELECT body, receipt_no FROM sale WHERE {column} = ?", (key,))
        if not rows:
            return None
        return from_plain(decode(rows[0][0]), SaleRecord), rows[0][1]

    def returns_for_sale(self, sale_id: str) -> list[ReturnRecord]:
        """Earlier returns against a sale, oldest first."""
        m = self._m
        rows = (
            m.sale_return.select()
            .where(m.sale_return.original_sale_id == sale_id)
            .order_by(m.sale_return.seq)
        )
        return [self._rebuild_return(r) for r in rows]

    def return_receipt(self, return_id: str) -> str | None:
        """The receipt number printed for a return, or None."""
        m = self._m
        row = m.sale_return.get_or_none(m.sale_return.return_id == return_id)
        return None if row is None else str(row.receipt_no)

    def _rebuild_return(self, row: Any) -> ReturnRecord:
        m = self._m
        lines = [
            {"original_line_no": ln.original_line_no, "sku": ln.sku, "quantity": ln.quantity,
             "weight_g": ln.weight_g, "refund_fen": ln.refund_fen}
            for ln in m.return_line.select()
            .where(m.return_line.seq == row.seq)
            .order_by(m.return_line.idx)
        ]  # fmt: skip
        refunds = [
            {"kind": t.kind, "amount_fen": t.amount_fen, "tendered_fen": t.tendered_fen,
             "approval_code": t.approval_code, "reference": t.reference}
            for t in m.return_refund.select()
            .where(m.return_refund.seq == row.seq)
            .order_by(m.return_refund.idx)
        ]  # fmt: skip
        plain = {
            "return_id": row.return_id, "original_sale_id": row.original_sale_id,
            "original_receipt_no": row.original_receipt_no, "cashier_id": row.cashier_id,
            "shift_id": row.shift_id, "member_id": row.member_id, "lines": lines,
            "refund_fen": row.refund_fen, "refunds": refunds,
            "points": self._return_points(row.seq),
            "authorised_by": row.authorised_by, "device_time": row.device_time,
            "clock_synced": row.clock_synced, "reason": row.reason,
        }  # fmt: skip
        return from_plain(plain, ReturnRecord)

    def member_returns_since(self, member_id: str, since: dt.datetime) -> int:
        """The member's returns for the abuse limit: chain-wide where the cloud has told us.

        The cached member holds the cloud's count over the last 30 days plus this till's own
        returns it had not counted yet; this till's own journal since ``since`` is the floor
        (a member the cloud never pushed, or a till offline for long).
        """
        m = self._m
        here = int(
            m.sale_return.select()
            .where(
                (m.sale_return.member_id == member_id)
                & (m.sale_return.device_time >= iso_utc(since))
            )
            .count()
        )
        row = self._db.row("SELECT returns_30d FROM member WHERE member_id = ?", (member_id,))
        return max(here, int(row[0]) if row else 0)
