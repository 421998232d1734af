"""The late-returns job: returns held for a missing sale are judged again once it is stored.

A return can reach the cloud before the sale it names (sold at another till, or lost to a
cloud restore and sent again): ingest holds it as missing its sale and goes on. Each run
takes the oldest such returns whose sale is stored now (at most ``BATCH``) and judges each
again by ingest's rules, one transaction each (cloud.store.late_sales): within its sale it is
applied as HQ's accept would apply it and the members' new facts are pushed; beyond it, or
when the sale is itself held, its reason becomes the real one and HQ decides. Idempotent: a
return applied or judged once is no longer held only for a missing sale, so no run finds it
again; one HQ decided meanwhile is left as HQ decided.
"""

from __future__ import annotations

from typing import Any, Final

from cloud.jobs.config import JobsConfig
from cloud.jobs.runs import JobContext, Tally
from cloud.store import late_sales, stores
from cloud.store.db import CloudDB
from cloud.store.effects import IngestRules
from cloud.store.rules import RuleBook

NAME: Final = "late_returns"
#: Held returns judged per run: the rest wait for the next run (oldest first).
BATCH: Final = 200


def params(cdb: CloudDB, config: JobsConfig) -> dict[str, Any]:
    """What a run records of its settings."""
    return {"batch": BATCH, "member_scope": config.member_scope}


def _rules(ctx: JobContext) -> IngestRules:
    """Ingest's rules as HQ's accept reads them: every published rule set, the stores' zones."""
    base = IngestRules(
        default_timezone=ctx.config.timezone,
        timezones=stores.timezones(ctx.cdb),
        member_scope=ctx.config.member_scope,
    )
    return RuleBook(base).load(ctx.cdb)


def run(ctx: JobContext, tally: Tally) -> None:
    """Judge again the oldest held returns whose missing sale is stored now."""
    rules = _rules(ctx)
    found = late_sales.waiting(ctx.cdb, BATCH)
    tally.add("found", len(found))
    for terminal_id, seq in found:
        with ctx.cdb.write():
            released = late_sales.release(
                ctx.cdb, terminal_id, seq, rules, ctx.now, dry_run=ctx.dry_run
            )
        if released.down:
            ctx.publish(released.down)
        tally.add(released.outcome)
        if released.outcome == "left":
            continue
        tally.changed.update(released.touched)
        tally.note(released.member_id, changed=False, terminal_id=terminal_id, seq=seq,
                   outcome=released.outcome, reasons=list(released.reasons))  # fmt: skip
