"""Publishing the member changes a job committed, and the audit row of a run no HQ user started."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from cloud.api.publisher import Publisher, PublishError
from cloud.jobs.runs import Publish, RunResult
from cloud.store.db import CloudDB, utcnow
from cloud.store.effects import PendingDown
from protocol.codec import encode_down
from protocol.envelope import DownChange, utc_iso
from protocol.topics import down_topic

log = logging.getLogger(__name__)


def publish_changes(publisher: Publisher | None, changes: Sequence[PendingDown]) -> int:
    """Send committed changes to their scope; return how many the broker took.

    A change the broker does not take is not lost: it is in the change log under its
    version, and tills fetch it when they next catch up (on connect, on a gap, and every
    few minutes).
    """
    if publisher is None:
        return 0
    sent_at = utc_iso(dt.datetime.now(dt.UTC))
    sent = 0
    for change in changes:
        message = DownChange(
            stream=change.stream,
            version=change.version,
            scope=change.scope,  # type: ignore[arg-type]
            kind=change.kind,
            items=change.items,
            sent_at=sent_at,
            previous=change.previous,
        )  # type: ignore[arg-type]
        try:
            publisher.publish(down_topic(change.scope, change.stream), encode_down(message))
            sent += 1
        except PublishError as err:
            log.warning(
                "%s v%d stored, not published (tills catch up): %s",
                change.stream,
                change.version,
                err,
            )
    return sent


def sink(publisher: Publisher | None) -> Publish:
    """A job's publish callback over ``publisher`` (None: stored only)."""

    def publish(changes: Sequence[PendingDown]) -> None:
        publish_changes(publisher, changes)

    return publish


def audit_unattended(cdb: CloudDB, result: RunResult, via: str) -> None:
    """HQ's audit row for a run the scheduler or the command line started."""
    cdb.hq.HqAudit.create(
        at=utcnow(),
        username=result.actor[:64],
        role="",
        via=via[:16],
        ip="",
        method="JOB",
        path=f"cloud.jobs/{result.job}"[:300],
        action=f"job_{result.job}"[:64],
        outcome="ok" if result.state == "ok" else "failed",
        detail={
            "run_id": result.run_id,
            "dry_run": result.dry_run,
            "members_changed": result.members_changed,
            "error": result.error,
        },
    )
