"""peewee models of the tables read on cold paths (staff, returns), bound per open database."""

# The schema itself is created by the frozen SQL in migrations/; a test checks these classes
# agree with it. Only tables read or written through peewee have a class here: the hot paths
# (member and barcode lookups, recording a sale) and the simple records use prepared SQL on
# the same connection, because building a peewee query costs tens of microseconds, which
# alone would eat the lookup and commit budgets. Foreign keys are declared in the DDL, not
# here, so that each bound copy stands alone.

from __future__ import annotations

from dataclasses import dataclass

import peewee as pw


class _Base(pw.Model):
    class Meta:
        legacy_table_names = False


class SaleReturn(_Base):
    seq = pw.IntegerField(primary_key=True)
    return_id = pw.TextField()
    receipt_no = pw.TextField()
    business_date = pw.TextField()
    original_sale_id = pw.TextField(null=True)
    original_receipt_no = pw.TextField(null=True)
    cashier_id = pw.TextField()
    shift_id = pw.TextField()
    member_id = pw.TextField(null=True)
    refund_fen = pw.IntegerField()
    authorised_by = pw.TextField(null=True)
    reason = pw.TextField()
    device_time = pw.TextField()
    clock_synced = pw.BooleanField()
    recorded_at = pw.TextField()

    class Meta:
        table_name = "sale_return"


class ReturnLine(_Base):
    seq = pw.IntegerField()
    idx = pw.IntegerField()
    original_line_no = pw.IntegerField()
    sku = pw.TextField()
    quantity = pw.IntegerField()
    weight_g = pw.IntegerField(null=True)
    refund_fen = pw.IntegerField()

    class Meta:
        table_name = "return_line"
        primary_key = pw.CompositeKey("seq", "idx")


class ReturnRefund(_Base):
    seq = pw.IntegerField()
    idx = pw.IntegerField()
    kind = pw.TextField()
    amount_fen = pw.IntegerField()
    tendered_fen = pw.IntegerField()
    approval_code = pw.TextField()
    reference = pw.TextField()

    class Meta:
        table_name = "return_refund"
        primary_key = pw.CompositeKey("seq", "idx")


class StaffRow(_Base):
    staff_id = pw.TextField(primary_key=True)
    name = pw.TextField()
    role = pw.TextField()
    pin_hash = pw.TextField()
    failed_attempts = pw.IntegerField(default=0)
    locked_until = pw.TextField(null=True)
    updated_at = pw.TextField()
    code_hash = pw.TextField(null=True)  # HQ's one-time code (slow hash) until a PIN is set
    code_expires = pw.TextField(null=True)
    code_used = pw.TextField(null=True)  # the code this till spent (see store.staff_stream)
    active = pw.IntegerField(default=1)

    class Meta:
        table_name = "staff"


UNBOUND: tuple[type[_Base], ...] = (SaleReturn, ReturnLine, ReturnRefund, StaffRow)


@dataclass(frozen=True, slots=True)
class Models:
    """The model classes bound to one database; each Store holds its own set."""

    sale_return: type[SaleReturn]
    return_line: type[ReturnLine]
    return_refund: type[ReturnRefund]
    staff: type[StaffRow]


def bind_models(database: pw.SqliteDatabase) -> Models:
    """Subclass every model onto ``database``: two open stores never share a binding."""
    bound = []
    for model in UNBOUND:
        meta = type("Meta", (), {"database": database, "table_name": model._meta.table_name})
        bound.append(type(model.__name__, (model,), {"Meta": meta, "__module__": __name__}))
    return Models(*bound)
