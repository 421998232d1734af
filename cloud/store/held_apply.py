"""Apply a stored held event as ingest would have: HQ's accept, or a return whose sale arrived.

Member spend and points, figures and report rollups, at the event's original business day,
inside the caller's write transaction; the event is marked ok. Deciding its flag is the
caller's, and so is pushing the members' new facts (``push_touched``, the same for both).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloud.domain.projections import EventFacts, business_time, project
from cloud.store import member_facts, tier_spend
from cloud.store.db import CloudDB
from cloud.store.effects import IngestRules, PendingDown, apply_figures, apply_members
from cloud.store.rollups import apply_rollups


@dataclass(frozen=True, slots=True)
class _Received:
    """What apply_rollups reads of a batch: when it was received (naive UTC)."""

    now: dt.datetime


@dataclass(frozen=True, slots=True)
class _Live:
    """What apply_rollups reads of an event."""

    terminal_id: str
    store_id: str
    seq: int
    type: str
    body: Mapping[str, Any]
    device_time: dt.datetime
    clock_synced: bool
    dead_reason: None = None


def project_held(
    cdb: CloudDB, event: Any, rules_version: str, rules: IngestRules, now: dt.datetime
) -> list[str]:
    """Apply ``event`` (a stored events row) to every projection and mark it ok; returns the
    members it touched. ``now`` is naive UTC."""
    received = event.received_at
    device_time = dt.datetime.fromisoformat(event.device_time.replace("Z", "+00:00"))
    tz = rules.tz_for(event.store_id)
    synced = bool(event.clock_synced)
    local = business_time(device_time, synced, received.replace(tzinfo=dt.UTC), tz)
    terminal_id, seq = event.terminal_id, int(event.seq)
    projection = project(EventFacts(terminal_id, event.store_id, seq, event.type, event.body,
                                    local))  # fmt: skip
    days: tier_spend.Days = {}
    tier_spend.add_event(days, projection, event.type, local.date())
    today = now.replace(tzinfo=dt.UTC).astimezone(tz).date()
    touched, _ = apply_members(cdb, projection, rules, now, (terminal_id, seq), rules_version,
                               days, today)  # fmt: skip
    apply_figures(cdb, projection)
    live = _Live(terminal_id, event.store_id, seq, event.type, event.body, device_time, synced)
    apply_rollups(cdb, _Received(received), [live], rules)
    m = cdb.models
    m.Event.update(status="ok", dead=False).where(
        (m.Event.terminal_id == terminal_id) & (m.Event.seq == seq)
    ).execute()
    return list(touched)


def push_touched(
    cdb: CloudDB, touched: list[str], store_id: str, rules: IngestRules, now: dt.datetime
) -> list[PendingDown]:
    """Log the new facts of the members an applied held event (of ``store_id``) touched, to
    publish once committed: tiers measured as the chain's newest rules measure them, as of
    today in the event's store. ``now`` is naive UTC."""
    return member_facts.push(
        cdb,
        touched,
        now,
        rules.member_scope,
        policy=rules.tier_policy(rules.chain_version),
        today=now.replace(tzinfo=dt.UTC).astimezone(rules.tz_for(store_id)).date(),
    )
