"""Ingest of notes and complaints from tills on PostgreSQL, against feedback events of the same
size that ingest stores but files nowhere else.

Figures:
- ``till_followup.batch_p50_ms`` / ``till_followup.batch_p95_ms``: one terminal's batch of
  100 events (50 ``member_note``, 50 ``complaint``) through decode and the whole ingest
  transaction (events stored, then each note and complaint added to the CRM tables).
- ``till_followup.raw_batch_p50_ms``: the raw baseline, in the same run: a batch of 100
  ``feedback`` events of the same text size through the same path (stored as events only).
- ``till_followup.overhead_ratio``: p50 of the first over p50 of the baseline.
- ``till_followup.crm_apply_p50_ms``: of the first, the part spent in
  ``cloud.store.till_crm.apply`` (adding the 100 to the CRM tables); the rest of the
  difference is the events' member ids (each such event's member is looked at by ingest).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any

from benchmarks._stats import percentile
from cloud.store import apply as apply_module
from cloud.store import till_crm
from cloud.store.db import CloudDB, open_cloud_db
from protocol.envelope import Envelope, utc_iso
from tests.cloud.factories import envelope
from tests.cloud.jobs.helpers import Till, day, ingest
from tests.pg import PgUnavailable, fresh_database, pg_server

BATCH = 100
TEXT = "请到货后来电 " * 20  # 140 characters, a long note


def _followups(terminal: str, first: int, at: dt.datetime) -> list[Envelope]:
    out = []
    for seq in range(first, first + BATCH):
        member = f"M{seq % 40}"
        if seq % 2:
            body: dict[str, Any] = {"note_id": f"N{terminal}{seq}", "member_id": member,
                                    "staff_id": "C07", "role": "cashier", "text": TEXT,
                                    "device_time": utc_iso(at)}  # fmt: skip
            out.append(envelope(terminal, seq, body, event_type="member_note", time=at))
        else:
            body = {"complaint_id": f"K{terminal}{seq}", "member_id": member, "staff_id": "C07",
                    "text": TEXT, "status": "open", "device_time": utc_iso(at)}  # fmt: skip
            out.append(envelope(terminal, seq, body, event_type="complaint", time=at))
    return out


def _feedback(terminal: str, first: int, at: dt.datetime) -> list[Envelope]:
    out = []
    for seq in range(first, first + BATCH):
        body = {"feedback_id": f"F{terminal}{seq}", "sale_id": f"S{seq}", "rating": 4,
                "comment": TEXT, "device_time": utc_iso(at)}  # fmt: skip
        out.append(envelope(terminal, seq, body, event_type="feedback", time=at))
    return out


class _Timed:
    """till_crm.apply as ingest calls it, timing each call."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    def __call__(self, cdb: CloudDB, fresh: Any) -> tuple[int, int]:
        start = time.perf_counter()
        try:
            return till_crm.apply(cdb, fresh)
        finally:
            self.samples.append((time.perf_counter() - start) * 1000)


class _TimedModule:
    """Stands in for the till_crm module inside cloud.store.apply during the run."""

    def __init__(self, timed: _Timed) -> None:
        self.apply = timed


def run(quick: bool) -> dict[str, float]:
    """Alternate the two kinds of batch on fresh terminals, so neither warms up alone."""
    rounds = 10 if quick else 40
    figures: dict[str, float] = {}
    try:
        with pg_server() as admin, fresh_database(admin) as url:
            cdb = open_cloud_db(url)
            try:
                till = Till(cdb, "S001-T09")
                for n in range(40):
                    till.register(f"M{n}", f"1380000{n:04d}", day(0))
                ours: list[float] = []
                raw: list[float] = []
                timed = _Timed()
                apply_module.till_crm = _TimedModule(timed)  # type: ignore[assignment]
                for r in range(rounds):
                    for kind, make, samples in (("f", _followups, ours), ("b", _feedback, raw)):
                        envs = make(f"S001-{kind}{r:02d}", 1, day(1))
                        start = time.perf_counter()
                        ingest(cdb, envs, day(1))
                        samples.append((time.perf_counter() - start) * 1000)
            finally:
                apply_module.till_crm = till_crm
                cdb.close()
    except PgUnavailable as err:
        print(f"till_followup benchmark skipped: {err}", file=sys.stderr)
        return figures
    figures["till_followup.batch_p50_ms"] = percentile(ours, 50)
    figures["till_followup.batch_p95_ms"] = percentile(ours, 95)
    figures["till_followup.raw_batch_p50_ms"] = percentile(raw, 50)
    figures["till_followup.overhead_ratio"] = percentile(ours, 50) / percentile(raw, 50)
    figures["till_followup.crm_apply_p50_ms"] = percentile(
        timed.samples[0::2], 50
    )  # the follow-up batches (the feedback ones add nothing)
    return figures
