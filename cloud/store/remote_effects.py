"""What newly stored sales and returns change of coupons and returned units (ingest's transaction).

Called once per batch by cloud.store.apply.commit_batch with the events it stored for the
first time, so a replayed or duplicated event changes nothing. Held (implausible) events
count too: their coupon use and their returned units are taken until HQ decides, which can
only make a till's next answer more careful, never hand the same use out twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloud.store import aliases, coupon_rules, coupons, receipts
from cloud.store.db import CloudDB
from cloud.store.effects import PendingDown


@dataclass(frozen=True, slots=True)
class Stored:
    """A newly stored sale or return, with the store's business day it counts on."""

    terminal_id: str
    seq: int
    store_id: str
    type: str
    body: Mapping[str, Any]
    business_day: dt.date
    status: str = "ok"  # "held": implausible, waiting for HQ (rules give it nothing)


def apply(
    cdb: CloudDB,
    fresh: Sequence[Any],
    local_times: Mapping[int, dt.datetime],
    now: dt.datetime,
    receipt_mark: int | None,
) -> tuple[list[PendingDown], int | None]:
    """Count coupon uses and returned units of one terminal's ``fresh`` events, report its
    reused receipt numbers, issue the coupons rules give; return the coupon changes to push
    and the terminal's receipt mark after them (see receipts.record_reused)."""
    stored = [
        Stored(e.terminal_id, e.seq, e.store_id, e.type, e.body, local_times[e.seq].date(),
               e.status)
        for e in fresh
        if e.dead_reason is None and e.type in ("sale", "return")
    ]  # fmt: skip
    if not stored:
        return [], receipt_mark
    sales = [s for s in stored if s.type == "sale"]
    changed = coupons.record_uses(cdb, sales, now)
    receipt_mark = receipts.record_reused(cdb, sales, now, receipt_mark)
    receipts.record_returns(cdb, [s for s in stored if s.type == "return"], now)
    given = coupon_rules.issued_for(cdb, sales)
    if given:  # a sale recorded under a merged-away id earns its survivor the coupon
        mapping = aliases.survivors(cdb, {g["member_id"] for g in given})
        given = [{**g, "member_id": mapping.get(g["member_id"], g["member_id"])} for g in given]
    for rule in sorted({g["rule"] for g in given}):
        mine = [g for g in given if g["rule"] == rule]
        coupons.issue(cdb, mine, f"rule:{rule}", now, announce=False)
    coupon_rules.count_issued(cdb, given)
    changed += [g["code"] for g in given]
    return (coupons.push(cdb, changed, now) if changed else []), receipt_mark
