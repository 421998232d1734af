"""Peewee models of customer segmentation and engagement: RFM runs, birthday gifts, campaigns.

Each scoring run keeps its own rows (``crm_member_rfm`` by run), its segment sizes and the
movements from the run before it; the member rows of runs older than the previous one are
dropped (the sizes and movements stay for good), so history costs a table of counts, not a
copy of every member per day.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import peewee as pw

from cloud.store.models import JsonText
from protocol.bounds import CODE_CHARS, ID_CHARS, MEMBER_ID_CHARS, PHONE_CHARS

LABEL = 16


@dataclass(frozen=True)
class SegmentModels:
    """The segmentation and engagement model classes bound to one database."""

    SegmentRun: Any
    MemberRfm: Any
    SegmentSize: Any
    SegmentMove: Any
    BirthdayGift: Any
    MessageTemplate: Any
    Campaign: Any
    MessageQueue: Any

    def all(self) -> list[type[pw.Model]]:
        """Every model, in creation order."""
        return [getattr(self, f.name) for f in fields(self)]


def build_segment_models(database: pw.Database) -> SegmentModels:
    """Create the model classes bound to ``database``."""

    class Base(pw.Model):
        class Meta:
            pass

    Base._meta.database = database

    class SegmentRun(Base):
        run_id = pw.BigIntegerField(primary_key=True)  # the job run (job_runs.id)
        as_of = pw.DateField()  # the chain's business day the scores are as of
        computed_at = pw.DateTimeField()
        policy = JsonText(default=dict)  # method and figures, as the page states them
        members = pw.BigIntegerField(default=0)
        previous_run = pw.BigIntegerField(null=True)

        class Meta:
            table_name = "crm_segment_runs"

    class MemberRfm(Base):
        run_id = pw.BigIntegerField()
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS)
        visits = pw.BigIntegerField()
        spend_fen = pw.BigIntegerField()  # sales less refunds
        first_day = pw.DateField()
        last_day = pw.DateField()
        recency_days = pw.IntegerField()
        first_days = pw.IntegerField()  # days since the first purchase
        cycle_days = pw.DoubleField(null=True)  # None with a single visit
        r = pw.SmallIntegerField()
        f = pw.SmallIntegerField()
        m = pw.SmallIntegerField()
        label = pw.CharField(max_length=LABEL)

        class Meta:
            table_name = "crm_member_rfm"
            primary_key = pw.CompositeKey("run_id", "member_id")
            indexes = ((("run_id", "label"), False),)

    class SegmentSize(Base):
        run_id = pw.BigIntegerField()
        label = pw.CharField(max_length=LABEL)
        members = pw.BigIntegerField()
        spend_fen = pw.BigIntegerField()
        visits = pw.BigIntegerField()

        class Meta:
            table_name = "crm_segment_sizes"
            primary_key = pw.CompositeKey("run_id", "label")

    class SegmentMove(Base):
        run_id = pw.BigIntegerField()
        from_label = pw.CharField(max_length=LABEL)
        to_label = pw.CharField(max_length=LABEL)
        members = pw.BigIntegerField()

        class Meta:
            table_name = "crm_segment_moves"
            primary_key = pw.CompositeKey("run_id", "from_label", "to_label")

    class BirthdayGift(Base):
        id = pw.BigAutoField()
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS)
        year = pw.IntegerField()
        birthday_on = pw.DateField()  # the day it was for (28 Feb for a 29 Feb in a common year)
        tier = pw.CharField(max_length=16)
        kind = pw.CharField(max_length=16)
        value = pw.BigIntegerField()
        coupon_code = pw.CharField(max_length=CODE_CHARS, default="")
        run_id = pw.BigIntegerField(default=0)
        issued_at = pw.DateTimeField()

        class Meta:
            table_name = "crm_birthday_gifts"
            # Once a year per member, however often the job runs or races.
            indexes = ((("member_id", "year"), True),)

    class MessageTemplate(Base):
        kind = pw.CharField(max_length=32)
        lang = pw.CharField(max_length=8)
        text = pw.TextField()
        updated_at = pw.DateTimeField()
        updated_by = pw.CharField(max_length=64, default="")

        class Meta:
            table_name = "crm_templates"
            primary_key = pw.CompositeKey("kind", "lang")

    class Campaign(Base):
        id = pw.BigAutoField()
        name = pw.CharField(max_length=100)
        audience = JsonText(default=dict)  # segment and filter, as given
        template_kind = pw.CharField(max_length=32)
        lang = pw.CharField(max_length=8)
        created_by = pw.CharField(max_length=64)
        created_at = pw.DateTimeField()

        class Meta:
            table_name = "crm_campaigns"

    class MessageQueue(Base):
        """Messages waiting for the SMS/WeChat gateway (which takes and marks them)."""

        id = pw.BigAutoField()
        campaign_id = pw.BigIntegerField()
        member_id = pw.CharField(max_length=MEMBER_ID_CHARS)
        phone = pw.CharField(max_length=PHONE_CHARS)
        lang = pw.CharField(max_length=8)
        text = pw.TextField()
        home_store = pw.CharField(max_length=ID_CHARS, default="")
        state = pw.CharField(max_length=16, default="pending")
        queued_at = pw.DateTimeField()

        class Meta:
            table_name = "crm_message_queue"
            indexes = ((("campaign_id", "member_id"), True), (("state", "id"), False))

    return SegmentModels(
        SegmentRun=SegmentRun,
        MemberRfm=MemberRfm,
        SegmentSize=SegmentSize,
        SegmentMove=SegmentMove,
        BirthdayGift=BirthdayGift,
        MessageTemplate=MessageTemplate,
        Campaign=Campaign,
        MessageQueue=MessageQueue,
    )
