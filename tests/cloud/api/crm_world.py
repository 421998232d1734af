"""A member's life at two stores, through the real ingest and the HQ API, for the member 360 tests.

M1 (S001) registers at a till, HQ adds a birthday, a card and a member code; M1 buys twice
(once paying ¥5 with a coupon HQ issued to M1), rates the first sale 4/5, returns one unit,
complains at the till, and HQ adds 50 points for the wait. M3 belongs to S002.

Worked out by hand:
- sale 1: SKU-1 x2 for ¥30.00 and SKU-2 x1 for ¥15.00 = ¥45.00 cash: earns 4 points;
- sale 2: SKU-3 x1 ¥80.00, ¥5.00 by coupon and ¥75.00 cash: earns 7 points;
- return: one SKU-1 of sale 1, ¥15.00 cash back, reversing 1 point;
- HQ adjustment +50 -> balance 4 + 7 - 1 + 50 = 60 over 4 ledger rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from cloud.store.db import CloudDB
from protocol.envelope import utc_iso
from tests.cloud.factories import sale_body
from tests.cloud.jobs.helpers import Till, day

PHONE: Final = "13812345678"
MASKED: Final = "138****5678"
NAME: Final = "赵敏"
BIRTHDAY: Final = "1990-05-04"
CARD: Final = "CARD-778899"
CODE: Final = "QR-5566"
COMPLAINT: Final = "waited twenty minutes at the till"
COMMENT: Final = "friendly cashier"
#: Everything that identifies M1: none of it may survive an erasure anywhere.
SECRETS: Final = (PHONE, NAME, BIRTHDAY, CARD, CODE, COMPLAINT, COMMENT)
OTHER_PHONE: Final = "13900001111"


def build(cdb: CloudDB, admin: Any) -> dict[str, Any]:
    """Make the world; ``admin`` is a TestClient-like object signed in as admin."""
    t1, t2 = Till(cdb, "S001-T01"), Till(cdb, "S002-T01")
    t1.register("M1", PHONE, day(0), name=NAME)
    t2.register("M3", OTHER_PHONE, day(0), name="钱多多")
    edit = admin.patch(
        "/api/members/M1", json={"birthday": BIRTHDAY, "cards": [CARD], "member_code": CODE}
    )
    assert edit.status_code == 200, edit.text
    sale1 = sale_body([("SKU-1", 2, 3000), ("SKU-2", 1, 1500)], member_id="M1", time=day(1),
                      receipt_no="S001-T01-0002")  # fmt: skip
    t1.send(sale1, day(1))
    rated = utc_iso(day(1) + dt.timedelta(minutes=1))
    t1.send({"feedback_id": "FB1", "sale_id": sale1["sale_id"], "rating": 4, "comment": COMMENT,
             "device_time": rated}, day(1), "feedback")  # fmt: skip
    issued = admin.post("/api/coupons", json={"kind": "amount", "value": 500,
                                              "member_ids": ["M1"]})  # fmt: skip
    assert issued.status_code == 201, issued.text
    [code] = issued.json()["codes"]
    sale2 = sale_body([("SKU-3", 1, 8000)], member_id="M1", time=day(2), earn=7,
                      receipt_no="S001-T01-0004")  # fmt: skip
    sale2["points"] = [p for p in sale2["points"] if p["reason"] == "earn"]
    sale2["tenders"] = [
        {"kind": "coupon", "amount_fen": 500, "tendered_fen": 0, "approval_code": "",
         "reference": code},
        {"kind": "cash", "amount_fen": 7500, "tendered_fen": 7500, "approval_code": "",
         "reference": ""},
    ]  # fmt: skip
    sale2["coupon_codes"] = [code]
    t1.send(sale2, day(2))
    t1.refund(sale1, 15, 1, day(3))
    t1.send({"complaint_id": "TC1", "member_id": "M1", "sale_id": sale1["sale_id"],
             "staff_id": "C01", "text": COMPLAINT, "status": "open",
             "device_time": utc_iso(day(3))}, day(3), "complaint")  # fmt: skip
    adjusted = admin.post(
        "/api/members/M1/points/adjust", json={"delta": 50, "reason": "goodwill for the wait"}
    )
    assert adjusted.status_code == 201, adjusted.text
    t2.sale("M3", 20, day(1))
    return {"t1": t1, "t2": t2, "sale1": sale1, "sale2": sale2, "coupon": code}
