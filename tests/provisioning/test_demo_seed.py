"""The demo's seeding path end to end: HQ imports the members, the tills learn them from the cloud.

Real parts: Mosquitto, the ingest worker, the HQ API as its own process (`python -m cloud.api`,
publishing as the hq identity), and two tills' sync services on real store files seeded the
way the demo seeds them (catalogue and staff only). One till is connected while HQ imports
(it hears the live pushes); the other connects afterwards (it catches up). Both member caches
must equal the cloud's facts field by field, and the demo's own member data, which is the
independent source of every expected value (M0000793: gold, 992 points, as the till showed
before the cloud knew the members at all).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings
from cloud.store import member_facts
from cloud.store.db import open_cloud_db, utcnow
from device.store.store import Store, StoreConfig
from provisioning import demo_data, ports
from provisioning.demo import seed_cloud, seed_store
from tests.broker import Broker
from tests.cloud.api.access import token_for
from tests.device.sync.harness import make_service

__all__ = ["make_service"]
ROOT = Path(__file__).resolve().parents[2]
MEMBERS = 1000
FIELDS = (
    "phone",
    "name",
    "tier",
    "points_balance",
    "cumulative_spend_fen",
    "birthday",
    "opt_out_sms",
    "member_code",
    "cards",
    "rev",
    "returns_30d",
    "gender",
)


@pytest.fixture
def cloud(broker: Broker, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The cloud's database URL and the HQ API's address, ingest and API running."""
    db_url = f"sqlite:///{tmp_path}/cloud.db"
    token = token_for(db_url, "admin")
    worker = IngestWorker(
        db_url,
        BrokerSettings(broker.host, broker.port, "ingest", broker.password("ingest")),
        client_id="ingest",
    )
    worker.start()
    port = ports.free_ports(1)[0]
    api = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloud.api",
            "--db",
            db_url,
            "--port",
            str(port),
            "--broker",
            f"{broker.host}:{broker.port}",
            "--username",
            "hq",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "POS_HQ_PASSWORD": broker.password("hq")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _until(lambda: _answers(f"{url}/api/health", api), "the HQ API answering")
        yield db_url, f"{url}|{token}"
    finally:
        api.terminate()
        api.wait(30)
        worker.stop()


def _answers(url: str, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "API exited"
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except (OSError, urllib.error.URLError):
        return False


def _until(check: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        time.sleep(0.1)


def _demo_till(path: Path, terminal_id: str) -> Path:
    store = Store.open(path, StoreConfig(terminal_id=terminal_id), create=True)
    try:
        seed_store(store)
        assert store.members.count() == 0
    finally:
        store.close()
    return path


def _till_members(path: Path) -> dict[str, dict[str, Any]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT member_id, phone, name, tier, points_balance, cumulative_spend_fen, birthday,"
            " opt_out_sms, member_code, rev, returns_30d, gender FROM member"
        ).fetchall()
        cards: dict[str, list[str]] = {}
        for card, member in db.execute("SELECT card_id, member_id FROM member_card ORDER BY 1"):
            cards.setdefault(member, []).append(card)
    return {
        r[0]: {
            "phone": r[1],
            "name": r[2],
            "tier": r[3],
            "points_balance": r[4],
            "cumulative_spend_fen": r[5],
            "birthday": r[6],
            "opt_out_sms": bool(r[7]),
            "member_code": r[8] or "",
            "rev": r[9],
            "returns_30d": r[10],
            "gender": r[11],
            "cards": cards.get(r[0], []),
        }
        for r in rows
    }


def _cloud_facts(db_url: str) -> dict[str, dict[str, Any]]:
    cdb = open_cloud_db(db_url)
    try:
        ids = [m.member_id for m in cdb.models.Member.select(cdb.models.Member.member_id)]
        items = member_facts.items(cdb, ids, utcnow(), bump=False)
    finally:
        cdb.close()
    return {i["member_id"]: {k: i.get(k) for k in FIELDS} for i in items}


def _converged(path: Path, facts: dict[str, dict[str, Any]]) -> bool:
    try:
        return _till_members(path) == facts
    except sqlite3.OperationalError:  # the till is writing: look again
        return False


def _post(api: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    url, token = api.split("|")
    request = urllib.request.Request(
        f"{url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return dict(json.loads(reply.read()))


def test_tills_get_the_demo_members_only_from_the_cloud_and_hold_its_facts(
    cloud: tuple[str, str], make_service: Any, tmp_path: Path
) -> None:
    db_url, api = cloud
    early = _demo_till(tmp_path / "early.db", "S001-T01")
    make_service(early, "S001-T01")
    url, token = api.split("|")
    said = seed_cloud(url, token, MEMBERS)
    assert f"{MEMBERS} members imported into the cloud" in said
    late = _demo_till(tmp_path / "late.db", "S002-T01")
    make_service(late, "S002-T01")

    facts = _cloud_facts(db_url)
    assert len(facts) == MEMBERS
    for till in (early, late):
        _until(lambda till=till: _converged(till, facts), f"{till.name} holding the cloud's facts")
    # Each value also equals the demo's own data, the source the cloud imported.
    held = _till_members(late)
    for person in demo_data.members(MEMBERS):
        mine = held[str(person["member_id"])]
        assert {
            k: mine[k]
            for k in (
                "phone",
                "name",
                "tier",
                "points_balance",
                "cumulative_spend_fen",
                "birthday",
                "opt_out_sms",
                "member_code",
                "cards",
            )
        } == {
            k: person[k]
            for k in (
                "phone",
                "name",
                "tier",
                "points_balance",
                "cumulative_spend_fen",
                "birthday",
                "opt_out_sms",
                "member_code",
                "cards",
            )
        }
    assert (held["M0000793"]["tier"], held["M0000793"]["points_balance"]) == ("gold", 992)

    # A change HQ makes afterwards reaches both tills the same way.
    done = _post(
        api,
        "/api/members/M0000793/points/adjust",
        {"delta": 8, "reason": "demo: round it up", "request_id": "demo-1"},
    )
    assert done["balance_after"] == 1000 and done["published"] == 1
    facts = _cloud_facts(db_url)
    assert facts["M0000793"]["points_balance"] == 1000
    for till in (early, late):
        _until(lambda till=till: _converged(till, facts), f"{till.name} after the adjustment")
    # Importing the demo again (a second `make run` on a fresh stamp) changes nothing.
    assert "0 members imported into the cloud (1000 there already)" in seed_cloud(
        url, token, MEMBERS
    )
    assert _cloud_facts(db_url) == facts
