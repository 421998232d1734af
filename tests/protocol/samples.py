"""Test helpers: device records turned into wire dicts by hand, and one valid body per event type.

record_to_wire is written here, independently of protocol and of msgspec, so the tests check
that what the device records really fits the wire schema.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from typing import Any

from device.checkout import records as r
from protocol.envelope import Batch, Envelope

T0 = dt.datetime(2026, 11, 23, 6, 30, 15, 250000, tzinfo=dt.UTC)


def record_to_wire(value: Any) -> Any:
    """Dataclass -> dict, Enum -> its value, datetime/date -> ISO string, tuple -> list."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: record_to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [record_to_wire(v) for v in value]
    if isinstance(value, dict):
        return {k: record_to_wire(v) for k, v in value.items()}
    return value


def sale_record() -> r.SaleRecord:
    """A member sale: 2 x 350 fen milk with a 5% tier discount on each unit, and a weighed line.

    Milk: gross 700, tier 5% of 700 = 35 -> net 665. Apples 1.234 kg at 1200 fen/kg:
    gross round(1480.8) = 1481, no discount. Total 665 + 1481 = 2146; cash 2200, change 54.
    Points earned 1 per yuan of total: 21.
    """
    sale_id = "6f1c2a44-3b1e-4f7a-9a51-0c2d4e6f8a10"
    return r.SaleRecord(
        sale_id=sale_id,
        cashier_id="C07",
        shift_id="SH-2026-11-23-1",
        member_id="M000123",
        member_tier=r.Tier.SILVER,
        lines=(
            r.SaleLine(
                line_no=1,
                sku="MILK-1L",
                barcode="6901234567892",
                name_zh="牛奶",
                name_en="Milk 1L",
                category="dairy",
                quantity=2,
                weight_g=None,
                unit_price_fen=350,
                gross_fen=700,
                discounts=(r.Discount("tier", "银卡 95折", 35),),
                net_fen=665,
                tax_rate_bp=900,
                returnable=True,
            ),
            r.SaleLine(
                line_no=2,
                sku="APPLE",
                barcode="2123450012346",
                name_zh="苹果",
                name_en="Apples",
                category="fruit",
                quantity=1,
                weight_g=1234,
                unit_price_fen=1200,
                gross_fen=1481,
                discounts=(),
                net_fen=1481,
                tax_rate_bp=900,
                returnable=False,
                price_overridden=False,
            ),
        ),
        gross_fen=2181,
        discount_fen=35,
        total_fen=2146,
        tenders=(r.TenderLine(r.TenderKind.CASH, amount_fen=2146, tendered_fen=2200),),
        change_fen=54,
        points_earned=21,
        points_redeemed=0,
        points=(r.PointsDelta("M000123", 21, r.PointsReason.EARN, sale_id),),
        device_time=T0,
        clock_synced=True,
    )


def return_record() -> r.ReturnRecord:
    """One milk of the sale above comes back (the amount is illustrative; returns own the rule)."""
    return r.ReturnRecord(
        return_id="0a5c7e19-2d3b-4c8e-b1f0-7a6d5c4b3a29",
        original_sale_id="6f1c2a44-3b1e-4f7a-9a51-0c2d4e6f8a10",
        original_receipt_no="S001-T01-000042",
        cashier_id="C07",
        shift_id="SH-2026-11-23-1",
        member_id="M000123",
        lines=(r.ReturnLine(1, "MILK-1L", 1, None, 333),),
        refund_fen=333,
        refunds=(r.TenderLine(r.TenderKind.CASH, amount_fen=333),),
        points=(r.PointsDelta("M000123", -3, r.PointsReason.RETURN_REVERSAL, "6f1c2a44"),),
        authorised_by=None,
        device_time=T0 + dt.timedelta(hours=2),
        clock_synced=False,
        reason="damaged",
    )


def shift_report() -> r.ShiftReport:
    """A Z report: float 20000, cash sales 2146 - 333 refunded, 5000 taken out."""
    return r.ShiftReport(
        shift_id="SH-2026-11-23-1",
        kind="Z",
        float_fen=20000,
        sales_count=1,
        returns_count=1,
        by_tender={"cash": 1813},
        cash_in_fen=0,
        cash_out_fen=5000,
        expected_cash_fen=20000 + 1813 - 5000,
        counted_cash_fen=16800,
        difference_fen=16800 - 16813,
    )


def sample_bodies() -> dict[str, dict[str, Any]]:
    """One valid wire body per event type."""
    iso = T0.isoformat()
    return {
        "sale": {**record_to_wire(sale_record()), "receipt_no": "S001-T01-000042"},
        "return": {**record_to_wire(return_record()), "receipt_no": "S001-T01-R00003"},
        "points_adjustment": {
            "member_id": "M000123",
            "delta": 500,
            "reason": "adjust",
            "origin_sale_id": "",
            "note": "birthday bonus",
        },
        "member_registered": {
            **record_to_wire(
                r.Member("M000124", "13800138000", "王芳", birthday=dt.date(1990, 5, 17))
            ),
            "gender": "f",
            "cards": ["04A1B2C3"],
            "registered_by": "C07",
            "device_time": iso,
        },
        "shift_opened": {
            "shift_id": "SH-2026-11-23-1",
            "opened_by": "C07",
            "float_fen": 20000,
            "device_time": iso,
        },
        "shift_closed": {
            **record_to_wire(shift_report()),
            "closed_by": "M01",
            "device_time": (T0 + dt.timedelta(hours=8)).isoformat(),
        },
        "cash_movement": record_to_wire(
            r.CashMovement("CM-1", "SH-2026-11-23-1", -5000, "bank drop", "M01", T0)
        ),
        "feedback": {
            "feedback_id": "FB-1",
            "sale_id": "6f1c2a44-3b1e-4f7a-9a51-0c2d4e6f8a10",
            "rating": 5,
            "device_time": iso,
        },
        "audit": record_to_wire(
            r.AuditEntry("A-1", "price_override", "C07", "M01", "MILK-1L 350->300", T0)
        ),
        "complaint": {
            "complaint_id": "CP-1",
            "member_id": "M000123",
            "staff_id": "G02",
            "text": "queue too long",
            "device_time": iso,
        },
        "member_note": {
            "note_id": "N-1",
            "member_id": "M000123",
            "staff_id": "G02",
            "role": "guide",
            "text": "asked for size L boots when they arrive",
            "device_time": iso,
        },
        "epoch_started": {
            "epoch": "5a1e0c2f9b3d4e61",
            "previous_epoch": "0f3c9a7e21b4d5c8",
            "reason": "restored",
            "cloud_high_water": 21,
            "cloud_max_seq": 21,
            "carried_after_seq": 11,
            "carried": 15,
            "note": "store file restored from the nightly backup",
            "device_time": iso,
        },
        "seqs_lost": {
            "from_seq": 6,
            "to_seq": 8,
            "cloud_high_water": 5,
            "acked_seq": 10,
            "resend_window_days": 7,
            "device_time": iso,
        },
        "staff_pin_set": {
            "staff_id": "2003",
            "pin_hash": "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
            "code_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$Y29kZWNvZGVjb2Rl",
        },
    }


def envelope(
    seq: int,
    type_: str = "feedback",
    body: dict[str, Any] | None = None,
    *,
    store_id: str = "S001",
    terminal_id: str = "S001-T01",
) -> Envelope:
    """A valid envelope carrying the sample body of its type (or the given body)."""
    return Envelope(
        id=str(uuid.UUID(int=seq)),
        terminal_id=terminal_id,
        store_id=store_id,
        seq=seq,
        type=type_,
        device_time=(T0 + dt.timedelta(seconds=seq)).isoformat(),
        clock_synced=True,
        body=sample_bodies()[type_] if body is None else body,
    )


def batch(*seqs: int, type_: str = "feedback") -> Batch:
    """A valid batch of S001-T01 with the given seqs."""
    return Batch(terminal_id="S001-T01", store_id="S001", events=[envelope(s, type_) for s in seqs])
