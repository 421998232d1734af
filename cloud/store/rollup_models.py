"""Peewee models of the report rollups ingest keeps in the same transaction as the events.

Every table is keyed by the store's business day (its time zone and day-start hour), so a
report reads a few thousand pre-summed rows instead of scanning sale lines. Counters only
ever grow by the figures of events stored for the first time, which is what keeps them exact
under replays and duplicates. Listings (till overrides, shifts) are keyed by their event.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import peewee as pw

from cloud.store.models import JsonText


@dataclass(frozen=True)
class RollupModels:
    """The rollup model classes bound to one database."""

    SalesHourly: Any
    SalesDaily: Any
    ProductDaily: Any
    ProductChainDaily: Any
    CategoryDaily: Any
    CategoryChainDaily: Any
    TenderDaily: Any
    DiscountDaily: Any
    TillAudit: Any
    ShiftReport: Any

    def all(self) -> list[type[pw.Model]]:
        """Every model, in creation order."""
        return [getattr(self, f.name) for f in fields(self)]


SALES_COUNTERS = (
    "sales_count",
    "returns_count",
    "member_sales",
    "items",
    "lines",
    "override_lines",
    "gross_fen",
    "discount_fen",
    "sales_fen",
    "refund_fen",
    "return_items",
)
PRODUCT_COUNTERS = ("lines", "quantity", "weight_g", "net_fen", "returned_quantity", "refund_fen")
CATEGORY_COUNTERS = ("lines", "quantity", "net_fen", "returned_quantity", "refund_fen")
TENDER_COUNTERS = ("sales_count", "amount_fen", "refunds_count", "refund_fen")
DISCOUNT_COUNTERS = ("lines", "amount_fen")


def build_rollup_models(database: pw.Database) -> RollupModels:
    """Create the rollup model classes bound to ``database``."""

    class Base(pw.Model):
        class Meta:
            pass

    Base._meta.database = database

    def counters(names: tuple[str, ...]) -> dict[str, pw.Field]:
        return {name: pw.BigIntegerField(default=0) for name in names}

    class SalesHourly(Base):
        store_id = pw.CharField(max_length=32)
        day = pw.DateField()
        hour = pw.SmallIntegerField()
        terminal_id = pw.CharField(max_length=32)
        cashier_id = pw.CharField(max_length=64)
        locals().update(counters(SALES_COUNTERS))

        class Meta:
            table_name = "roll_sales_hourly"
            primary_key = pw.CompositeKey("store_id", "day", "hour", "terminal_id", "cashier_id")
            indexes = ((("day", "store_id"), False),)

    class SalesDaily(Base):
        # SalesHourly summed per store and day: chain-wide and long-period questions read
        # one row per store-day instead of one per hour, terminal and cashier.
        store_id = pw.CharField(max_length=32)
        day = pw.DateField()
        locals().update(counters(SALES_COUNTERS))

        class Meta:
            table_name = "roll_sales_daily"
            primary_key = pw.CompositeKey("store_id", "day")
            indexes = ((("day", "store_id"), False),)

    class ProductDaily(Base):
        store_id = pw.CharField(max_length=32)
        day = pw.DateField()
        sku = pw.CharField(max_length=64)
        name_zh = pw.CharField(max_length=200, default="")
        name_en = pw.CharField(max_length=200, default="")
        category = pw.CharField(max_length=64, default="")
        locals().update(counters(PRODUCT_COUNTERS))

        class Meta:
            table_name = "roll_product_daily"
            primary_key = pw.CompositeKey("store_id", "day", "sku")

    class ProductChainDaily(Base):
        # The chain-wide twin of ProductDaily: "top products across all stores" reads one row
        # per product and day instead of one per store as well.
        day = pw.DateField()
        sku = pw.CharField(max_length=64)
        name_zh = pw.CharField(max_length=200, default="")
        name_en = pw.CharField(max_length=200, default="")
        category = pw.CharField(max_length=64, default="")
        locals().update(counters(PRODUCT_COUNTERS))

        class Meta:
            table_name = "roll_product_chain_daily"
            primary_key = pw.CompositeKey("day", "sku")
            indexes = ((("sku",), False),)

    class CategoryDaily(Base):
        store_id = pw.CharField(max_length=32)
        day = pw.DateField()
        category = pw.CharField(max_length=64)
        locals().update(counters(CATEGORY_COUNTERS))

        class Meta:
            table_name = "roll_category_daily"
            primary_key = pw.CompositeKey("store_id", "day", "category")
            indexes = ((("day", "store_id"), False),)

    class CategoryChainDaily(Base):
        # CategoryDaily summed over stores, for chain-wide category questions.
        day = pw.DateField()
        category = pw.CharField(max_length=64)
        locals().update(counters(CATEGORY_COUNTERS))

        class Meta:
            table_name = "roll_category_chain_daily"
            primary_key = pw.CompositeKey("day", "category")

    class TenderDaily(Base):
        store_id = pw.CharField(max_length=32)
        day = pw.DateField()
        terminal_id = pw.CharField(max_length=32)
        kind = pw.CharField(max_length=16)
        locals().update(counters(TENDER_COUNTERS))

        class Meta:
            table_name = "roll_tender_daily"
            primary_key = pw.CompositeKey("store_id", "day", "terminal_id", "kind")
            indexes = ((("day", "store_id"), False),)

    class DiscountDaily(Base):
        store_id = pw.CharField(max_length=32)
        day = pw.DateField()
        kind = pw.CharField(max_length=32)
        label = pw.CharField(max_length=100)
        locals().update(counters(DISCOUNT_COUNTERS))

        class Meta:
            table_name = "roll_discount_daily"
            primary_key = pw.CompositeKey("store_id", "day", "kind", "label")
            indexes = ((("day", "store_id"), False),)

    class TillAudit(Base):
        # Manager overrides, no-sale openings and other audited till actions, one per event.
        terminal_id = pw.CharField(max_length=32)
        seq = pw.BigIntegerField()
        store_id = pw.CharField(max_length=32)
        day = pw.DateField()
        at = pw.DateTimeField()  # store-local business time
        action = pw.CharField(max_length=32)
        staff_id = pw.CharField(max_length=64)
        manager_id = pw.CharField(max_length=64, default="")
        detail = pw.TextField(default="")

        class Meta:
            table_name = "roll_till_audit"
            primary_key = pw.CompositeKey("terminal_id", "seq")
            indexes = ((("store_id", "day", "action"), False),)

    class ShiftReport(Base):
        terminal_id = pw.CharField(max_length=32)
        shift_id = pw.CharField(max_length=64)
        store_id = pw.CharField(max_length=32)
        day = pw.DateField()  # the business day the shift opened (or closed, if seen first)
        opened_by = pw.CharField(max_length=64, default="")
        opened_at = pw.DateTimeField(null=True)
        float_fen = pw.BigIntegerField(default=0)
        closed_by = pw.CharField(max_length=64, default="")
        closed_at = pw.DateTimeField(null=True)
        sales_count = pw.BigIntegerField(default=0)
        returns_count = pw.BigIntegerField(default=0)
        by_tender = JsonText(default=dict)
        counted_by_tender = JsonText(default=dict)
        cash_in_fen = pw.BigIntegerField(default=0)
        cash_out_fen = pw.BigIntegerField(default=0)
        expected_cash_fen = pw.BigIntegerField(null=True)
        counted_cash_fen = pw.BigIntegerField(null=True)
        difference_fen = pw.BigIntegerField(null=True)
        movements = pw.BigIntegerField(default=0)  # cash in/out events seen

        class Meta:
            table_name = "roll_shifts"
            primary_key = pw.CompositeKey("terminal_id", "shift_id")
            indexes = ((("store_id", "day"), False),)

    return RollupModels(
        SalesHourly=SalesHourly,
        SalesDaily=SalesDaily,
        ProductDaily=ProductDaily,
        ProductChainDaily=ProductChainDaily,
        CategoryDaily=CategoryDaily,
        CategoryChainDaily=CategoryChainDaily,
        TenderDaily=TenderDaily,
        DiscountDaily=DiscountDaily,
        TillAudit=TillAudit,
        ShiftReport=ShiftReport,
    )
