"""The jobs' settings, the scheduler's timing, `python -m cloud.jobs run` with a real broker."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cloud.jobs.config import ConfigError, JobsConfig, load
from cloud.jobs.scheduler import Scheduler
from cloud.store.db import CloudDB, open_cloud_db
from protocol.codec import decode_down
from protocol.topics import ALL_STORES, ack_topic, down_topic, events_topic
from tests.broker import Broker
from tests.cloud.jobs.helpers import Till, naive

ROOT = Path(__file__).resolve().parents[3]
MEMBERS_TOPIC = down_topic(ALL_STORES, "members")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "jobs.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_settings_are_read_with_their_bounds_and_unknown_keys_are_errors(tmp_path: Path) -> None:
    config = load(
        _write(
            tmp_path,
            """
timezone = "Asia/Urumqi"
retry_after = "2m"
[points_expiry]
every = "6h"
[merge_duplicates]
every = "off"
""",
        )
    )
    assert (config.timezone, config.retry_after_s) == ("Asia/Urumqi", 120)
    assert dict(config.every_s) == {
        "points_expiry": 21600,
        "tier_downgrade": 86400,
        "merge_duplicates": None,
        "rfm_segments": 86400,
        "birthday_gifts": 3600,
        "late_returns": 300,
    }
    assert load(None) == JobsConfig()
    for text, message in (
        ("[points_expiry]\nafter_day = 30\n", "unknown key(s) after_day"),
        # The loyalty figures are HQ's rules: a file still setting one is told where they live.
        ("[points_expiry]\nafter_days = 30\n", "set in HQ's rules now (loyalty.expiry_days"),
        ('[tier_downgrade]\nbasis = "age"\n', "[tier_downgrade].basis: set in HQ's rules now"),
        ("[tier_downgrade]\nwindow_days = 90\n", "(tiers.window_days, published at /api/rules)"),
        ('[points_expiry]\nevery = "soon"\n', "points_expiry.every: expected a duration"),
        ('timezone = "Mars/Olympus"\n', "unknown time zone 'Mars/Olympus'"),
        ('member_scope = "all stores"\n', "member_scope"),
        ("holidays = 3\n", "unknown key(s) holidays"),
        ("[points_expiry\n", "not valid TOML"),
        ('[rfm_segments]\nmethod = "deciles"\n', "method: quintiles or thresholds"),
        ("[rfm_segments]\nvisits = [4, 3, 8, 9]\n", "visits: four distinct ascending edges"),
        ("[rfm_segments]\ndormant_multiple = 0.5\n", "dormant_multiple: 1..20"),
        ("[birthday_gifts]\nat = 9\n", "unknown key(s) at"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            load(_write(tmp_path, text))


def test_a_job_runs_when_its_interval_has_passed_since_its_last_good_run(cloud_db: CloudDB) -> None:
    now = [dt.datetime(2026, 6, 1, 0, 0)]
    config = JobsConfig(timezone="Mars/Olympus", retry_after_s=600)  # the downgrade will fail
    scheduler = Scheduler(cloud_db, config, lambda _: None, clock=lambda: now[0], actor="sched")
    first = scheduler.run_due()
    assert [(r.job, r.state) for r in first] == [
        ("points_expiry", "ok"),
        ("merge_duplicates", "ok"),
        ("late_returns", "ok"),
    ]
    runs = cloud_db.jobs.JobRun
    failed = runs.get(runs.job == "tier_downgrade")
    assert failed.state == "failed" and "Mars/Olympus" in failed.error
    now[0] += dt.timedelta(seconds=299)
    assert scheduler.run_due() == []
    assert scheduler.nap_s() == 1.0  # the merge and the late returns are due in a second
    now[0] += dt.timedelta(seconds=1)
    assert [r.job for r in scheduler.run_due()] == ["merge_duplicates", "late_returns"]
    # The failed downgrade is tried again 600 s after it failed, not at once, not in a day.
    assert scheduler.next_due("tier_downgrade", now[0]) == failed.started_at + dt.timedelta(
        seconds=600
    )
    now[0] = dt.datetime(2026, 6, 2, 0, 0)
    assert sorted(r.job for r in scheduler.run_due()) == [
        "late_returns", "merge_duplicates", "points_expiry"]  # fmt: skip
    a = cloud_db.hq.HqAudit
    audit = [(r.username, r.via, r.action, r.outcome) for r in a.select().order_by(a.id)][:3]
    assert audit == [
        ("sched", "schedule", "job_points_expiry", "ok"),
        ("sched", "schedule", "job_tier_downgrade", "failed"),
        ("sched", "schedule", "job_merge_duplicates", "ok"),
    ]


def _spawn(db_url: str, config: Path, broker: Broker) -> subprocess.Popen[str]:
    env = {**os.environ, "POS_JOBS_PASSWORD": broker.password("jobs")}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloud.jobs",
            "run",
            "--db",
            db_url,
            "--config",
            str(config),
            "--broker",
            f"{broker.host}:{broker.port}",
            "--username",
            "jobs",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _ready(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    seen = []
    while line := proc.stdout.readline():
        seen.append(line)
        if "jobs scheduler ready" in line:
            return line
    raise AssertionError("the scheduler stopped before it was ready:\n" + "".join(seen))


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)


def _runs(db_url: str, job: str) -> int:
    cdb = open_cloud_db(db_url)
    try:
        return int(cdb.jobs.JobRun.select().where(cdb.jobs.JobRun.job == job).count())
    finally:
        cdb.close()


def _until(check, what: str, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} within {timeout}s"
        time.sleep(0.1)


def test_the_scheduler_process_expires_points_and_the_tills_hear_of_it(
    broker: Broker, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path}/cloud.db"
    cdb = open_cloud_db(db_url)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    Till(cdb, "S001-T01").sale("M-OLD", 700, old)  # 70 points, more than a year ago
    cdb.close()
    config = _write(tmp_path, '[merge_duplicates]\nevery = "1s"\n')
    till = broker.client("S001-T01", client_id="S001-T01")
    till.subscribe(MEMBERS_TOPIC)
    proc = _spawn(db_url, config, broker)
    try:
        assert "points_expiry every 86400s" in _ready(proc)
        [got] = till.wait_for(lambda m: m.topic == MEMBERS_TOPIC, timeout=60)
        [item] = decode_down(got.payload).items
        assert (item["member_id"], item["points_balance"]) == ("M-OLD", 0)
        _until(lambda: _runs(db_url, "merge_duplicates") >= 2, "a second merge run")
    finally:
        assert _stop(proc) == 0
    cdb = open_cloud_db(db_url)
    try:
        runs = cdb.jobs.JobRun
        expiry = runs.get(runs.job == "points_expiry")
        assert (expiry.trigger, expiry.state, expiry.members_changed) == ("schedule", "ok", 1)
        assert expiry.actor.startswith("scheduler@") and expiry.started_at > naive(old)
    finally:
        cdb.close()
    # Started again, it runs the merge (due every second) but not the expiry (due in a day).
    merges = _runs(db_url, "merge_duplicates")
    proc = _spawn(db_url, config, broker)
    try:
        _ready(proc)
        _until(lambda: _runs(db_url, "merge_duplicates") > merges, "a merge run after restart")
    finally:
        assert _stop(proc) == 0
    assert _runs(db_url, "points_expiry") == 1


def test_the_jobs_identity_publishes_downstream_and_nothing_else(broker: Broker) -> None:
    jobs = broker.client("jobs", client_id="jobs")
    assert not jobs.publish(MEMBERS_TOPIC, b"{}").is_failure
    assert jobs.publish(ack_topic("S001", "S001-T01"), b"{}").is_failure  # no forged ACKs
    assert jobs.publish(events_topic("S001", "S001-T01"), b"{}").is_failure
    assert jobs.subscribe(events_topic("S001", "S001-T01")).is_failure
