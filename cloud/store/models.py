"""Peewee models of the cloud: terminals, events, dead letters, members, points, sales figures.

One model set serves SQLite and PostgreSQL. Rather than a module-level DatabaseProxy that a
call initialises later (module state shared by every CloudDB in the process), ``build_models``
makes a fresh set of classes bound to one database, so a test can hold a SQLite and a
PostgreSQL store side by side and nothing at module level ever changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

import peewee as pw

from protocol.bounds import (
    CODE_CHARS,
    EPOCH_CHARS,
    ID_CHARS,
    LABEL_CHARS,
    MEMBER_ID_CHARS,
    PHONE_CHARS,
    RECEIPT_CHARS,
    RECORD_ID_CHARS,
    SKU_CHARS,
    SOFTWARE_VERSION_CHARS,
)

# Every column holding a wire value is sized from protocol.bounds, so a value the protocol
# lets through can never be refused by PostgreSQL's VARCHAR(n) while SQLite accepts it.
UUID_CHARS = 36
TYPE_CHARS = 32


class JsonText(pw.TextField):
    """JSON kept as text, identical on both engines (no JSON/JSONB dialect differences)."""

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)


class Bytes(pw.BlobField):
    """Binary that reads back as bytes on both engines (psycopg2 hands out memoryview)."""

    def python_value(self, value: Any) -> bytes | None:
        return None if value is None else bytes(value)


@dataclass(frozen=True)
class Models:
    """The model classes bound to one database, in creation order."""

    SchemaMeta: Any
    Terminal: Any
    Event: Any
    DeadLetter: Any
    Member: Any
    TierChange: Any
    PointsLedger: Any
    OverRedemption: Any
    SkuSales: Any
    DailyTotals: Any
    StreamVersion: Any
    DownChange: Any
    EventConflict: Any
    TerminalEpoch: Any
    EventFlag: Any

    def all(self) -> list[type[pw.Model]]:
        """Every model, parents before children."""
        return [getattr(self, f.name) for f in fields(self)]


def build_models(database: pw.Database) -> Models:
    """Create the model classes bound to ``database``."""

    class Base(pw.Model):
        class Meta:
            pass

    Base._meta.database = database  # set here, not in Meta, so each call gets its own binding

    class SchemaMeta(Base):
        key = pw.CharField(primary_key=True, max_length=64)
        value = pw.TextField()

        class Meta:
            table_name = "schema_meta"

    class Terminal(Base):
        terminal_id = pw.CharField(primary_key=True, max_length=ID_CHARS)
        store_id = pw.CharField(max_length=ID_CHARS, index=True)
        high_water = pw.BigIntegerField(default=0)  # highest contiguous seq stored
        max_seq = pw.BigIntegerField(default=0)  # highest seq stored (above a gap if > mark)
        online = pw.BooleanField(default=False)
        last_seen = pw.DateTimeField(null=True)  # UTC, naive
        status = JsonText(null=True)  # the last status message as sent
        status_at = pw.DateTimeField(null=True)
        outbox_depth = pw.IntegerField(null=True)
        printer = pw.CharField(max_length=32, null=True)
        software_version = pw.CharField(max_length=SOFTWARE_VERSION_CHARS, null=True)
        clock_synced = pw.BooleanField(null=True)
        flagged = pw.BooleanField(default=False)
        flag_reason = pw.TextField(default="")
        # The same as a message id with arguments (cloud.domain.flags), which the HQ page says
        # in its reader's language; None for a flag given as plain text (and older flags).
        flag_message = JsonText(null=True)
        flagged_at = pw.DateTimeField(null=True)
        # The store file's epoch and where it starts (cloud.domain.epochs); carry_* bound the
        # events its repair sent again, which may duplicate events held above carry_after.
        epoch = pw.CharField(max_length=EPOCH_CHARS, default="")
        epoch_since = pw.BigIntegerField(default=1)
        carry_after = pw.BigIntegerField(default=0)
        carry_from = pw.BigIntegerField(default=0)
        carry_to = pw.BigIntegerField(default=0)
        # The highest receipt key (cloud.domain.receipt_numbers) of its stored sales: a new
        # sale numbered above it cannot repeat one. None until ingest has worked it out.
        receipt_mark = pw.BigIntegerField(null=True)

        class Meta:
            table_name = "terminals"

    class Event(Base):
        terminal_id = pw.CharField(max_length=ID_CHARS)
        seq = pw.BigIntegerField()
        event_id = pw.CharField(max_length=UUID_CHARS)  # no index: random UUIDs cost inserts
        store_id = pw.CharField(max_length=ID_CHARS)
        type = pw.CharField(max_length=TYPE_CHARS)
        device_time = pw.CharField(max_length=40)  # as sent: may be wrong if clock unsynced
        clock_synced = pw.BooleanField()
        received_at = pw.DateTimeField()
        business_day = pw.DateField()  # store-local
        business_hour = pw.SmallIntegerField()
        amount_fen = pw.BigIntegerField(default=0)  # sale total or refund, for listings
        receipt_no = pw.CharField(max_length=RECEIPT_CHARS, default="")
        dead = pw.BooleanField(default=False)  # kept aside: stored, but not projected
        body = JsonText()
        epoch = pw.CharField(max_length=EPOCH_CHARS, default="")
        # "ok" (projected), "dead" (unusable body), "held" (implausible: waits for HQ),
        # "rejected" (HQ said no), "abandoned" (a seq the lost store file held; never comes),
        # "duplicate" (a carried event the cloud already held at another seq), "lost" (a seq
        # this database lost to a restore and past the till's resend window: HQ recovers it).
        status = pw.CharField(max_length=16, default="ok")
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS, null=True)

        class Meta:
            table_name = "events"
            # (terminal, seq) is the identity of an event and the idempotency key of ingest.
            primary_key = pw.CompositeKey("terminal_id", "seq")
            indexes = (
                (("store_id", "business_day", "type"), False),
                # A member's events by till: purchase history, and which of a till's seqs a
                # pushed member fact includes (cloud.store.member_facts).
                (("member_id", "terminal_id", "seq"), False),
            )

    class DeadLetter(Base):
        id = pw.BigAutoField()
        received_at = pw.DateTimeField(index=True)
        topic = pw.TextField()
        terminal_id = pw.CharField(max_length=MEMBER_ID_CHARS, default="")  # from the topic
        claimed_terminal_id = pw.TextField(default="")  # from the payload, if readable
        reason = pw.TextField()
        seqs = JsonText(default=list)
        payload = Bytes()  # truncated to a bound; size keeps the original length
        payload_size = pw.IntegerField()

        class Meta:
            table_name = "dead_letters"

    class Member(Base):
        member_id = pw.CharField(primary_key=True, max_length=MEMBER_ID_CHARS)
        phone = pw.CharField(max_length=PHONE_CHARS, default="", index=True)
        name = pw.TextField(default="")
        home_store = pw.CharField(max_length=ID_CHARS, default="")
        tier = pw.CharField(max_length=16, default="regular")
        cumulative_spend_fen = pw.BigIntegerField(default=0)
        registered_at = pw.DateTimeField(null=True)
        # A phone registered twice offline: the later id points at the first (reconciled).
        duplicate_of = pw.CharField(max_length=MEMBER_ID_CHARS, null=True)
        updated_at = pw.DateTimeField()
        birthday = pw.DateField(null=True)
        gender = pw.CharField(max_length=1, default="")
        opt_out_sms = pw.BooleanField(default=False)
        member_code = pw.CharField(max_length=CODE_CHARS, default="")
        cards = JsonText(default=list)
        # Counts every change pushed to tills; a till applies a member's facts only if newer.
        rev = pw.BigIntegerField(default=0)

        class Meta:
            table_name = "members"

    class TierChange(Base):
        id = pw.BigAutoField()
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS, index=True)
        old_tier = pw.CharField(max_length=16)
        new_tier = pw.CharField(max_length=16)
        spend_fen = pw.BigIntegerField()
        changed_at = pw.DateTimeField()
        origin_terminal = pw.CharField(max_length=ID_CHARS, default="")
        origin_seq = pw.BigIntegerField(default=0)

        class Meta:
            table_name = "tier_changes"

    class PointsLedger(Base):
        id = pw.BigAutoField()
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS, index=True)
        delta = pw.BigIntegerField()
        reason = pw.CharField(max_length=32)
        origin_sale_id = pw.CharField(max_length=RECORD_ID_CHARS, default="")
        origin_terminal = pw.CharField(max_length=ID_CHARS)
        origin_seq = pw.BigIntegerField()
        line_no = pw.IntegerField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "points_ledger"
            indexes = ((("origin_terminal", "origin_seq", "line_no"), True),)

    class OverRedemption(Base):
        id = pw.BigAutoField()
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS, index=True)
        amount = pw.BigIntegerField()
        balance_after = pw.BigIntegerField()
        terminal_id = pw.CharField(max_length=ID_CHARS)
        seq = pw.BigIntegerField()
        sale_id = pw.CharField(max_length=RECORD_ID_CHARS, default="")
        detected_at = pw.DateTimeField()

        class Meta:
            table_name = "over_redemptions"
            indexes = ((("terminal_id", "seq", "member_id"), True),)

    class SkuSales(Base):
        store_id = pw.CharField(max_length=ID_CHARS)
        day = pw.DateField()
        hour = pw.SmallIntegerField()
        sku = pw.CharField(max_length=SKU_CHARS)
        lines = pw.BigIntegerField(default=0)
        quantity = pw.BigIntegerField(default=0)
        weight_g = pw.BigIntegerField(default=0)
        net_fen = pw.BigIntegerField(default=0)

        class Meta:
            table_name = "sku_sales"
            primary_key = pw.CompositeKey("store_id", "day", "hour", "sku")

    class DailyTotals(Base):
        store_id = pw.CharField(max_length=ID_CHARS)
        day = pw.DateField()
        terminal_id = pw.CharField(max_length=ID_CHARS)
        sales_count = pw.BigIntegerField(default=0)
        returns_count = pw.BigIntegerField(default=0)
        gross_fen = pw.BigIntegerField(default=0)
        discount_fen = pw.BigIntegerField(default=0)
        sales_fen = pw.BigIntegerField(default=0)
        refund_fen = pw.BigIntegerField(default=0)
        points_earned = pw.BigIntegerField(default=0)
        points_redeemed = pw.BigIntegerField(default=0)

        class Meta:
            table_name = "daily_totals"
            primary_key = pw.CompositeKey("store_id", "day", "terminal_id")

    class StreamVersion(Base):
        stream = pw.CharField(primary_key=True, max_length=32)
        version = pw.BigIntegerField(default=0)

        class Meta:
            table_name = "stream_versions"

    class DownChange(Base):
        id = pw.BigAutoField()
        stream = pw.CharField(max_length=32)
        version = pw.BigIntegerField()
        scope = pw.CharField(max_length=32)
        kind = pw.CharField(max_length=16)
        items = JsonText()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "down_changes"
            indexes = ((("stream", "version"), True), (("stream", "scope", "version"), False))

    class EventConflict(Base):
        """A (terminal, seq) that arrived again with other content: both versions are kept."""

        id = pw.BigAutoField()
        terminal_id = pw.CharField(max_length=ID_CHARS, index=True)
        seq = pw.BigIntegerField()
        stored_event_id = pw.CharField(max_length=UUID_CHARS, default="")
        event_id = pw.CharField(max_length=UUID_CHARS)
        epoch = pw.CharField(max_length=EPOCH_CHARS, default="")
        type = pw.CharField(max_length=TYPE_CHARS)
        reason = pw.TextField()
        envelope = JsonText()  # the incoming event, whole
        received_at = pw.DateTimeField()
        # "open" until a repair carries the event into a new epoch ("carried") or HQ closes it.
        state = pw.CharField(max_length=16, default="open")
        resolution = pw.TextField(default="")

        class Meta:
            table_name = "event_conflicts"
            indexes = ((("terminal_id", "event_id"), False),)

    class TerminalEpoch(Base):
        """One store-file epoch of a terminal, opened by an epoch_started event."""

        terminal_id = pw.CharField(max_length=ID_CHARS)
        epoch = pw.CharField(max_length=EPOCH_CHARS)
        previous_epoch = pw.CharField(max_length=EPOCH_CHARS, default="")
        since_seq = pw.BigIntegerField()
        reason = pw.CharField(max_length=LABEL_CHARS)
        abandoned_from = pw.BigIntegerField(default=0)
        abandoned_to = pw.BigIntegerField(default=-1)  # empty range when below abandoned_from
        abandoned = pw.BigIntegerField(default=0)  # seqs in the range the cloud never held
        carried = pw.BigIntegerField(default=0)
        started_at = pw.DateTimeField()

        class Meta:
            table_name = "terminal_epochs"
            primary_key = pw.CompositeKey("terminal_id", "epoch")

    class EventFlag(Base):
        """An implausible event held out of the projections until HQ accepts or rejects it."""

        terminal_id = pw.CharField(max_length=ID_CHARS)
        seq = pw.BigIntegerField()
        store_id = pw.CharField(max_length=ID_CHARS, index=True)
        type = pw.CharField(max_length=TYPE_CHARS)
        reasons = JsonText()
        rules_version = pw.CharField(max_length=LABEL_CHARS, default="")
        flagged_at = pw.DateTimeField(index=True)
        state = pw.CharField(max_length=16, default="open")  # "open" | "accepted" | "rejected"
        decided_by = pw.CharField(max_length=CODE_CHARS, default="")
        decided_at = pw.DateTimeField(null=True)
        note = pw.TextField(default="")

        class Meta:
            table_name = "event_flags"
            primary_key = pw.CompositeKey("terminal_id", "seq")

    return Models(
        SchemaMeta=SchemaMeta,
        Terminal=Terminal,
        Event=Event,
        DeadLetter=DeadLetter,
        Member=Member,
        TierChange=TierChange,
        PointsLedger=PointsLedger,
        OverRedemption=OverRedemption,
        SkuSales=SkuSales,
        DailyTotals=DailyTotals,
        StreamVersion=StreamVersion,
        DownChange=DownChange,
        EventConflict=EventConflict,
        TerminalEpoch=TerminalEpoch,
        EventFlag=EventFlag,
    )
