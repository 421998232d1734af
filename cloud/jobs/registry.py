"""The jobs by name: what each is called at HQ, what it runs, and the settings a run records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from cloud.jobs import birthdays, downgrade, expiry, late_returns, merge, segments
from cloud.jobs.config import JOB_NAMES, JobsConfig
from cloud.jobs.runs import Finalize, JobFunction, Publish, RunResult, UnknownJob, run
from cloud.store.db import CloudDB, utcnow


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job: its titles in both languages, its function, the settings a run records."""

    name: str
    title_en: str
    title_zh: str
    function: JobFunction
    params: Callable[[CloudDB, JobsConfig], dict[str, Any]]


JOBS: Final[Mapping[str, JobSpec]] = MappingProxyType(
    {
        expiry.NAME: JobSpec(
            expiry.NAME,
            "Points expiry (oldest first)",
            "积分过期（先进先出）",
            expiry.run,
            expiry.params,
        ),
        downgrade.NAME: JobSpec(
            downgrade.NAME,
            "Tier downgrade review",
            "会员等级降级评估",
            downgrade.run,
            downgrade.params,
        ),
        merge.NAME: JobSpec(
            merge.NAME, "Duplicate member merge", "重复会员合并", merge.run, merge.params
        ),
        segments.NAME: JobSpec(
            segments.NAME, "RFM segments", "RFM客户细分", segments.run, segments.params
        ),
        birthdays.NAME: JobSpec(
            birthdays.NAME, "Birthday gifts", "生日礼发放", birthdays.run, birthdays.params
        ),
        late_returns.NAME: JobSpec(
            late_returns.NAME,
            "Returns whose sale came late",
            "原销售迟到的退货复核",
            late_returns.run,
            late_returns.params,
        ),
    }
)
if tuple(JOBS) != JOB_NAMES:  # the settings file names the same jobs
    raise ImportError("cloud.jobs.registry is out of step with cloud.jobs.config.JOB_NAMES")


def run_job(
    cdb: CloudDB,
    name: str,
    *,
    config: JobsConfig,
    trigger: str,
    actor: str,
    publish: Publish,
    clock: Callable[[], dt.datetime] = utcnow,
    dry_run: bool = False,
    finalize: Finalize | None = None,
) -> RunResult:
    """Run the job called ``name`` once; UnknownJob names the jobs there are."""
    spec = JOBS.get(name)
    if spec is None:
        raise UnknownJob(f"no job {name!r}; jobs are {', '.join(JOBS)}")
    return run(
        cdb,
        name,
        spec.function,
        config=config,
        trigger=trigger,
        actor=actor,
        params=spec.params(cdb, config),
        publish=publish,
        clock=clock,
        dry_run=dry_run,
        finalize=finalize,
    )
