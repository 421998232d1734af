"""Peewee models of coupons and returned units: what the cloud answers tills' requests from.

Built per database like cloud.store.models. The tables are created on open when missing
(``prepare``), together with an index of the events table by receipt number (a till looks
up any receipt of the chain) and the returned units of every return already stored, so a
database that predates them answers correctly from its first request.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Final

import peewee as pw

from cloud.store.models import JsonText
from cloud.store.schema_lock import schema_change
from protocol.bounds import CODE_CHARS, ID_CHARS, MEMBER_ID_CHARS, RECEIPT_CHARS

UUID_CHARS: Final = 36
#: Key class of the PostgreSQL advisory locks this module's users take (per sale, per coupon).
LOCK_CLASS: Final = 0x504F53  # "POS"
RECEIPT_INDEX: Final = "events_receipt_no"


@dataclass(frozen=True)
class RemoteModels:
    """Coupon and return-ledger model classes bound to one database."""

    Coupon: Any
    CouponUse: Any
    CouponHold: Any
    ReturnedUnits: Any
    ReturnProblem: Any
    CouponRule: Any

    def all(self) -> list[type[pw.Model]]:
        """Every model, in creation order."""
        return [getattr(self, f.name) for f in fields(self)]


def build_remote_models(database: pw.Database) -> RemoteModels:
    """Create the model classes bound to ``database``."""

    class Base(pw.Model):
        class Meta:
            pass

    Base._meta.database = database

    class Coupon(Base):
        code = pw.CharField(primary_key=True, max_length=CODE_CHARS)
        kind = pw.CharField(max_length=16)  # amount | percent | gift
        value = pw.BigIntegerField()  # fen, or basis points of the sale for a percentage
        min_spend_fen = pw.BigIntegerField(default=0)
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS, null=True, index=True)
        valid_from = pw.DateField(null=True)
        valid_until = pw.DateField(null=True)
        stores = JsonText(default=list)  # [] : every store
        max_uses = pw.IntegerField(default=1)
        uses = pw.IntegerField(default=0)  # uses recorded from sales (kept by ingest)
        revoked = pw.BooleanField(default=False)
        source = pw.CharField(max_length=64, default="")  # "hq:<user>", "rule:<name>", "push"
        note = pw.TextField(default="")
        issued_at = pw.DateTimeField()
        updated_at = pw.DateTimeField()

        class Meta:
            table_name = "coupons"

    class CouponUse(Base):
        """One coupon tender of one stored sale; ``problem`` says what HQ should look at."""

        id = pw.BigAutoField()
        code = pw.CharField(max_length=CODE_CHARS, index=True)
        terminal_id = pw.CharField(max_length=ID_CHARS)
        seq = pw.BigIntegerField()
        store_id = pw.CharField(max_length=ID_CHARS)
        sale_id = pw.CharField(max_length=UUID_CHARS)
        receipt_no = pw.CharField(max_length=RECEIPT_CHARS, default="")
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS, null=True)
        amount_fen = pw.BigIntegerField()
        business_day = pw.DateField()
        confirmed = pw.BooleanField()  # HQ had confirmed it online (the till held a use)
        problem = pw.CharField(max_length=128, default="")  # "" | "over_limit" | "expired"...
        recorded_at = pw.DateTimeField()

        class Meta:
            table_name = "coupon_uses"
            indexes = ((("terminal_id", "seq", "code"), True),)

    class CouponHold(Base):
        """A use HQ confirmed to a till whose sale has not arrived yet."""

        code = pw.CharField(max_length=CODE_CHARS)
        terminal_id = pw.CharField(max_length=ID_CHARS)
        store_id = pw.CharField(max_length=ID_CHARS)
        amount_fen = pw.BigIntegerField()
        request_id = pw.CharField(max_length=32)
        expires_at = pw.DateTimeField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "coupon_holds"
            primary_key = pw.CompositeKey("code", "terminal_id")

    class ReturnedUnits(Base):
        """Units of one line of a sale taken back by one return: reserved, or recorded."""

        return_id = pw.CharField(max_length=UUID_CHARS)
        line_no = pw.IntegerField()
        sale_id = pw.CharField(max_length=UUID_CHARS, index=True)
        receipt_no = pw.CharField(max_length=RECEIPT_CHARS, default="")
        units = pw.BigIntegerField()  # pieces, or grams of a weighed line
        terminal_id = pw.CharField(max_length=ID_CHARS)
        seq = pw.BigIntegerField(default=0)  # the return's event (0 while only claimed)
        state = pw.CharField(max_length=16)  # "claimed" | "recorded"
        expires_at = pw.DateTimeField(null=True)  # a claim lapses unless its return arrives
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "return_ledger"
            primary_key = pw.CompositeKey("return_id", "line_no")

    class ReturnProblem(Base):
        """A stored return that takes back more than its sale left (taken offline, in flight)."""

        id = pw.BigAutoField()
        terminal_id = pw.CharField(max_length=ID_CHARS)
        seq = pw.BigIntegerField()
        store_id = pw.CharField(max_length=ID_CHARS)
        return_id = pw.CharField(max_length=UUID_CHARS)
        sale_id = pw.CharField(max_length=UUID_CHARS, default="")
        receipt_no = pw.CharField(max_length=RECEIPT_CHARS, default="")
        line_no = pw.IntegerField(default=0)
        sold_units = pw.BigIntegerField(default=0)
        returned_units = pw.BigIntegerField(default=0)  # all returns of the line, this included
        # "over_return" | "unknown_receipt" | "not_on_receipt" | "ambiguous_receipt" |
        # "receipt_reused" (a sale, not a return: its till printed the number before)
        reason = pw.CharField(max_length=32)
        detected_at = pw.DateTimeField(index=True)

        class Meta:
            table_name = "return_problems"
            indexes = ((("terminal_id", "seq", "line_no", "reason"), True),)

    class CouponRule(Base):
        """Spend at least ``min_total_fen`` (a member's sale) and get a coupon for next time."""

        name = pw.CharField(primary_key=True, max_length=32)
        min_total_fen = pw.BigIntegerField()
        sale_stores = JsonText(default=list)  # stores whose sales count ([]: every store)
        kind = pw.CharField(max_length=16)
        value = pw.BigIntegerField()
        min_spend_fen = pw.BigIntegerField(default=0)
        valid_days = pw.IntegerField()  # from the sale's business day, that day included
        stores = JsonText(default=list)  # where the coupon it issues counts ([]: every store)
        max_uses = pw.IntegerField(default=1)
        active = pw.BooleanField(default=True)
        issued = pw.BigIntegerField(default=0)
        created_by = pw.CharField(max_length=64, default="")
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "coupon_rules"

    return RemoteModels(
        Coupon=Coupon,
        CouponUse=CouponUse,
        CouponHold=CouponHold,
        ReturnedUnits=ReturnedUnits,
        ReturnProblem=ReturnProblem,
        CouponRule=CouponRule,
    )


def return_units(body: dict[str, Any]) -> dict[int, int]:
    """Units per original line a return body takes back (pieces, or grams when weighed)."""
    units: dict[int, int] = {}
    for line in body.get("lines") or ():
        line_no = int(line.get("original_line_no") or 0)
        weight = line.get("weight_g")
        taken = int(weight) if weight is not None else int(line.get("quantity") or 0)
        if line_no > 0 and taken > 0:
            units[line_no] = units.get(line_no, 0) + taken
    return units


def _backfill(database: pw.Database, models: RemoteModels) -> None:
    """The ledger of every return against a receipt already stored (the first open only)."""
    cursor = database.execute_sql(
        "SELECT terminal_id, seq, body, received_at FROM events "
        "WHERE type = 'return' AND status IN ('ok', 'held')"
    )
    rows = []
    for terminal_id, seq, body_text, received_at in cursor.fetchall():
        body = JsonText().python_value(body_text) or {}
        sale_id, return_id = body.get("original_sale_id"), body.get("return_id")
        if not (isinstance(sale_id, str) and sale_id and isinstance(return_id, str)):
            continue
        for line_no, units in return_units(body).items():
            rows.append({
                "return_id": return_id[:UUID_CHARS], "line_no": line_no,
                "sale_id": sale_id[:UUID_CHARS],
                "receipt_no": str(body.get("original_receipt_no") or "")[:RECEIPT_CHARS],
                "units": units, "terminal_id": terminal_id, "seq": seq, "state": "recorded",
                "created_at": received_at,
            })  # fmt: skip
    for start in range(0, len(rows), 500):
        models.ReturnedUnits.insert_many(rows[start : start + 500]).on_conflict_ignore().execute()


def prepare(database: pw.Database, models: RemoteModels) -> None:
    """Create the tables, the receipt index and the ledger of earlier returns, once.

    Nothing is touched when the tables exist (a CREATE ... IF NOT EXISTS still locks what it
    finds on PostgreSQL, and a second worker starting while the first writes would wait).
    """
    names = {m._meta.table_name for m in models.all()}
    if names <= set(database.get_tables()):
        return
    with schema_change(database, LOCK_CLASS):
        present = set(database.get_tables())
        if names <= present:
            return
        database.create_tables([m for m in models.all() if m._meta.table_name not in present])
        if models.ReturnedUnits._meta.table_name not in present:  # the ledger's first day
            database.execute_sql(
                f"CREATE INDEX IF NOT EXISTS {RECEIPT_INDEX} ON events (receipt_no, type)"
            )
            _backfill(database, models)
