"""The member cache: lookups by card, phone and member code; snapshots and incremental changes."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any, Final

from device.checkout.records import Member, Tier
from device.store import bulk
from device.store.db import Database
from device.store.errors import InvalidRecord

STREAM: Final = "members"
_TIERS: Final = {t.value: t for t in Tier}
_COLUMNS: Final = (
    "member_id, phone, name, tier, points_balance, cumulative_spend_fen, birthday, "
    "opt_out_sms, member_code"
)
# Hot lookups are prepared SQL on the shared connection: a peewee query costs more to build
# than the whole indexed lookup, and the goal is p99 < 100 µs with a million members.
_BY_PHONE: Final = f"SELECT {_COLUMNS} FROM member WHERE phone = ?"
_BY_CODE: Final = f"SELECT {_COLUMNS} FROM member WHERE member_code = ?"
_BY_ID: Final = f"SELECT {_COLUMNS} FROM member WHERE member_id = ?"
_BY_CARD: Final = (
    "SELECT m.member_id, m.phone, m.name, m.tier, m.points_balance, m.cumulative_spend_fen, "
    "m.birthday, m.opt_out_sms, m.member_code "
    "FROM member_card AS c JOIN member AS m ON m.member_id = c.member_id WHERE c.card_id = ?"
)
_INSERT: Final = f"INSERT INTO {{table}} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UPSERT: Final = (
    f"INSERT INTO member ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (member_id) DO UPDATE SET phone = excluded.phone, name = excluded.name, "
    "tier = excluded.tier, points_balance = excluded.points_balance, "
    "cumulative_spend_fen = excluded.cumulative_spend_fen, birthday = excluded.birthday, "
    "opt_out_sms = excluded.opt_out_sms, member_code = excluded.member_code"
)


def normalise_phone(text: str) -> str:
    """Digits only, without a +86 country prefix: the form phones are stored and looked up in."""
    digits = "".join(ch for ch in str(text) if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def masked_phone(phone: str) -> str:
    """The phone as shown on receipts and the customer display: ``138****5678``."""
    digits = normalise_phone(phone)
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) < 8:
        return "*" * (len(digits) - 4) + digits[-4:]
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def _member(row: tuple[Any, ...]) -> Member:
    birthday = row[6]
    return Member(
        member_id=row[0],
        phone=row[1],
        name=row[2],
        tier=_TIERS[row[3]],
        points_balance=row[4],
        cumulative_spend_fen=row[5],
        birthday=dt.date.fromisoformat(birthday) if birthday else None,
        opt_out_sms=bool(row[7]),
        member_code=row[8] or "",
    )


def member_row(item: Mapping[str, Any]) -> tuple[tuple[Any, ...], tuple[str, ...] | None]:
    """Validate one incoming member (wire dict) into a table row and its cards (None: unchanged).

    Keys are the records.Member field names plus ``cards``; birthday is an ISO date or null.
    """
    member_id = str(item["member_id"]).strip()
    if not member_id:
        raise ValueError("empty member_id")
    phone = normalise_phone(item["phone"])
    if len(phone) < 5:
        raise ValueError(f"phone {item['phone']!r} is not a phone number")
    tier = str(item.get("tier", "regular"))
    if tier not in _TIERS:
        raise ValueError(f"unknown tier {tier!r}")
    birthday = item.get("birthday")
    if birthday:
        birthday = dt.date.fromisoformat(str(birthday)).isoformat()
    code = str(item.get("member_code") or "") or None
    cards = item.get("cards")
    row = (
        member_id, phone, str(item.get("name") or ""), tier, int(item.get("points_balance", 0)),
        int(item.get("cumulative_spend_fen", 0)), birthday or None,
        int(bool(item.get("opt_out_sms", False))), code,
    )  # fmt: skip
    return row, bulk.key_list(cards, "cards")


class MemberCache:
    """The Members port plus the loaders the sync layer feeds."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _one(self, sql: str, key: str) -> Member | None:
        row = self._db.row(sql, (key,))
        return None if row is None else _member(row)

    def by_card(self, card_id: str) -> Member | None:
        """The member holding this card (magstripe or NFC UID), or None."""
        return self._one(_BY_CARD, card_id.strip())

    def by_phone(self, phone: str) -> Member | None:
        """The member with this phone number (any common formatting), or None."""
        digits = normalise_phone(phone)
        return self._one(_BY_PHONE, digits) if digits else None

    def by_code(self, member_code: str) -> Member | None:
        """The member with this member code (from a QR or barcode), or None."""
        code = member_code.strip()
        return self._one(_BY_CODE, code) if code else None

    def by_id(self, member_id: str) -> Member | None:
        """The member with this id, or None."""
        return self._one(_BY_ID, member_id)

    def cards(self, member_id: str) -> list[str]:
        """Card ids held by a member."""
        rows = self._db.query(
            "SELECT card_id FROM member_card WHERE member_id = ? ORDER BY card_id", (member_id,)
        )
        return [r[0] for r in rows]

    def count(self) -> int:
        """Members in the cache."""
        return int(self._db.query("SELECT count(*) FROM member")[0][0])

    def load_snapshot(
        self,
        items: Iterable[Mapping[str, Any]],
        *,
        version: int | None = None,
        batch_size: int = 50_000,
        cache_mb: int = 256,
    ) -> int:
        """Replace the whole cache with a snapshot; all or nothing. Returns the member count.

        One transaction: with WAL, nothing is synced until the final commit, so the batches
        cost no fsyncs (synchronous=FULL only matters at that commit), and a failure at any
        point leaves the previous cache in place. Writers wait for the load (busy timeout), so
        the sync layer should load snapshots while no sale is being recorded.
        """
        loaded = 0

        def fill(shadow: Mapping[str, str]) -> None:
            nonlocal loaded
            loaded = bulk.fill(
                self._db.conn(), items, batch_size, "member", member_row,
                _INSERT.format(table=shadow["member"]),
                f'INSERT INTO "{shadow["member_card"]}" (card_id, member_id) VALUES (?, ?)',
            )  # fmt: skip

        with self._db.write() as conn:
            conn.execute(f"PRAGMA cache_size = {-1024 * cache_mb}")
            try:
                bulk.replace_tables(conn, ("member", "member_card"), fill)
                # Members registered at this till and not yet acknowledged by the cloud are
                # not in its snapshot; keep them findable until their event is synced.
                conn.execute(
                    f"INSERT INTO member ({_COLUMNS}) "
                    "SELECT r.member_id, r.phone, r.name, 'regular', 0, 0, r.birthday, 0, NULL "
                    "FROM member_registration AS r WHERE r.seq > "
                    "(SELECT coalesce(max(value), 0) FROM counter WHERE name = 'acked') "
                    "AND NOT EXISTS (SELECT 1 FROM member AS m WHERE m.member_id = r.member_id "
                    "OR m.phone = r.phone)"
                )
                if version is not None:
                    bulk.set_stream_version(conn, STREAM, version)
            finally:
                conn.execute(f"PRAGMA cache_size = {-1024 * self._db.options.cache_mb}")
        return loaded

    def upsert(self, items: Iterable[Mapping[str, Any]], *, version: int | None = None) -> int:
        """Add or change members (idempotent); returns how many rows were applied.

        The cloud is authoritative: a phone or member code now held by another member is
        taken from the stale holder, whose own update will follow.
        """

        def change(conn: sqlite3.Connection) -> int:
            applied = 0
            for index, item in enumerate(items):
                try:
                    row, cards = member_row(item)
                except (KeyError, TypeError, ValueError) as exc:
                    raise bulk.row_error("member", index, item, exc) from exc
                self._apply(conn, row, cards)
                applied += 1
            return applied

        return bulk.apply_change(self._db, STREAM, version, change)

    @staticmethod
    def _apply(
        conn: sqlite3.Connection, row: tuple[Any, ...], cards: tuple[str, ...] | None
    ) -> None:
        member_id, phone, code = row[0], row[1], row[8]
        stale = conn.execute(
            "SELECT member_id FROM member WHERE (phone = ? OR member_code = ?) AND member_id <> ?",
            (phone, code, member_id),
        ).fetchall()
        for (other,) in stale:
            conn.execute("DELETE FROM member_card WHERE member_id = ?", (other,))
            conn.execute("DELETE FROM member WHERE member_id = ?", (other,))
        conn.execute(_UPSERT, row)
        if cards is not None:
            conn.execute("DELETE FROM member_card WHERE member_id = ?", (member_id,))
            conn.executemany(
                "INSERT OR REPLACE INTO member_card (card_id, member_id) VALUES (?, ?)",
                [(card, member_id) for card in cards],
            )

    def insert_local(
        self, conn: sqlite3.Connection, member: Member, cards: tuple[str, ...]
    ) -> None:
        """Add a member registered at this till, inside the caller's transaction."""
        phone = normalise_phone(member.phone)
        holder = conn.execute("SELECT member_id FROM member WHERE phone = ?", (phone,)).fetchone()
        if holder is not None:
            raise InvalidRecord(f"phone {masked_phone(phone)} is already a member ({holder[0]})")
        row, _ = member_row(
            {"member_id": member.member_id, "phone": phone, "name": member.name,
             "tier": member.tier.value, "points_balance": member.points_balance,
             "cumulative_spend_fen": member.cumulative_spend_fen,
             "birthday": member.birthday.isoformat() if member.birthday else None,
             "opt_out_sms": member.opt_out_sms, "member_code": member.member_code}
        )  # fmt: skip
        conn.execute(_INSERT.format(table="member"), row)
        conn.executemany(
            "INSERT INTO member_card (card_id, member_id) VALUES (?, ?)",
            [(card, member.member_id) for card in cards],
        )

    def delete(self, member_ids: Iterable[str], *, version: int | None = None) -> int:
        """Remove members (and their cards); unknown ids are ignored. Returns rows removed."""

        def change(conn: sqlite3.Connection) -> int:
            removed = 0
            for member_id in member_ids:
                conn.execute("DELETE FROM member_card WHERE member_id = ?", (member_id,))
                removed += conn.execute(
                    "DELETE FROM member WHERE member_id = ?", (member_id,)
                ).rowcount
            return removed

        return bulk.apply_change(self._db, STREAM, version, change)
