"""Builders for realistic event bodies, envelopes and batch payloads used by the cloud tests."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from protocol.codec import encode_batch
from protocol.envelope import Batch, Envelope, utc_iso

DEFAULT_TIME = dt.datetime(2026, 11, 23, 6, 30, tzinfo=dt.UTC)  # 14:30 in Shanghai


def sale_line(line_no: int, sku: str, quantity: int, net_fen: int) -> dict[str, Any]:
    """A priced line whose net is ``net_fen``: unit price rounded up, the rest a promotion."""
    unit = -(-net_fen // max(quantity, 1))
    gross = unit * quantity
    discounts = [{"kind": "promo", "label": "promo", "amount_fen": gross - net_fen}]
    return {
        "line_no": line_no, "sku": sku, "barcode": "6901234567892", "name_zh": "商品",
        "name_en": "item", "category": "grocery", "quantity": quantity, "weight_g": None,
        "unit_price_fen": unit, "gross_fen": gross,
        "discounts": discounts if gross != net_fen else [],
        "net_fen": net_fen, "tax_rate_bp": 1300, "returnable": True, "price_overridden": False,
    }  # fmt: skip


def sale_body(
    lines: Sequence[tuple[str, int, int]],
    *,
    member_id: str | None = None,
    redeem: int = 0,
    earn: int | None = None,
    receipt_no: str = "S001-T01-20261123-0001",
    time: dt.datetime = DEFAULT_TIME,
) -> dict[str, Any]:
    """A sale of (sku, quantity, net_fen) lines; redeemed points pay 10 fen each, cash the rest.

    Points earned follow the default rules (1 per ¥10 of money paid) unless ``earn`` forces
    another number (a forgery, for the plausibility tests).
    """
    total = sum(net for _, _, net in lines)
    points_fen = redeem * 10
    if earn is None:
        earn = (total - points_fen) // 1000 if member_id else 0
    tenders: list[dict[str, Any]] = []
    if points_fen:
        tenders.append({"kind": "points", "amount_fen": points_fen, "tendered_fen": 0,
                        "approval_code": "", "reference": str(redeem)})  # fmt: skip
    tenders.append({"kind": "cash", "amount_fen": total - points_fen,
                    "tendered_fen": total - points_fen,
                    "approval_code": "", "reference": ""})  # fmt: skip
    sale_id = str(uuid.uuid4())
    priced = [sale_line(i + 1, sku, q, net) for i, (sku, q, net) in enumerate(lines)]
    points = []
    if member_id and redeem:
        points.append({"member_id": member_id, "delta": -redeem, "reason": "redeem",
                       "origin_sale_id": sale_id})  # fmt: skip
    if member_id and earn:
        points.append({"member_id": member_id, "delta": earn, "reason": "earn",
                       "origin_sale_id": sale_id})  # fmt: skip
    return {
        "sale_id": sale_id, "cashier_id": "C01", "shift_id": "SH1", "member_id": member_id,
        "member_tier": "regular" if member_id else None,
        "lines": priced,
        "gross_fen": sum(ln["gross_fen"] for ln in priced),
        "discount_fen": sum(ln["gross_fen"] for ln in priced) - total, "total_fen": total,
        "tenders": tenders,
        "change_fen": 0, "points_earned": earn, "points_redeemed": redeem, "points": points,
        "device_time": utc_iso(time), "clock_synced": True, "coupon_codes": [],
        "receipt_no": receipt_no,
    }  # fmt: skip


def adjustment_body(member_id: str, delta: int, reason: str = "adjust") -> dict[str, Any]:
    """A manual points change outside a sale."""
    return {"member_id": member_id, "delta": delta, "reason": reason, "origin_sale_id": "",
            "note": "test"}  # fmt: skip


def no_receipt_return_body(
    refund_fen: int,
    *,
    paid_fen: int | None = None,
    line_no: int = 0,
    authorised_by: str | None = None,
) -> dict[str, Any]:
    """A return without a receipt: one unit of SKU A, ``paid_fen`` of it refunded in cash (all
    unless told); line 0 is what a till names when there is no receipt line."""
    return {
        "return_id": str(uuid.uuid4()), "original_sale_id": None, "original_receipt_no": None,
        "cashier_id": "C1", "shift_id": "SH", "member_id": None,
        "lines": [{"original_line_no": line_no, "sku": "A", "quantity": 1, "weight_g": None,
                   "refund_fen": refund_fen}],
        "refund_fen": refund_fen,
        "refunds": [{"kind": "cash", "amount_fen": refund_fen if paid_fen is None else paid_fen}],
        "points": [], "authorised_by": authorised_by, "device_time": utc_iso(DEFAULT_TIME),
        "clock_synced": True, "receipt_no": "R",
    }  # fmt: skip


def registration_body(member_id: str, phone: str, name: str = "") -> dict[str, Any]:
    """A member registered at the till."""
    return {"member_id": member_id, "phone": phone, "name": name, "gender": "", "birthday": None,
            "registered_at": utc_iso(DEFAULT_TIME)}  # fmt: skip


def envelope(
    terminal_id: str,
    seq: int,
    body: dict[str, Any],
    *,
    event_type: str = "sale",
    store_id: str | None = None,
    time: dt.datetime = DEFAULT_TIME,
    clock_synced: bool = True,
) -> Envelope:
    """An envelope for ``terminal_id`` (store = the part before the dash unless given)."""
    return Envelope(
        id=str(uuid.uuid4()),
        terminal_id=terminal_id,
        store_id=store_id or terminal_id.split("-")[0],
        seq=seq,
        type=event_type,
        device_time=utc_iso(time),
        clock_synced=clock_synced,
        body=body,
    )


def batch_payload(envelopes: Sequence[Envelope]) -> bytes:
    """Encode envelopes of one terminal as an events message."""
    first = envelopes[0]
    return encode_batch(
        Batch(terminal_id=first.terminal_id, store_id=first.store_id, events=list(envelopes))
    )


def simple_sale(terminal_id: str, seq: int, net_fen: int = 1000, sku: str = "A") -> Envelope:
    """One anonymous sale of one line."""
    return envelope(terminal_id, seq, sale_body([(sku, 1, net_fen)]))


def terminal_cert_pem(terminal_id: str) -> str:
    """A self-signed PEM certificate naming terminal_id (CN), as a rotation would give HQ."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from protocol import enrol

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(enrol.subject(terminal_id))
        .issuer_name(enrol.subject(terminal_id))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def decoded_events(envs: Sequence[Envelope]) -> list[Any]:
    """The events of a batch of one terminal's envelopes, as ingest's decoder hands them on."""
    from cloud.ingest.decode import DecodedBatch, decode_events_message
    from protocol.topics import events_topic

    topic = events_topic(envs[0].store_id, envs[0].terminal_id)
    decoded = decode_events_message(topic, batch_payload(envs))
    assert isinstance(decoded, DecodedBatch), decoded
    return list(decoded.events)


def ingest_batch(url: str, envs: Sequence[Envelope]) -> None:
    """A batch through ingest's decoder and its one transaction, as the worker commits it."""
    from cloud.ingest.decode import DecodedBatch, decode_events_message
    from cloud.store.apply import IngestRules, apply_batch
    from cloud.store.db import open_cloud_db
    from protocol.topics import events_topic

    cdb = open_cloud_db(url)
    try:
        first = envs[0]
        topic = events_topic(first.store_id, first.terminal_id)
        decoded = decode_events_message(topic, batch_payload(envs))
        assert isinstance(decoded, DecodedBatch)
        apply_batch(cdb, store_id=first.store_id, terminal_id=first.terminal_id,
                    events=decoded.events, topic=topic, rules=IngestRules())  # fmt: skip
    finally:
        cdb.close()


def applied(cdb: Any, envs: Sequence[Envelope]) -> Any:
    """A batch through ingest's decoder and its one transaction on an open database (default
    rules); its BatchOutcome."""
    from cloud.store.apply import IngestRules, apply_batch
    from protocol.topics import events_topic

    first = envs[0]
    return apply_batch(cdb, store_id=first.store_id, terminal_id=first.terminal_id,
                       events=decoded_events(envs), rules=IngestRules(),
                       topic=events_topic(first.store_id, first.terminal_id))  # fmt: skip
