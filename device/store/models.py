"""peewee models of the current schema, bound per open database (no shared, mutable model state).

The schema itself is created by the frozen SQL in ``migrations/``; these classes describe it for
the cold paths (staff, shifts, coupons, journal reads). The hot paths — member and barcode
lookups, recording a sale — use prepared SQL on the same connection instead, because building a
peewee query costs tens of microseconds, which alone would eat the lookup and commit budgets.
Foreign keys are declared in the DDL, not here, so that each bound copy stands alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import peewee as pw


class _Base(pw.Model):
    class Meta:
        legacy_table_names = False


class MetaRow(_Base):
    key = pw.TextField(primary_key=True)
    value = pw.TextField()

    class Meta:
        table_name = "meta"


class StreamVersion(_Base):
    stream = pw.TextField(primary_key=True)
    version = pw.IntegerField()

    class Meta:
        table_name = "stream_version"


class Sale(_Base):
    seq = pw.IntegerField(primary_key=True)
    sale_id = pw.TextField()
    receipt_no = pw.TextField()
    business_date = pw.TextField()
    cashier_id = pw.TextField()
    shift_id = pw.TextField()
    member_id = pw.TextField(null=True)
    member_tier = pw.TextField(null=True)
    gross_fen = pw.IntegerField()
    discount_fen = pw.IntegerField()
    total_fen = pw.IntegerField()
    change_fen = pw.IntegerField()
    points_earned = pw.IntegerField()
    points_redeemed = pw.IntegerField()
    coupon_codes = pw.TextField()
    device_time = pw.TextField()
    clock_synced = pw.BooleanField()
    recorded_at = pw.TextField()

    class Meta:
        table_name = "sale"


class SaleLine(_Base):
    seq = pw.IntegerField()
    line_no = pw.IntegerField()
    sku = pw.TextField()
    barcode = pw.TextField()
    name_zh = pw.TextField()
    name_en = pw.TextField()
    category = pw.TextField()
    quantity = pw.IntegerField()
    weight_g = pw.IntegerField(null=True)
    unit_price_fen = pw.IntegerField()
    gross_fen = pw.IntegerField()
    discounts = pw.TextField()  # JSON list of {kind, label, amount_fen}
    net_fen = pw.IntegerField()
    tax_rate_bp = pw.IntegerField()
    returnable = pw.BooleanField()
    price_overridden = pw.BooleanField()

    class Meta:
        table_name = "sale_line"
        primary_key = pw.CompositeKey("seq", "line_no")


class SaleTender(_Base):
    seq = pw.IntegerField()
    idx = pw.IntegerField()
    kind = pw.TextField()
    amount_fen = pw.IntegerField()
    tendered_fen = pw.IntegerField()
    approval_code = pw.TextField()
    reference = pw.TextField()

    class Meta:
        table_name = "sale_tender"
        primary_key = pw.CompositeKey("seq", "idx")


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


class PointsLedger(_Base):
    seq = pw.IntegerField()
    idx = pw.IntegerField()
    member_id = pw.TextField()
    delta = pw.IntegerField()
    reason = pw.TextField()
    origin_sale_id = pw.TextField()
    origin_return_id = pw.TextField(null=True)
    device_time = pw.TextField()

    class Meta:
        table_name = "points_ledger"
        primary_key = pw.CompositeKey("seq", "idx")


class Outbox(_Base):
    seq = pw.IntegerField(primary_key=True)
    event_id = pw.TextField()
    type = pw.TextField()
    device_time = pw.TextField()
    clock_synced = pw.BooleanField()
    body = pw.TextField()
    created_at = pw.TextField()

    class Meta:
        table_name = "outbox"


class SuspendedSale(_Base):
    suspend_id = pw.TextField(primary_key=True)
    cashier_id = pw.TextField()
    shift_id = pw.TextField()
    label = pw.TextField()
    payload = pw.TextField()
    suspended_at = pw.TextField()

    class Meta:
        table_name = "suspended_sale"


class Coupon(_Base):
    code = pw.TextField(primary_key=True)
    kind = pw.TextField()
    value = pw.IntegerField()
    min_spend_fen = pw.IntegerField()
    member_id = pw.TextField(null=True)
    valid_from = pw.TextField(null=True)
    valid_until = pw.TextField(null=True)
    redeemed_sale_id = pw.TextField(null=True)
    redeemed_at = pw.TextField(null=True)

    class Meta:
        table_name = "coupon"


class Shift(_Base):
    shift_id = pw.TextField(primary_key=True)
    opened_by = pw.TextField()
    float_fen = pw.IntegerField()
    opened_at = pw.TextField()
    closed_by = pw.TextField(null=True)
    closed_at = pw.TextField(null=True)
    counted_cash_fen = pw.IntegerField(null=True)
    z_report = pw.TextField(null=True)

    class Meta:
        table_name = "shift"


class CashMovement(_Base):
    movement_id = pw.TextField(primary_key=True)
    shift_id = pw.TextField()
    amount_fen = pw.IntegerField()
    reason = pw.TextField()
    staff_id = pw.TextField()
    device_time = pw.TextField()
    seq = pw.IntegerField()

    class Meta:
        table_name = "cash_movement"


class AuditLog(_Base):
    audit_id = pw.TextField(primary_key=True)
    action = pw.TextField()
    staff_id = pw.TextField()
    manager_id = pw.TextField(null=True)
    detail = pw.TextField()
    device_time = pw.TextField()
    seq = pw.IntegerField()

    class Meta:
        table_name = "audit_log"


class Feedback(_Base):
    feedback_id = pw.TextField(primary_key=True)
    sale_id = pw.TextField()
    rating = pw.IntegerField()
    comment = pw.TextField()
    device_time = pw.TextField()
    seq = pw.IntegerField()

    class Meta:
        table_name = "feedback"


class Complaint(_Base):
    complaint_id = pw.TextField(primary_key=True)
    member_id = pw.TextField(null=True)
    sale_id = pw.TextField(null=True)
    staff_id = pw.TextField()
    text = pw.TextField()
    status = pw.TextField()
    device_time = pw.TextField()
    seq = pw.IntegerField()

    class Meta:
        table_name = "complaint"


class StaffRow(_Base):
    staff_id = pw.TextField(primary_key=True)
    name = pw.TextField()
    role = pw.TextField()
    pin_hash = pw.TextField()
    failed_attempts = pw.IntegerField(default=0)
    locked_until = pw.TextField(null=True)
    updated_at = pw.TextField()

    class Meta:
        table_name = "staff"


class MemberRegistration(_Base):
    member_id = pw.TextField(primary_key=True)
    phone = pw.TextField()
    name = pw.TextField()
    gender = pw.TextField()
    birthday = pw.TextField(null=True)
    registered_by = pw.TextField()
    device_time = pw.TextField()
    seq = pw.IntegerField()

    class Meta:
        table_name = "member_registration"


UNBOUND: tuple[type[_Base], ...] = (
    MetaRow,
    StreamVersion,
    Sale,
    SaleLine,
    SaleTender,
    SaleReturn,
    ReturnLine,
    ReturnRefund,
    PointsLedger,
    Outbox,
    SuspendedSale,
    Coupon,
    Shift,
    CashMovement,
    AuditLog,
    Feedback,
    Complaint,
    StaffRow,
    MemberRegistration,
)


@dataclass(frozen=True, slots=True)
class Models:
    """The model classes bound to one database; each Store holds its own set."""

    meta: type[MetaRow]
    stream_version: type[StreamVersion]
    sale: type[Sale]
    sale_line: type[SaleLine]
    sale_tender: type[SaleTender]
    sale_return: type[SaleReturn]
    return_line: type[ReturnLine]
    return_refund: type[ReturnRefund]
    points_ledger: type[PointsLedger]
    outbox: type[Outbox]
    suspended_sale: type[SuspendedSale]
    coupon: type[Coupon]
    shift: type[Shift]
    cash_movement: type[CashMovement]
    audit_log: type[AuditLog]
    feedback: type[Feedback]
    complaint: type[Complaint]
    staff: type[StaffRow]
    member_registration: type[MemberRegistration]


def bind_models(database: pw.SqliteDatabase) -> Models:
    """Subclass every model onto ``database``: two open stores never share a binding."""
    bound = []
    for model in UNBOUND:
        meta = type("Meta", (), {"database": database, "table_name": model._meta.table_name})
        bound.append(type(model.__name__, (model,), {"Meta": meta, "__module__": __name__}))
    return Models(*bound)
