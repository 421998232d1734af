"""Jobs at HQ over the API: the list, running one now (audited with its run), the run history.

Also every role against every route of the jobs and member-administration areas, generated
from the app's route list: a new route there without a role policy, or without an example
body below that succeeds for an admin and leaves exactly one audit row, fails this test.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.api.app import ApiSettings, all_routes, create_app
from cloud.api.policy import Role, policy_of
from cloud.jobs.config import JobsConfig
from cloud.store.db import open_cloud_db
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.jobs.helpers import Till

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROLES = [r.value for r in Role]
AREAS = {"jobs", "member admin"}
SETTINGS = ApiSettings(jobs=JobsConfig())


@pytest.fixture
def world(cloud_url: str) -> Iterator[dict[str, Any]]:
    tokens = {role: token_for(cloud_url, role) for role in ROLES}
    recorder = Recorder()
    app = create_app(cloud_url, recorder, SETTINGS)
    cdb = open_cloud_db(cloud_url)
    try:
        with TestClient(app) as client:
            yield {"app": app, "client": client, "tokens": tokens, "cdb": cdb, "sent": recorder}
    finally:
        cdb.close()


def _ago(days: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(days=days)


def test_hq_runs_the_expiry_now_and_the_run_is_recorded_and_audited(world: dict) -> None:
    client, cdb = world["client"], world["cdb"]
    admin, analyst = bearer(world["tokens"]["admin"]), bearer(world["tokens"]["analyst"])
    till = Till(cdb, "S001-T01")
    till.sale("M-OLD", 800, _ago(400))  # +80, older than a year
    till.sale("M-OLD", 100, _ago(10))  # +10
    listed = client.get("/api/jobs", headers=analyst).json()
    assert [(j["name"], j["every_s"]) for j in listed] == [
        ("points_expiry", 86400),
        ("tier_downgrade", 86400),
        ("merge_duplicates", 300),
        ("rfm_segments", 86400),
        ("birthday_gifts", 3600),
        ("late_returns", 300),
    ]
    assert listed[0]["settings"] == {"after_days": 365, "rules_version": ""}
    assert listed[0]["last_run"] is None

    preview = client.post("/api/jobs/points_expiry/run", headers=admin, json={"dry_run": True})
    assert preview.status_code == 200, preview.text
    assert preview.json()["summary"]["counts"]["points_expired"] == 80
    assert client.get("/api/members/M-OLD/points", headers=admin).json()["balance"] == 90

    done = client.post("/api/jobs/points_expiry/run", headers=admin, json={}).json()
    assert (done["state"], done["trigger"], done["actor"], done["members_changed"]) == (
        "ok",
        "api",
        "admin-user",
        1,
    )
    assert done["published"] == 1 and world["sent"].members()[-1][1][0]["points_balance"] == 10
    assert client.get("/api/members/M-OLD/points", headers=admin).json()["balance"] == 10
    a = cdb.hq.HqAudit
    rows = [
        (r.action, r.username, r.detail.get("run_id"), r.detail.get("dry_run"))
        for r in a.select().where(a.action == "job_points_expiry").order_by(a.id)
    ]
    assert rows == [
        ("job_points_expiry", "admin-user", preview.json()["run_id"], True),
        ("job_points_expiry", "admin-user", done["run_id"], False),
    ]
    again = client.post("/api/jobs/points_expiry/run", headers=admin, json={}).json()
    assert again["members_changed"] == 0 and again["published"] == 0
    runs = client.get("/api/jobs/runs", headers=analyst, params={"job": "points_expiry"}).json()
    assert [r["run_id"] for r in runs] == [
        again["run_id"],
        done["run_id"],
        preview.json()["run_id"],
    ]
    assert (
        client.get("/api/jobs", headers=analyst).json()[0]["last_run"]["run_id"] == again["run_id"]
    )
    unknown = client.post("/api/jobs/points_forever/run", headers=admin, json={})
    assert unknown.status_code == 422 and "points_expiry" in unknown.text
    stray = client.post("/api/jobs/points_expiry/run", headers=admin, json={"dryrun": True})
    assert stray.status_code == 422  # a misspelt option is refused, not ignored


# -- every role against every route of these areas ---------------------------------------


def _routes(app: Any) -> list[tuple[str, str, Any]]:
    out = []
    for route in all_routes(app):
        if not hasattr(route, "methods") or not AREAS & set(getattr(route, "tags", [])):
            continue
        policy = policy_of(route)
        assert policy is not None, f"{route.path} has no role policy"
        out.extend((m, route.path, policy) for m in sorted(route.methods - {"HEAD"}))
    return out


PATHS = {"member_id": "M-ADMIN", "name": "merge_duplicates"}
BODIES: dict[tuple[str, str], tuple[dict[str, str], dict[str, Any]]] = {
    ("POST", "/api/members"): ({}, {"member_id": "M-ADMIN", "phone": "13800002222"}),
    ("PATCH", "/api/members/{member_id}"): ({}, {"name": "王"}),
    ("POST", "/api/members/import"): (
        {},
        {"members": [{"member_id": "M-IMP", "phone": "13800003333"}]},
    ),
    ("POST", "/api/members/{member_id}/points/adjust"): ({}, {"delta": 5, "reason": "gift"}),
    ("POST", "/api/members/{member_id}/merge"): (
        {"member_id": "M-TWIN"},
        {"into": "M-ADMIN", "reason": "one customer"},
    ),
    ("POST", "/api/jobs/{name}/run"): ({}, {}),
}


def _path(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: {**PATHS, **values}[m.group(1)], path)


def test_every_role_against_every_route_of_these_areas(world: dict) -> None:
    client, tokens = world["client"], world["tokens"]
    matrix = _routes(world["app"])
    assert len(matrix) == 8
    failures = []
    for method, path, policy in matrix:
        url = _path(path, {})
        if client.request(method, url, json={}).status_code != 401:
            failures.append(f"anonymous {method} {path}")
        for role in ROLES:
            got = client.request(method, url, json={}, headers=bearer(tokens[role])).status_code
            allowed = policy.allows(Role(role))
            if (allowed and got in (401, 403)) or (not allowed and got != 403):
                failures.append(f"{role} {method} {path}: {got}")
    assert failures == []
    roles = {f"{m} {p}": sorted(r.value for r in pol.roles) for m, p, pol in matrix}
    assert roles == {
        "GET /api/jobs": ["admin", "analyst", "marketing"],
        "GET /api/jobs/runs": ["admin", "analyst", "marketing"],
        "POST /api/jobs/{name}/run": ["admin"],
        "POST /api/members": ["admin", "marketing"],
        "PATCH /api/members/{member_id}": ["admin", "marketing"],
        "POST /api/members/import": ["admin"],
        "POST /api/members/{member_id}/points/adjust": ["admin", "marketing"],
        "POST /api/members/{member_id}/merge": ["admin", "marketing"],
    }


def test_every_write_of_these_areas_succeeds_for_an_admin_and_is_audited_once(
    world: dict,
) -> None:
    client, cdb = world["client"], world["cdb"]
    admin = bearer(world["tokens"]["admin"])
    audit = cdb.hq.HqAudit
    for method, path, _ in _routes(world["app"]):
        if method == "GET":
            continue
        if (method, path) not in BODIES:
            pytest.fail(f"{method} {path}: add an example body to BODIES in this test")
        if path.endswith("/merge"):  # a till registered the same phone again, offline
            Till(cdb, "S002-T01").register("M-TWIN", "13800002222", _ago(1))
        values, body = BODIES[(method, path)]
        before = audit.select().count()
        reply = client.request(method, _path(path, values), json=body, headers=admin)
        assert reply.status_code < 400, f"{method} {path}: {reply.status_code} {reply.text}"
        assert audit.select().count() - before == 1, f"{method} {path}"
        row = audit.select().order_by(audit.id.desc()).get()
        assert (row.username, row.method, row.outcome) == ("admin-user", method, "ok")
