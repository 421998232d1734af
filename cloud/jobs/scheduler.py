"""The scheduler: runs each job when its interval has passed since its last good run.

When a job is due is read from the run records in the database, not kept in memory, so a
restarted scheduler neither runs a job early nor skips one it missed while down, and a run
started from HQ counts as the job's run. A failed run is tried again after ``retry_after``.
Two schedulers on one database would at worst run a job twice, which changes nothing
twice: every job is idempotent and locks the members it changes.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
from collections.abc import Callable
from typing import Final

import peewee as pw

from cloud.jobs.config import JOB_NAMES, JobsConfig
from cloud.jobs.publish import audit_unattended
from cloud.jobs.registry import run_job
from cloud.jobs.runs import Publish, RunResult, last_run
from cloud.store.db import CloudDB, utcnow

log = logging.getLogger(__name__)
#: Longest sleep between looks at the schedule (a stop is seen at once regardless).
MAX_NAP_S: Final = 60.0


def default_actor() -> str:
    """Who the run records name for scheduled runs."""
    return f"scheduler@{socket.gethostname()}"[:64]


class Scheduler:
    """Runs due jobs one after another until stopped."""

    def __init__(
        self,
        cdb: CloudDB,
        config: JobsConfig,
        publish: Publish,
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        actor: str | None = None,
    ) -> None:
        self.cdb = cdb
        self.config = config
        self.publish = publish
        self.clock = clock
        self.actor = actor or default_actor()
        self._stop = threading.Event()
        self.results: list[RunResult] = []  # this process's runs, newest last

    def next_due(self, job: str, now: dt.datetime) -> dt.datetime | None:
        """When ``job`` is next due (None: on demand only)."""
        every = self.config.every_s.get(job)
        if every is None:
            return None
        good = last_run(self.cdb, job, "ok")
        due = now if good is None else good + dt.timedelta(seconds=every)
        failed = last_run(self.cdb, job, "failed")
        if failed is not None and (good is None or failed > good):
            due = max(due, failed + dt.timedelta(seconds=self.config.retry_after_s))
        return due

    def run_due(self) -> list[RunResult]:
        """Run every job due now, in the configured order; return their results."""
        done = []
        for job in JOB_NAMES:
            due = self.next_due(job, self.clock())
            if due is None or due > self.clock():
                continue
            try:
                result = run_job(
                    self.cdb,
                    job,
                    config=self.config,
                    trigger="schedule",
                    actor=self.actor,
                    publish=self.publish,
                    clock=self.clock,
                    finalize=lambda cdb, r: audit_unattended(cdb, r, "schedule"),
                )
            except Exception as err:  # recorded as a failed run; the scheduler carries on
                log.error(
                    "scheduled %s failed (tried again in %ds): %s",
                    job,
                    self.config.retry_after_s,
                    err,
                )
                continue
            log.info(
                "scheduled %s: %s, %d member(s) changed", job, result.state, result.members_changed
            )
            done.append(result)
        self.results.extend(done)
        return done

    def nap_s(self) -> float:
        """Seconds until the next job is due (at most MAX_NAP_S)."""
        now = self.clock()
        dues = [d for d in (self.next_due(j, now) for j in JOB_NAMES) if d is not None]
        if not dues:
            return MAX_NAP_S
        return max(0.0, min(MAX_NAP_S, (min(dues) - now).total_seconds()))

    def run_forever(self) -> None:
        """Run due jobs, sleep until the next is due, until stop()."""
        while not self._stop.is_set():
            try:
                self.run_due()
                nap = self.nap_s()
            except pw.PeeweeException as err:  # the database went away: try again shortly
                log.warning("jobs scheduler: database unavailable: %s", err)
                self.cdb.close()
                nap = min(MAX_NAP_S, float(self.config.retry_after_s))
            self._stop.wait(max(nap, 0.05))

    def stop(self) -> None:
        """Finish the job in hand, then return from run_forever."""
        self._stop.set()
