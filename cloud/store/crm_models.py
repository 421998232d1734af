"""Peewee models of HQ's customer records: tags, preferences, complaints, notes, erasures.

Built per database like ``cloud.store.models`` and created when missing on every open. The
search indexes of the members table are made here too (``prepare``): on PostgreSQL the name
is found by a case-folded prefix and a card inside the JSON list through a GIN index, and on
both databases a phone by its last four digits (an index on that expression), so a lookup at
chain scale reads a handful of index pages, never the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Final

import peewee as pw

from cloud.store.schema_lock import schema_change
from protocol.bounds import CODE_CHARS, ID_CHARS, MEMBER_ID_CHARS, RECORD_ID_CHARS

TAG_CHARS: Final = 32
PREF_KEY_CHARS: Final = 32
PREF_VALUE_CHARS: Final = 128
#: Key class of the advisory lock that serialises creating these tables between processes.
LOCK_CLASS: Final = 0x43524D  # "CRM"
#: Indexes of tables other modules own, made once (name, PostgreSQL DDL, SQLite DDL).
INDEXES: Final = (
    ("members_name_prefix",
     "CREATE INDEX IF NOT EXISTS members_name_prefix ON members (lower(name) text_pattern_ops)",
     "CREATE INDEX IF NOT EXISTS members_name_prefix ON members (name)"),
    ("members_phone_last4",
     "CREATE INDEX IF NOT EXISTS members_phone_last4 ON members (right(phone, 4))",
     "CREATE INDEX IF NOT EXISTS members_phone_last4 ON members (substr(phone, -4))"),
    ("members_phone_prefix",
     "CREATE INDEX IF NOT EXISTS members_phone_prefix ON members (phone text_pattern_ops)",
     ""),
    ("members_member_code",
     "CREATE INDEX IF NOT EXISTS members_member_code ON members (member_code)",
     "CREATE INDEX IF NOT EXISTS members_member_code ON members (member_code)"),
    ("members_cards_gin",
     "CREATE INDEX IF NOT EXISTS members_cards_gin ON members USING gin ((cards::jsonb))",
     ""),
    ("coupon_uses_member",
     "CREATE INDEX IF NOT EXISTS coupon_uses_member ON coupon_uses (member_id)",
     "CREATE INDEX IF NOT EXISTS coupon_uses_member ON coupon_uses (member_id)"),
)  # fmt: skip


@dataclass(frozen=True)
class CrmModels:
    """The customer-record tables bound to one database."""

    MemberTag: Any
    MemberPreference: Any
    Complaint: Any
    GuideNote: Any
    MemberErasure: Any

    def all(self) -> list[type[pw.Model]]:
        """Every model, in creation order."""
        return [getattr(self, f.name) for f in fields(self)]


def build_crm_models(database: pw.Database) -> CrmModels:
    """Create the customer-record model classes bound to ``database``."""

    class Base(pw.Model):
        class Meta:
            pass

    Base._meta.database = database

    class MemberTag(Base):
        """A tag on a member (segments filter on these): who put it there and when."""

        member_id = pw.CharField(max_length=MEMBER_ID_CHARS)
        tag = pw.CharField(max_length=TAG_CHARS, index=True)
        added_by = pw.CharField(max_length=64)
        added_at = pw.DateTimeField()

        class Meta:
            table_name = "member_tags"
            primary_key = pw.CompositeKey("member_id", "tag")

    class MemberPreference(Base):
        """One preference (size, favourite category, no SMS...) as HQ or a sales guide set it."""

        member_id = pw.CharField(max_length=MEMBER_ID_CHARS)
        key = pw.CharField(max_length=PREF_KEY_CHARS)
        value = pw.CharField(max_length=PREF_VALUE_CHARS)
        set_by = pw.CharField(max_length=64)
        set_at = pw.DateTimeField()

        class Meta:
            table_name = "member_preferences"
            primary_key = pw.CompositeKey("member_id", "key")

    class Complaint(Base):
        """A complaint and its workflow; a till's complaint joins the table when HQ handles it."""

        complaint_id = pw.CharField(primary_key=True, max_length=RECORD_ID_CHARS)
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS, null=True, index=True)
        sale_id = pw.CharField(max_length=RECORD_ID_CHARS, default="")
        store_id = pw.CharField(max_length=ID_CHARS, default="")
        # "till:<terminal>:<seq>" for one a till recorded, "hq" for one HQ took down.
        origin = pw.CharField(max_length=64)
        text = pw.TextField()
        status = pw.CharField(max_length=16, default="open")  # open | resolved
        opened_by = pw.CharField(max_length=CODE_CHARS)
        opened_at = pw.DateTimeField()
        handled_by = pw.CharField(max_length=64, default="")
        resolved_at = pw.DateTimeField(null=True)
        resolution = pw.TextField(default="")

        class Meta:
            table_name = "complaints"

    class GuideNote(Base):
        """A follow-up note on a member by a sales guide or HQ."""

        id = pw.BigAutoField()
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS, index=True)
        author = pw.CharField(max_length=64)
        role = pw.CharField(max_length=16)
        text = pw.TextField()
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "member_notes"

    class MemberErasure(Base):
        """A member whose personal data was erased on request: when, by whom, why."""

        member_id = pw.CharField(primary_key=True, max_length=MEMBER_ID_CHARS)
        erased_at = pw.DateTimeField()
        erased_by = pw.CharField(max_length=64)
        reason = pw.TextField(default="")
        scrubbed = pw.TextField(default="")  # rows changed per table, as JSON text

        class Meta:
            table_name = "member_erasures"

    return CrmModels(MemberTag, MemberPreference, Complaint, GuideNote, MemberErasure)


def prepare(database: pw.Database, models: CrmModels) -> None:
    """Create the tables and the member search indexes once; touch nothing when they exist.

    An index added in a later release is made on the first open after it (the tables are
    there already, the index is not).
    """
    names = {m._meta.table_name for m in models.all()}
    postgres = isinstance(database, pw.PostgresqlDatabase)
    wanted = {name for name, pg_ddl, sqlite_ddl in INDEXES if (pg_ddl if postgres else sqlite_ddl)}

    def missing_indexes() -> bool:
        have = {i.name for table in ("members", "coupon_uses") for i in database.get_indexes(table)}
        return not wanted <= have

    if names <= set(database.get_tables()) and not missing_indexes():
        return
    with schema_change(database, LOCK_CLASS):
        present = set(database.get_tables())
        if names <= present and not missing_indexes():
            return
        database.create_tables([m for m in models.all() if m._meta.table_name not in present])
        for _name, pg_ddl, sqlite_ddl in INDEXES:
            ddl = pg_ddl if postgres else sqlite_ddl
            if ddl:
                database.execute_sql(ddl)
