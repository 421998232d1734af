"""Builders for coupon sales, returns against receipts, and terminals' requests (cloud tests)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from protocol import remote
from protocol.envelope import utc_iso
from tests.cloud.factories import DEFAULT_TIME, sale_body

#: The worker's clock in these tests: half an hour after the factories' sales.
NOW = DEFAULT_TIME + dt.timedelta(minutes=30)


def coupon_sale(
    lines: Sequence[tuple[str, int, int]],
    coupons: Sequence[tuple[str, int]],
    *,
    receipt_no: str = "S001-T01-20261123-0001",
    time: dt.datetime = DEFAULT_TIME,
    confirmed: bool = False,
) -> dict[str, Any]:
    """An anonymous sale paid by the given (code, amount) coupons, the rest in cash."""
    body = sale_body(lines, receipt_no=receipt_no, time=time)
    paid = sum(amount for _, amount in coupons)
    cash = body["total_fen"] - paid
    tenders = [
        {
            "kind": "coupon",
            "amount_fen": amount,
            "tendered_fen": 0,
            "approval_code": "HQ-1" if confirmed else "",
            "reference": code,
        }
        for code, amount in coupons
    ]
    if cash:
        tenders.append(
            {
                "kind": "cash",
                "amount_fen": cash,
                "tendered_fen": cash,
                "approval_code": "",
                "reference": "",
            }
        )
    return {**body, "tenders": tenders, "coupon_codes": [code for code, _ in coupons]}


def return_body(
    sale: dict[str, Any],
    lines: Sequence[tuple[int, int]],
    *,
    receipt_no: str,
    return_id: str | None = None,
    time: dt.datetime = DEFAULT_TIME,
) -> dict[str, Any]:
    """A cash return of ``(line_no, quantity)`` of an anonymous sale at its lines' unit net."""
    by_no = {ln["line_no"]: ln for ln in sale["lines"]}
    rows = []
    for line_no, qty in lines:
        line = by_no[line_no]
        refund = line["net_fen"] * qty // line["quantity"]
        rows.append(
            {
                "original_line_no": line_no,
                "sku": line["sku"],
                "quantity": qty,
                "weight_g": None,
                "refund_fen": refund,
            }
        )
    refund = sum(r["refund_fen"] for r in rows)
    return {
        "return_id": return_id or str(uuid.uuid4()),
        "original_sale_id": sale["sale_id"],
        "original_receipt_no": sale["receipt_no"],
        "cashier_id": "C01",
        "shift_id": "SH1",
        "member_id": sale.get("member_id"),
        "lines": rows,
        "refund_fen": refund,
        "refunds": [
            {
                "kind": "cash",
                "amount_fen": refund,
                "tendered_fen": 0,
                "approval_code": "",
                "reference": "",
            }
        ]
        if refund
        else [],
        "points": [],
        "authorised_by": None,
        "device_time": utc_iso(time),
        "clock_synced": True,
        "reason": "",
        "receipt_no": receipt_no,
    }


def request(kind: str, terminal_id: str, **fields: Any) -> tuple[str, bytes]:
    """(correlation id, payload) of a request from ``terminal_id`` (checked by the protocol)."""
    rid = uuid.uuid4().hex
    plain = {
        "kind": kind,
        "id": rid,
        "terminal_id": terminal_id,
        "store_id": terminal_id.split("-")[0],
        **fields,
    }
    return rid, remote.encode_request(msgspec.convert(plain, type=remote.Request))
