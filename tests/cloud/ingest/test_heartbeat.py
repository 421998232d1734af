"""Ingest workers are visible at HQ: last commit, queue depth, and a dead or stopped session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings

from cloud.api.app import create_app
from cloud.api.publisher import PublishError
from cloud.ingest.worker import IngestWorker
from protocol.topics import events_topic
from tests.broker import Broker
from tests.cloud.api.access import bearer, token_for
from tests.cloud.factories import batch_payload, simple_sale
from tests.cloud.ingest.conftest import ingest_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


class Offline:
    def publish(self, topic: str, payload: bytes) -> None:
        raise PublishError("offline")


def _wait(check, what: str, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_beats_commits_show_and_a_clean_stop_or_a_kill_is_visible(
    broker: Broker, db_url: str
) -> None:
    token = token_for(db_url, "analyst")
    w = IngestWorker(db_url, ingest_settings(broker), client_id="ingest-hb-1", heartbeat_s=0.5)
    w.start()
    with TestClient(create_app(db_url, Offline()), headers=bearer(token)) as api:
        try:

            def mine() -> dict | None:
                rows = api.get("/api/workers").json()
                return next((r for r in rows if r["client_id"] == "ingest-hb-1"), None)

            first = _wait(lambda: (r := mine()) and r["connected"] and r, "a first beat")
            assert first["state"] == "ok" and first["commits"] == 0
            assert first["last_commit_at"] is None
            term = broker.client("S001-T01", client_id="S001-T01")
            term.publish(
                events_topic("S001", "S001-T01"), batch_payload([simple_sale("S001-T01", 1)]), qos=1
            )
            after = _wait(lambda: (r := mine()) and r["commits"] >= 1 and r, "the commit")
            assert after["last_commit_at"] is not None and after["queue_depth"] == 0
        finally:
            w.stop()
        stopped = mine()
        assert (
            stopped["state"] == "stopped"
            and "--retire --client-id ingest-hb-1" in stopped["advice"]
        )

        # A worker killed with -9 writes no last beat: its row just ages into "stale".
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cloud.ingest",
                "--db",
                db_url,
                "--broker",
                f"{broker.host}:{broker.port}",
                "--client-id",
                "ingest-hb-2",
                "--heartbeat-s",
                "0.5",
            ],
            env={**os.environ, "POS_INGEST_PASSWORD": broker.password("ingest")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:

            def other() -> dict | None:
                rows = api.get("/api/workers").json()
                return next((r for r in rows if r["client_id"] == "ingest-hb-2"), None)

            _wait(lambda: (r := other()) and r["connected"] and r["state"] == "ok", "a live worker")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            dead = _wait(lambda: (r := other()) and r["state"] == "stale" and r, "a stale row")
        finally:
            if proc.poll() is None:
                proc.kill()
        assert "persistent session" in dead["advice"] and dead["beat_age_s"] >= 1.5
        assert "--retire --client-id ingest-hb-2" in dead["advice"]
