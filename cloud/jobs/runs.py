"""Running a job: its run record, the members it works through in chunks, publishing what changed.

A job works through members in chunks of ``CHUNK``, one transaction each: the chunk's member
rows are locked first (in member order, as ingest locks them, so neither can deadlock the
other), the job decides and writes, the members' new facts are pushed in the same
transaction, and they are published once it commits. A run cut short leaves every finished
chunk committed and the rest for the next run, which changes nothing twice: each job is
idempotent on its own (see each job's module).

The run record (``job_runs``) is written when the run starts and closed when it ends, ok or
failed; ``finalize`` runs inside that closing transaction, so the API's audit row (or the
scheduler's) commits with it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from cloud.jobs.config import JobsConfig
from cloud.store import member_facts
from cloud.store.db import CloudDB, utcnow
from cloud.store.effects import PendingDown
from cloud.store.errors import CloudStoreError

log = logging.getLogger(__name__)

#: Members per transaction.
CHUNK: Final = 500
#: Member changes listed in a run's summary (the counts cover all of them).
MAX_SAMPLES: Final = 50

Publish = Callable[[Sequence[PendingDown]], None]


class JobError(CloudStoreError):
    """A job could not be run as asked; ``str(err)`` says why."""


class UnknownJob(JobError):
    """No job by that name."""


@dataclass
class Tally:
    """What a run did so far: counts by name, members changed, a sample of the changes."""

    counts: dict[str, int] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)
    samples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, n: int = 1) -> None:
        """Count ``n`` more of ``name``."""
        self.counts[name] = self.counts.get(name, 0) + n

    def note(self, member_id: str, *, changed: bool = True, **what: Any) -> None:
        """Record what happened to one member (``changed``: its facts changed)."""
        if changed:
            self.changed.add(member_id)
        if len(self.samples) < MAX_SAMPLES:
            self.samples.append({"member_id": member_id, **what})


@dataclass(frozen=True)
class JobContext:
    """What a job runs with."""

    cdb: CloudDB
    config: JobsConfig
    now: dt.datetime  # naive UTC: the job's clock (tests and the CLI may set it)
    run_id: int
    dry_run: bool
    publish: Publish
    actor: str


@dataclass(frozen=True, slots=True)
class RunResult:
    """A finished run as HQ sees it."""

    run_id: int
    job: str
    trigger: str
    actor: str
    dry_run: bool
    state: str
    started_at: dt.datetime
    finished_at: dt.datetime
    members_changed: int
    summary: Mapping[str, Any]
    error: str = ""


def lock_members(cdb: CloudDB, member_ids: Sequence[str], *fields: Any) -> list[Any]:
    """The members' rows (``fields`` of them, or all), locked in member order.

    Ingest locks the members of a batch in the same order, so neither can deadlock the other.
    """
    m = cdb.models.Member
    query = m.select(*fields).where(m.member_id.in_(sorted(set(member_ids))))
    return list(cdb.locking(query.order_by(m.member_id)))


def in_chunk(ctx: JobContext, work: Callable[[], list[str]]) -> list[str]:
    """Run ``work`` in one transaction, push the members it changed, publish after commit.

    ``work`` returns the members it changed (a dry run's work writes nothing and returns the
    members it would change; nothing is pushed for them).
    """
    down: list[PendingDown] = []
    with ctx.cdb.write():
        changed = work()
        if changed and not ctx.dry_run:
            down = member_facts.push(ctx.cdb, changed, ctx.now, ctx.config.member_scope)
    if down:
        ctx.publish(down)
    return changed


Finalize = Callable[[CloudDB, RunResult], None]
JobFunction = Callable[[JobContext, Tally], None]


def _result(row: Any) -> RunResult:
    return RunResult(
        run_id=int(row.id),
        job=row.job,
        trigger=row.trigger,
        actor=row.actor,
        dry_run=bool(row.dry_run),
        state=row.state,
        started_at=row.started_at,
        finished_at=row.finished_at or row.started_at,
        members_changed=int(row.members_changed),
        summary=row.summary or {},
        error=row.error or "",
    )


def run(
    cdb: CloudDB,
    job: str,
    function: JobFunction,
    *,
    config: JobsConfig,
    trigger: str,
    actor: str,
    params: Mapping[str, Any],
    publish: Publish,
    clock: Callable[[], dt.datetime] = utcnow,
    dry_run: bool = False,
    finalize: Finalize | None = None,
) -> RunResult:
    """Run ``function`` as job ``job`` with a run record; re-raises what the job raised."""
    runs = cdb.jobs.JobRun
    now = clock()
    with cdb.write():
        row = runs.create(
            job=job,
            trigger=trigger,
            actor=actor[:64],
            dry_run=dry_run,
            state="running",
            started_at=now,
            params=dict(params),
        )
    ctx = JobContext(cdb, config, now, int(row.id), dry_run, publish, actor)
    tally = Tally()
    state, error = "ok", ""
    try:
        function(ctx, tally)
    except Exception as err:
        state, error = "failed", f"{type(err).__name__}: {err}"
        log.exception("job %s run %d failed", job, row.id)
        raise
    finally:
        summary = {"counts": tally.counts, "changes": tally.samples}
        with cdb.write():
            runs.update(
                state=state,
                error=error[:4000],
                finished_at=clock(),
                summary=summary,
                members_changed=len(tally.changed),
            ).where(runs.id == row.id).execute()
            result = _result(runs.get_by_id(row.id))
            if finalize is not None:
                finalize(cdb, result)
    return result


def recent(cdb: CloudDB, job: str | None = None, limit: int = 50) -> list[RunResult]:
    """The newest runs first (of one job, or of all)."""
    runs = cdb.jobs.JobRun
    query = runs.select().order_by(runs.id.desc()).limit(limit)
    if job:
        query = query.where(runs.job == job)
    return [_result(r) for r in query]


def last_run(cdb: CloudDB, job: str, state: str) -> dt.datetime | None:
    """When the newest run of ``job`` in ``state`` started (dry runs do not count)."""
    runs = cdb.jobs.JobRun
    row = (
        runs.select(runs.started_at)
        .where((runs.job == job) & (runs.state == state) & (runs.dry_run == False))  # noqa: E712
        .order_by(runs.started_at.desc())
        .first()
    )
    return None if row is None else row.started_at
