"""The RFM job: scores every member, labels them, and records segment sizes and movements.

One run is one transaction (``cloud.store.segments.score``): the page never sees half a run.
Running it twice on one day makes two runs, the second showing no movement; nothing about a
member changes, so nothing is pushed to the tills.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from cloud.jobs.runs import JobContext, Tally
from cloud.store import segments

NAME: Final = "rfm_segments"


def params(cdb: Any, config: Any) -> dict[str, Any]:
    """What a run records of its settings."""
    return dict(config.rfm.describe())


def business_day(ctx: JobContext) -> dt.date:
    """The chain's business day at the job's clock."""
    return ctx.now.replace(tzinfo=dt.UTC).astimezone(ctx.config.zone()).date()


def run(ctx: JobContext, tally: Tally) -> None:
    """Score every member as of today's business day."""
    if ctx.dry_run:
        tally.add("members_scored", segments.count_scorable(ctx.cdb))
        return
    with ctx.cdb.write():
        done = segments.score(ctx.cdb, ctx.run_id, business_day(ctx), ctx.config.rfm)
    for name, n in done.items():
        tally.add(name, n)
