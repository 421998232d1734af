"""Coupons issued by rules: a member who spends at least X in one sale gets a coupon (满额返券).

Rules run inside the ingest transaction for sales stored for the first time, and only for
sales in order (not held for HQ's review). The coupon's code comes from the sale's place in
the chain and the rule's name, so a replayed sale issues nothing twice. Other rules (the
birthday coupon of a CRM job, say) issue through ``cloud.store.coupons.issue`` with
``source="rule:<name>"`` the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Final

from cloud.store.db import CloudDB

#: A rule's name: short, so codes made from it stay readable.
NAME_PATTERN: Final = r"^[a-z0-9_-]{1,32}$"


class RuleError(Exception):
    """A rule HQ cannot define (a name taken); the message says why."""


def put(
    cdb: CloudDB, name: str, fields: Mapping[str, Any], username: str, now: dt.datetime
) -> None:
    """Define a rule (inside the caller's write transaction); a name is used once."""
    r = cdb.remote.CouponRule
    if r.select().where(r.name == name).exists():
        raise RuleError(f"a coupon rule {name!r} exists; stop it and choose another name")
    r.create(name=name, created_by=username[:64], created_at=now, **fields)


def stop(cdb: CloudDB, name: str) -> bool:
    """Stop a rule issuing coupons (the coupons it issued stay valid)."""
    r = cdb.remote.CouponRule
    return bool(r.update(active=False).where(r.name == name).execute())


def listing(cdb: CloudDB) -> list[dict[str, Any]]:
    """Every rule with how many coupons it issued."""
    r = cdb.remote.CouponRule
    return [{"name": x.name, "min_total_fen": int(x.min_total_fen),
             "sale_stores": list(x.sale_stores or []), "kind": x.kind, "value": int(x.value),
             "min_spend_fen": int(x.min_spend_fen), "valid_days": int(x.valid_days),
             "stores": list(x.stores or []), "max_uses": int(x.max_uses),
             "active": bool(x.active), "issued": int(x.issued), "created_by": x.created_by,
             "created_at": x.created_at.isoformat()}
            for x in r.select().order_by(r.created_at, r.name)]  # fmt: skip


def code_for(rule: str, terminal_id: str, seq: int) -> str:
    """The code a rule gives for one sale: the same every time that sale is seen."""
    digest = hashlib.sha256(f"{rule}\x00{terminal_id}\x00{seq}".encode()).hexdigest()
    return f"R-{rule[:16].upper()}-{digest[:10].upper()}"


def issued_for(cdb: CloudDB, sales: Sequence[Any]) -> list[dict[str, Any]]:
    """The coupons active rules give for these stored sales (not yet issued ones only)."""
    r, c = cdb.remote.CouponRule, cdb.remote.Coupon
    rules = list(r.select().where(r.active == True))  # noqa: E712
    if not rules:
        return []
    out: list[dict[str, Any]] = []
    for sale in sales:
        body = sale.body
        member = body.get("member_id")
        total = body.get("total_fen")
        if getattr(sale, "status", "ok") != "ok" or not isinstance(member, str) or not member:
            continue
        for rule in rules:
            if not isinstance(total, int) or total < int(rule.min_total_fen):
                continue
            if rule.sale_stores and sale.store_id not in rule.sale_stores:
                continue
            out.append({
                "code": code_for(rule.name, sale.terminal_id, sale.seq), "kind": rule.kind,
                "value": int(rule.value), "min_spend_fen": int(rule.min_spend_fen),
                "member_id": member, "stores": list(rule.stores or []),
                "max_uses": int(rule.max_uses),
                "valid_from": sale.business_day.isoformat(),
                "valid_until": (sale.business_day
                                + dt.timedelta(days=int(rule.valid_days) - 1)).isoformat(),
                "rule": rule.name,
            })  # fmt: skip
    if not out:
        return []
    taken = {x.code for x in c.select(c.code).where(c.code.in_([o["code"] for o in out]))}
    return [o for o in out if o["code"] not in taken]


def count_issued(cdb: CloudDB, coupons: Sequence[Mapping[str, Any]]) -> None:
    """Add the coupons just issued to their rules' counters."""
    r = cdb.remote.CouponRule
    per_rule: dict[str, int] = {}
    for coupon in coupons:
        per_rule[coupon["rule"]] = per_rule.get(coupon["rule"], 0) + 1
    for name, n in per_rule.items():
        r.update(issued=r.issued + n).where(r.name == name).execute()
