"""Peewee models of HQ's member work: job runs, aliases, adjustments, imports, spend by day.

Built per database like ``cloud.store.models`` and created when missing on every open (no
schema-version step: every table here is new, and ingest reads ``member_aliases``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import peewee as pw

from cloud.store.models import JsonText
from protocol.bounds import MEMBER_ID_CHARS, RECORD_ID_CHARS


@dataclass(frozen=True)
class JobModels:
    """The job and member-administration tables bound to one database."""

    JobRun: Any
    MemberAlias: Any
    PointsAdjustment: Any
    MemberImport: Any
    MemberSpendDay: Any

    def all(self) -> list[type[pw.Model]]:
        """Every model, in creation order."""
        return [getattr(self, f.name) for f in fields(self)]


def build_job_models(database: pw.Database) -> JobModels:
    """Create the job model classes bound to ``database``."""

    class Base(pw.Model):
        class Meta:
            pass

    Base._meta.database = database

    class JobRun(Base):
        """One run of a cloud job: who or what started it, when, and what it changed."""

        id = pw.BigAutoField()
        job = pw.CharField(max_length=32)
        trigger = pw.CharField(max_length=16)  # schedule | api | cli
        actor = pw.CharField(max_length=64)  # the HQ user, or scheduler@host
        dry_run = pw.BooleanField(default=False)
        state = pw.CharField(max_length=16, default="running")  # running | ok | failed
        started_at = pw.DateTimeField()
        finished_at = pw.DateTimeField(null=True)
        params = JsonText(default=dict)
        summary = JsonText(default=dict)
        members_changed = pw.BigIntegerField(default=0)
        error = pw.TextField(default="")

        class Meta:
            table_name = "job_runs"
            indexes = ((("job", "started_at"), False),)

    class MemberAlias(Base):
        """A merged member id and the id that survived; ingest maps later events through it."""

        old_id = pw.CharField(primary_key=True, max_length=MEMBER_ID_CHARS)
        new_id = pw.CharField(max_length=MEMBER_ID_CHARS, index=True)
        merged_at = pw.DateTimeField()
        merged_by = pw.CharField(max_length=64)
        reason = pw.TextField(default="")
        moved = JsonText(default=dict)  # rows moved per table, spend joined

        class Meta:
            table_name = "member_aliases"

    class PointsAdjustment(Base):
        """A manual points adjustment (or an opening balance) and why; its ledger row names it."""

        id = pw.BigAutoField()
        request_id = pw.CharField(max_length=RECORD_ID_CHARS, unique=True)
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS, index=True)
        delta = pw.BigIntegerField()
        reason = pw.TextField()
        actor = pw.CharField(max_length=64)
        created_at = pw.DateTimeField()
        balance_after = pw.BigIntegerField()

        class Meta:
            table_name = "points_adjustments"

    class MemberImport(Base):
        """A member brought in by HQ's bulk import, with the opening figures it came with."""

        member_id = pw.CharField(primary_key=True, max_length=MEMBER_ID_CHARS)
        imported_at = pw.DateTimeField()
        actor = pw.CharField(max_length=64)
        opening_points = pw.BigIntegerField(default=0)
        opening_spend_fen = pw.BigIntegerField(default=0)
        opening_tier = pw.CharField(max_length=16, default="regular")

        class Meta:
            table_name = "member_imports"

    class MemberSpendDay(Base):
        """A member's spend (fen paid less refunded) and visits on one store business day."""

        member_id = pw.CharField(max_length=MEMBER_ID_CHARS)
        day = pw.DateField()
        spend_fen = pw.BigIntegerField(default=0)
        visits = pw.BigIntegerField(default=0)

        class Meta:
            table_name = "member_spend_days"
            primary_key = pw.CompositeKey("member_id", "day")

    return JobModels(JobRun, MemberAlias, PointsAdjustment, MemberImport, MemberSpendDay)
