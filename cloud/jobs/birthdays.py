"""The birthday job: today's birthday members get their tier's gift, once a year, at any till.

The gift is the ``birthday_gift`` of the member's tier in the chain's rule set in force
(``protocol.rules.TierRule``): points go on the ledger (origin ``hq:birthday``) and the
member's new balance is pushed; a coupon is issued to the member, valid at every store, and
pushed on the coupons stream. A member with no birthday is never looked at; one born on
29 February gets it on 28 February in a common year. Runs are idempotent per member and year
(``cloud.store.engagement.issue_gifts``), so the job may run as often as wanted.
"""

from __future__ import annotations

from typing import Any, Final

from cloud.jobs.runs import JobContext, Tally
from cloud.jobs.segments import business_day
from cloud.store import engagement, rules
from protocol.topics import ALL_STORES

NAME: Final = "birthday_gifts"


def params(cdb: Any, config: Any) -> dict[str, Any]:
    """What a run records of its settings."""
    return {"timezone": config.timezone}


def tier_gifts(ctx: JobContext) -> dict[str, Any]:
    """Tier -> its birthday gift in the chain's rule set in force (none under the defaults)."""
    published, _ = rules.in_force(ctx.cdb, ALL_STORES)
    if published is None:
        return {}
    return {lv.tier: lv.birthday_gift for lv in published.tiers.levels if lv.birthday_gift}


def run(ctx: JobContext, tally: Tally) -> None:
    """Issue today's gifts; publish what the tills need after the commit."""
    today = business_day(ctx)
    gifts = tier_gifts(ctx)
    with ctx.cdb.write():
        out = engagement.issue_gifts(
            ctx.cdb, today, gifts, ctx.run_id, ctx.now, ctx.config.member_scope,
            dry_run=ctx.dry_run,
        )  # fmt: skip
    if out.down:
        ctx.publish(out.down)
    tally.add("gifts_issued", len(out.issued))
    tally.add("already_given", out.already)
    tally.add("tier_without_gift", out.no_gift)
    for gift in out.issued:
        what = {k: v for k, v in gift.items() if k != "member_id"}
        tally.note(gift["member_id"], changed=gift["kind"] == "points", **what)
