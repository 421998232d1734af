"""Cloud jobs at HQ: what each does and when it last ran, its run history, and running one now."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from cloud.api.policy import ADMIN_ONLY, PolicyRouter, Role, allow
from cloud.api.reasons import Refused
from cloud.api.security import Db, Who, audit
from cloud.jobs.config import JOB_NAMES
from cloud.jobs.publish import publish_changes
from cloud.jobs.registry import JOBS, run_job
from cloud.jobs.runs import RunResult, last_run, recent
from cloud.store.db import CloudDB
from cloud.store.effects import PendingDown

JobName = Literal[
    "points_expiry",
    "tier_downgrade",
    "merge_duplicates",
    "rfm_segments",
    "birthday_gifts",
    "late_returns",
]
if set(JobName.__args__) != set(JOB_NAMES):  # type: ignore[attr-defined]
    raise ImportError("cloud.api jobs: JobName is out of step with cloud.jobs.config.JOB_NAMES")
JOB_READERS = allow(Role.MARKETING, Role.ANALYST)
#: Who may run a job now (the segments page shows its "run now" button to them alone).
JOB_RUNNERS = ADMIN_ONLY


class RunRequest(BaseModel):
    """How to run a job now."""

    model_config = ConfigDict(extra="forbid")
    dry_run: bool = Field(default=False, description="work out what would change; change nothing")


class Run(BaseModel):
    """One run of a job."""

    run_id: int
    job: str
    trigger: str
    actor: str
    dry_run: bool
    state: str
    started_at: dt.datetime
    finished_at: dt.datetime
    members_changed: int
    summary: dict[str, Any]
    error: str = ""
    published: int = 0


class Job(BaseModel):
    """A job, its schedule, its settings and its last good run."""

    name: str
    title_en: str
    title_zh: str
    every_s: int | None
    settings: dict[str, Any]
    last_ok_at: dt.datetime | None
    last_run: Run | None


def _run(result: RunResult, published: int = 0) -> Run:
    return Run(
        run_id=result.run_id,
        job=result.job,
        trigger=result.trigger,
        actor=result.actor,
        dry_run=result.dry_run,
        state=result.state,
        started_at=result.started_at,
        finished_at=result.finished_at,
        members_changed=result.members_changed,
        summary=dict(result.summary),
        error=result.error,
        published=published,
    )


def _jobs(cdb: CloudDB, request: Request) -> list[Job]:
    config = request.app.state.ctx.settings.jobs
    out = []
    for name, spec in JOBS.items():
        latest = recent(cdb, name, 1)
        out.append(
            Job(
                name=name,
                title_en=spec.title_en,
                title_zh=spec.title_zh,
                every_s=config.every_s.get(name),
                settings=spec.params(cdb, config),
                last_ok_at=last_run(cdb, name, "ok"),
                last_run=_run(latest[0]) if latest else None,
            )
        )
    return out


def router(enforcer: Callable[..., Any]) -> PolicyRouter:
    """Jobs, runs, run now."""
    r = PolicyRouter(enforcer, tags=["jobs"])

    @r.get("/api/jobs", policy=JOB_READERS)
    def jobs(cdb: Db, request: Request) -> list[Job]:
        """Every job with its schedule, its settings and its newest run."""
        return _jobs(cdb, request)

    @r.get("/api/jobs/runs", policy=JOB_READERS)
    def runs(
        cdb: Db,
        job: Annotated[JobName | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[Run]:
        """Runs newest first: who or what started each, when, and what it changed."""
        return [_run(x) for x in recent(cdb, job, limit)]

    @r.post(
        "/api/jobs/{name}/run",
        policy=JOB_RUNNERS,
        responses={500: {"description": "the job failed (recorded as a failed run)"}},
    )
    def run_now(
        cdb: Db,
        who: Who,
        request: Request,
        name: Annotated[JobName, Path(description="the job")],
        body: RunRequest,
    ) -> Run:
        """Run the job now, as the scheduler would; audited with its run id and outcome."""
        ctx = request.app.state.ctx
        sent = [0]

        def publish(changes: Sequence[PendingDown]) -> None:  # after each chunk commits
            sent[0] += publish_changes(ctx.publisher, changes)

        def finalize(c: CloudDB, result: RunResult) -> None:
            outcome = "ok" if result.state == "ok" else "failed"
            audit(
                c,
                request,
                f"job_{name}",
                {
                    "run_id": result.run_id,
                    "dry_run": body.dry_run,
                    "members_changed": result.members_changed,
                    "error": result.error,
                },
                outcome=outcome,
            )

        try:
            result = run_job(
                cdb,
                name,
                config=ctx.settings.jobs,
                trigger="api",
                actor=who.username,
                publish=publish,
                dry_run=body.dry_run,
                finalize=finalize,
            )
        except Exception as err:
            raise Refused(500, "%(job)s failed: %(reason)s (see /api/jobs/runs)", job=name,
                          reason=err) from err  # fmt: skip
        return _run(result, sent[0])

    return r
