"""Write what projections changed: members' spend and tiers, the points ledger, sales figures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import peewee as pw

from cloud.domain.plausibility import Clock, RuleSet
from cloud.domain.points import REDEEM_REASONS, reconcile
from cloud.domain.projections import Projection
from cloud.domain.tier_review import TierPolicy, upgrade_to
from cloud.domain.tiers import TIER_ORDER, TierThresholds
from cloud.store import aliases, tier_spend
from cloud.store.bulk import add_rows, insert_rows
from cloud.store.db import CloudDB
from cloud.store.downstream import append_linked_change


@dataclass(frozen=True, slots=True)
class PendingDown:
    """A downstream change committed with the batch, to publish once the commit is done."""

    stream: str
    version: int
    scope: str
    kind: str
    items: list[dict[str, Any]]
    previous: dict[str, int] | None = None  # DownChange.previous


@dataclass(frozen=True, slots=True)
class IngestRules:
    """Configuration ingest needs: store time zones, tier thresholds, the rules versions."""

    thresholds: TierThresholds = field(default_factory=TierThresholds)
    default_timezone: str = "Asia/Shanghai"
    timezones: Mapping[str, str] = field(default_factory=dict)
    # Rules version -> the figures a till priced with ("" is the built-in defaults); a sale
    # naming a version not here is held for HQ (cloud.domain.plausibility).
    rule_sets: Mapping[str, RuleSet] = field(default_factory=lambda: {"": RuleSet()})
    clock: Clock = field(default_factory=Clock)
    # Where member facts are pushed: "all" (every store: a member shops anywhere) or a store
    # id when a deployment keeps members per store.
    member_scope: str = "all"
    # The newest rules version published chain-wide that ingest has read: the tier measure
    # pushed to tills is this version's (cloud.store.member_facts).
    chain_version: str = ""
    # How long a till's member cache may lag the cloud: a sale may be priced at any tier the
    # member held this many days before it was made (cloud.domain.tier_bound).
    tier_lag_days: int = 30

    def tiers_for(self, rules_version: str) -> TierThresholds | None:
        """Where tiers start under a rules version (None: tiers by visits, not judged here)."""
        rule_set = self.rule_sets.get(rules_version)
        if rule_set is None or rule_set.thresholds is None:
            return self.thresholds
        return rule_set.thresholds if rule_set.tier_basis == "spend" else None

    def tier_policy(self, rules_version: str) -> TierPolicy:
        """How tiers are earned under a rules version: its basis, window and thresholds.

        The built-in defaults (and a version not known here) count spend since joining
        against ingest's own thresholds.
        """
        rule_set = self.rule_sets.get(rules_version)
        if rule_set is None or rule_set.thresholds is None:
            t = self.thresholds
            return TierPolicy(window_days=0, silver=t.silver_fen, gold=t.gold_fen)
        t = rule_set.thresholds
        basis = "visits" if rule_set.tier_basis == "visits" else "spend"
        return TierPolicy(basis=basis, window_days=rule_set.tier_window_days,
                          silver=t.silver_fen, gold=t.gold_fen)  # fmt: skip

    def tz_for(self, store_id: str) -> ZoneInfo:
        """The store's time zone (configuration), else the chain default."""
        return ZoneInfo(self.timezones.get(store_id, self.default_timezone))


def apply_members(
    cdb: CloudDB,
    merged: Projection,
    rules: IngestRules,
    now: dt.datetime,
    origin: tuple[str, int],
    rules_version: str = "",
    spend_days: tier_spend.Days | None = None,
    today: dt.date | None = None,
    survivors: Mapping[str, str] | None = None,
) -> tuple[list[str], int]:
    """Write what a batch changes of its members; return the members touched and overdrafts.

    The caller pushes the touched members' new facts once the terminal's mark is written
    (cloud.store.member_facts), so the push can say which of each till's seqs it includes.
    ``spend_days`` is the batch's spend and visits by member and business day; upgrades
    judge them over the window of ``rules_version`` (the batch's newest sale's) ending
    ``today`` (the store's business day), as the periodic review does. ``survivors`` is the
    batch's alias lookup when the caller made it already (cloud.store.tier_checks).
    """
    m = cdb.models
    ids = set(merged.spend) | {r.member_id for r in merged.ledger}
    if survivors is None:
        mapping = aliases.survivors(cdb, ids)
    else:
        mapping = {old: new for old, new in survivors.items() if old in ids}
    merged = aliases.follow(cdb, merged, mapping)  # a merged-away id's events: its survivor
    erased = (erased_among(cdb, [r.member_id for r in merged.registrations])
              if merged.registrations else set())  # fmt: skip
    for reg in merged.registrations:
        if reg.member_id in erased:
            continue  # a till that had not heard of the erasure: its copy brings nothing back
        twin = (
            m.Member.select(m.Member.member_id)
            .where(
                (m.Member.phone == reg.phone)
                & (m.Member.member_id != reg.member_id)
                & m.Member.duplicate_of.is_null()
            )  # a merged-away id keeps its phone
            .order_by(m.Member.registered_at.asc(nulls="LAST"), m.Member.member_id)
            .first()
        )
        fields_ = {
            "phone": reg.phone,
            "name": reg.name,
            "home_store": reg.home_store,
            "registered_at": reg.registered_at.astimezone(dt.UTC).replace(tzinfo=None),
            "duplicate_of": twin.member_id if twin else None,
            "updated_at": now,
            "birthday": reg.birthday,
            "gender": reg.gender,
            "opt_out_sms": reg.opt_out_sms,
            "member_code": reg.member_code,
            "cards": list(reg.cards),
        }
        m.Member.insert(member_id=reg.member_id, **fields_).on_conflict(
            conflict_target=[m.Member.member_id],
            update={getattr(m.Member, k): v for k, v in fields_.items()},
        ).execute()

    registered = [reg.member_id for reg in merged.registrations]
    touched = sorted(set(merged.spend) | {row.member_id for row in merged.ledger})
    if not touched:
        return registered, 0
    # One additive upsert creates members first seen in a sale, adds their spend, and takes
    # their row locks (in member order) so points reconciliation below sees every commit.
    now_text = str(now)
    returned = add_rows(
        cdb, "members", ["member_id"], ["cumulative_spend_fen"],
        [(member, merged.spend.get(member, 0), now_text, "", "", "", "regular", "", False, "",
          "[]", 0) for member in touched],
        also_set=("updated_at",),
        insert_only=("phone", "name", "home_store", "tier", "gender", "opt_out_sms",
                     "member_code", "cards", "rev"),
        returning=("member_id", "cumulative_spend_fen", "tier"),
    )  # fmt: skip
    if spend_days:
        tier_spend.add(cdb, tier_spend.remapped(spend_days, mapping))
    policy = rules.tier_policy(rules_version)
    below_top = [(member, int(spend), tier) for member, spend, tier in sorted(returned)
                 if member in merged.spend and tier != TIER_ORDER[-1]]  # fmt: skip
    if policy.window_days == 0 and policy.basis == "spend":
        measure = {member: spend for member, spend, _ in below_top}  # since joining: all of it
    else:
        day = today or now.date()
        measure = tier_spend.measures(cdb, [member for member, _, _ in below_top], day, policy)
    for member_id, spend, tier in below_top:
        new_tier = upgrade_to(tier, measure[member_id], policy)
        if new_tier is None:
            continue
        m.Member.update(tier=new_tier, updated_at=now).where(
            m.Member.member_id == member_id
        ).execute()
        m.TierChange.insert(
            member_id=member_id, old_tier=tier, new_tier=new_tier, spend_fen=spend,
            changed_at=now, origin_terminal=origin[0], origin_seq=origin[1],
        ).execute()  # fmt: skip

    over = 0
    if merged.ledger:
        # Only a redemption can overdraw, so only redeeming members need their balance (a sum
        # over their whole ledger); earning-only members skip that read.
        redeeming = {
            c.member_id
            for c in merged.points
            if any(d < 0 and r in REDEEM_REASONS for d, r in c.deltas)
        }
        balances = {
            r.member_id: int(r.total)
            for r in m.PointsLedger.select(
                m.PointsLedger.member_id, pw.fn.SUM(m.PointsLedger.delta).alias("total")
            )
            .where(m.PointsLedger.member_id.in_(sorted(redeeming)))
            .group_by(m.PointsLedger.member_id)
        } if redeeming else {}  # fmt: skip
        insert_rows(
            cdb, "points_ledger", LEDGER_COLUMNS,
            [(r.member_id, r.delta, r.reason, r.origin_sale_id[:64], r.origin_terminal,
              r.origin_seq, r.line_no, now_text) for r in merged.ledger],
            on_conflict="ON CONFLICT DO NOTHING",
        )  # fmt: skip
        _, found = reconcile(balances, [c for c in merged.points if c.member_id in redeeming])
        if found:
            m.OverRedemption.insert_many(
                [
                    {
                        "member_id": o.member_id, "amount": o.amount,
                        "balance_after": o.balance_after, "terminal_id": o.terminal_id,
                        "seq": o.seq, "sale_id": o.sale_id[:64], "detected_at": now,
                    }
                    for o in found
                ]
            ).on_conflict_ignore().execute()  # fmt: skip
        over = len(found)
    return sorted(set(touched) | set(registered)), over


def logged_change(
    cdb: CloudDB, stream: str, scope: str, kind: str, items: list[dict[str, Any]], now: dt.datetime
) -> PendingDown:
    """Append a change to the log (inside the write transaction); what to publish once it
    commits, with the per-scope previous versions a till needs to tell a lost change from
    another store's (protocol.envelope.DownChange)."""
    version, previous = append_linked_change(cdb, stream, scope, kind, items, now)
    return PendingDown(stream, version, scope, kind, items, previous)


def erased_among(cdb: CloudDB, member_ids: list[str]) -> set[str]:
    """Those of the ids whose personal data was erased (cloud.store.crm_privacy)."""
    e = cdb.crm.MemberErasure
    return {r.member_id for r in e.select(e.member_id).where(e.member_id.in_(member_ids))}


LEDGER_COLUMNS = ("member_id", "delta", "reason", "origin_sale_id", "origin_terminal",
                  "origin_seq", "line_no", "created_at")  # fmt: skip
TOTAL_COUNTERS = ("sales_count", "returns_count", "gross_fen", "discount_fen", "sales_fen",
                  "refund_fen", "points_earned", "points_redeemed")  # fmt: skip


def apply_figures(cdb: CloudDB, merged: Projection) -> None:
    sku_rows = [
        (k.store_id, k.day.isoformat(), k.hour, k.sku, f.lines, f.quantity, f.weight_g, f.net_fen)
        for k, f in sorted(merged.skus.items(),
                           key=lambda kv: (kv[0].store_id, kv[0].day, kv[0].hour, kv[0].sku))
    ]  # fmt: skip
    add_rows(cdb, "sku_sales", ("store_id", "day", "hour", "sku"),
             ("lines", "quantity", "weight_g", "net_fen"), sku_rows)  # fmt: skip
    total_rows = [
        (k.store_id, k.day.isoformat(), k.terminal_id, *(getattr(f, c) for c in TOTAL_COUNTERS))
        for k, f in sorted(merged.totals.items(),
                           key=lambda kv: (kv[0].store_id, kv[0].day, kv[0].terminal_id))
    ]  # fmt: skip
    add_rows(cdb, "daily_totals", ("store_id", "day", "terminal_id"), TOTAL_COUNTERS, total_rows)
