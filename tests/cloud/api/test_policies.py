"""Every role against every route, generated from the app's route list.

A route without a role policy fails here; so does a write route without an example body
below (each write must be shown to succeed for an admin and to leave exactly one audit row).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from cloud.api.app import all_routes, create_app
from cloud.api.policy import Policy, Role, policy_of
from cloud.api.publisher import PublishError
from cloud.api.routers.rules import RULES_EXAMPLE
from cloud.ingest.decode import DecodedBatch, decode_events_message
from cloud.store.apply import IngestRules, apply_batch
from cloud.store.db import open_cloud_db
from protocol.topics import events_topic
from tests.cloud.api.access import PASSWORD, bearer, token_for
from tests.cloud.factories import (
    batch_payload,
    envelope,
    registration_body,
    sale_body,
    terminal_cert_pem,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROLES = [r.value for r in Role]
#: Placeholder values for path parameters (they exist where a route needs them to).
PATH_VALUES = {
    "stream": "members",
    "name": "sales",
    "user_id": "999999",
    "token_id": "999999",
    "terminal_id": "S001-T01",
    "store_id": "S001",
    "member_id": "M1",
    "code": "en",
    "seq": "1",  # a held event of S001-T01 (the world below stores two)
    "staff_id": "2003",  # created by POST /api/staff, which comes first in the route list
    "version": "r1",  # published by PUT /api/rules/store/{scope}, which comes first
    "scope": "S001",
    "receipt_no": "R-none",  # a receipt no till has sent: readers get 404, not 403
    "campaign_id": "1",  # created by POST /api/campaigns, which comes first
    "template_kind": "campaign_notice",
    "template_lang": "en",
    "complaint_id": "CP1",  # opened by POST /api/crm/members/{member_id}/complaints first
    "tag": "vip",  # put on M1 by POST /api/crm/members/{member_id}/tags first
}
#: Path values for one write route only.
WRITE_VALUES = {
    "/api/members/{member_id}/merge": {"member_id": "M2"},  # the duplicate goes, into M1
    "/api/jobs/{name}/run": {"name": "points_expiry"},
    "/api/coupons/{code}/revoke": {"code": "X1"},  # issued by POST /api/coupons, which comes first
    "/api/coupon-rules/{name}/stop": {"name": "r1"},  # added by POST /api/coupon-rules
    "/api/crm/members/{member_id}/erase": {"member_id": "M2"},  # merged into M1 above
}
#: POST routes that change nothing (previews): no audit row expected.
READ_ONLY_WRITES = {
    ("POST", "/api/push/{stream}/preview"),
    ("POST", "/pushes/preview"),
    ("POST", "/api/rules/store/{scope}/check"),
}
CSRF_FREE = {("POST", "/api/auth/login"), ("POST", "/login")}  # a sign-in has no session yet


def valid_body(method: str, path: str, user_ids: dict[str, int]) -> dict[str, Any]:
    """A body (json= or data=) an admin's call succeeds with; every write route needs one."""
    push = {"scope": "S001", "items": [{"member_id": "M9", "phone": "13800001111"}]}
    form_push = {
        "stream": "members",
        "scope": "S001",
        "kind": "upsert",
        "items": '[{"member_id": "M9", "phone": "13800001111"}]',
    }
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/api/auth/login"): {"json": {"username": "admin-user", "password": PASSWORD}},
        ("POST", "/login"): {"data": {"username": "admin-user", "password": PASSWORD}},
        ("POST", "/api/auth/logout"): {},
        ("POST", "/logout"): {},
        ("POST", "/api/users"): {
            "json": {"username": "newbie", "password": "a long password", "role": "analyst"}
        },
        ("POST", "/api/users/{user_id}/active"): {"json": {"active": True}},
        ("POST", "/api/users/{user_id}/password"): {"json": {"password": "another long one"}},
        ("POST", "/api/tokens"): {"json": {"user_id": user_ids["analyst"], "name": "script"}},
        ("DELETE", "/api/tokens/{token_id}"): {},
        ("PUT", "/api/stores/{store_id}"): {
            "json": {"name": "Store 1", "timezone": "Asia/Shanghai", "day_start_hour": 4}
        },
        ("POST", "/api/terminals"): {
            "json": {
                "terminal_id": "S001-T09",
                "store_id": "S001",
                "cert_sha256": "ab" * 32,
                "cert_serial": "1f",
            }
        },
        ("PUT", "/api/terminals/{terminal_id}/certificate"): {
            "json": {"cert_pem": terminal_cert_pem("S001-T01")}
        },
        ("POST", "/api/terminals/{terminal_id}/revoke"): {"json": {"reason": "stolen"}},
        ("POST", "/api/terminals/{terminal_id}/snapshot/{stream}"): {"params": {"store": "S001"}},
        ("POST", "/api/push/{stream}/preview"): {"json": push},
        ("POST", "/api/push/{stream}"): {"json": push},
        ("POST", "/pushes/preview"): {"data": form_push},
        ("POST", "/pushes/send"): {"data": form_push},
        ("POST", "/users/add"): {
            "data": {"username": "pageuser", "password": "a long password", "role": "analyst"}
        },
        ("POST", "/tokens/add"): {"data": {"user_id": str(user_ids["analyst"]), "name": "p"}},
        ("POST", "/tokens/{token_id}/revoke"): {},
        ("POST", "/api/integrity/held/{terminal_id}/{seq}/accept"): {"json": {"note": "ok"}},
        ("POST", "/api/integrity/held/{terminal_id}/{seq}/reject"): {"json": {"note": "forged"}},
        ("POST", "/api/staff"): {
            "json": {"staff_id": "2003", "name": "王芳", "role": "cashier", "stores": ["S001"]}
        },
        ("POST", "/api/staff/{staff_id}/code"): {},
        ("PATCH", "/api/staff/{staff_id}"): {"json": {"name": "王芳芳"}},
        ("POST", "/api/rules/store/{scope}/check"): {"json": RULES_EXAMPLE},
        ("PUT", "/api/rules/store/{scope}"): {"json": RULES_EXAMPLE},
        ("DELETE", "/api/rules/store/{scope}"): {},
        ("POST", "/api/jobs/{name}/run"): {"json": {"dry_run": True}},
        ("POST", "/api/members"): {"json": {"member_id": "M7", "phone": "13900000007"}},
        ("PATCH", "/api/members/{member_id}"): {"json": {"name": "李雷"}},
        ("POST", "/api/members/import"): {
            "json": {"members": [{"member_id": "IMP1", "phone": "13900000008"}]}
        },
        ("POST", "/api/members/{member_id}/points/adjust"): {
            "json": {"delta": 10, "reason": "goodwill"}
        },
        # M2 registered again with M1's phone (the world below): merged into M1.
        ("POST", "/api/members/{member_id}/merge"): {
            "json": {"into": "M1", "reason": "same customer"}
        },
        ("POST", "/api/coupons"): {"json": {"kind": "amount", "value": 500, "codes": ["X1"]}},
        ("POST", "/api/coupons/{code}/revoke"): {},
        ("POST", "/api/coupon-rules"): {
            "json": {
                "name": "r1",
                "min_total_fen": 10000,
                "kind": "amount",
                "value": 500,
                "valid_days": 30,
            }
        },
        ("POST", "/api/coupon-rules/{name}/stop"): {},
        ("PUT", "/api/crm/templates/{template_kind}/{template_lang}"): {
            "json": {"text": "{name}: {campaign}"}
        },
        ("POST", "/api/campaigns"): {"json": {"name": "spring", "tiers": ["gold"]}},
        ("POST", "/api/campaigns/{campaign_id}/queue"): {},
        ("POST", "/campaigns/add"): {"data": {"name": "page", "segment": "", "lang": "en"}},
        ("POST", "/api/crm/members/{member_id}/tags"): {"json": {"tags": ["vip", "size-m"]}},
        ("DELETE", "/api/crm/members/{member_id}/tags/{tag}"): {},
        ("PUT", "/api/crm/members/{member_id}/preferences"): {"json": {"values": {"size": "M"}}},
        ("POST", "/api/crm/members/{member_id}/notes"): {"json": {"text": "call back on Friday"}},
        ("POST", "/api/crm/members/{member_id}/complaints"): {
            "json": {"text": "rude at the till", "complaint_id": "CP1"}
        },
        ("POST", "/api/crm/complaints/{complaint_id}/resolve"): {"json": {"note": "apologised"}},
        ("POST", "/api/crm/complaints/{complaint_id}/reopen"): {"json": {"note": "called again"}},
        ("POST", "/api/crm/members/{member_id}/erase"): {
            "json": {"confirm": "M2", "reason": "the customer asked"}
        },
        ("POST", "/members/{member_id}/notes"): {"data": {"text": "prefers weekend calls"}},
        ("POST", "/members/{member_id}/tags"): {"data": {"tags": "vip, 跟进"}},
        # CP1 was opened, resolved and reopened through the API just before.
        ("POST", "/complaints/{complaint_id}/resolve"): {
            "data": {"note": "refunded", "member_id": "M1"}
        },
    }
    key = (method, path)
    if key not in bodies:
        pytest.fail(f"{method} {path}: add an example body to valid_body() in this test")
    return bodies[key]


class Recorder:
    """A publisher that keeps what it was given (pushes and snapshots succeed)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes) -> None:
        if topic.startswith("never/"):
            raise PublishError("unreachable")
        self.sent.append((topic, payload))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, Any]]:
    db_url = f"sqlite:///{tmp_path}/cloud.db"
    tokens = {role: token_for(db_url, role) for role in ROLES}
    cdb = open_cloud_db(db_url)
    user_ids = {u.role: u.id for u in cdb.hq.HqUser.select()}
    with cdb.write():
        cdb.hq.TerminalRegistration.create(
            terminal_id="S001-T01",
            store_id="S001",
            cert_sha256="00" * 32,
            cert_serial="01",
            registered_at="2026-11-23 00:00:00",
            registered_by="tests",
        )
    # Two events ingest held (points earned beyond the rules): one to accept, one to reject.
    envs = [envelope("S001-T01", seq, sale_body([("A", 1, 5000)], member_id="M1", earn=99))
            for seq in (1, 2)]  # fmt: skip
    topic = events_topic("S001", "S001-T01")
    decoded = decode_events_message(topic, batch_payload(envs))
    assert isinstance(decoded, DecodedBatch)
    held = apply_batch(cdb, store_id="S001", terminal_id="S001-T01", events=decoded.events,
                       topic=topic, rules=IngestRules()).held  # fmt: skip
    assert held == [1, 2]
    # One customer registered twice (at two tills): a duplicate for HQ to merge by hand.
    regs = [envelope("S001-T01", seq, registration_body(member, "13800002222"),
                     event_type="member_registered")
            for seq, member in ((3, "M1"), (4, "M2"))]  # fmt: skip
    decoded = decode_events_message(topic, batch_payload(regs))
    assert isinstance(decoded, DecodedBatch)
    apply_batch(cdb, store_id="S001", terminal_id="S001-T01", events=decoded.events,
                topic=topic, rules=IngestRules())  # fmt: skip
    cdb.close()
    app = create_app(db_url, Recorder())
    with TestClient(app) as client:
        yield {
            "app": app,
            "client": client,
            "tokens": tokens,
            "db_url": db_url,
            "user_ids": user_ids,
        }


def api_routes(app: Any) -> list[Any]:
    return [r for r in all_routes(app) if hasattr(r, "methods")]


def routes_without_policy(app: Any) -> list[str]:
    return [f"{sorted(r.methods)} {r.path}" for r in api_routes(app) if policy_of(r) is None]


def concrete(path: str, values: dict[str, str] | None = None) -> str:
    chosen = {**PATH_VALUES, **(values or {})}
    return re.sub(r"\{(\w+)\}", lambda m: chosen[m.group(1)], path)


def call(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
    values: dict[str, str] | None = None,
) -> Any:
    return client.request(
        method, concrete(path, values), headers=headers, follow_redirects=False, **(body or {})
    )


def test_every_route_declares_a_policy_and_a_route_without_one_is_caught(world: dict) -> None:
    app = world["app"]
    assert routes_without_policy(app) == []
    assert len(api_routes(app)) > 40
    # Mounts (static files) are the only non-route entries, and they are listed here on purpose.
    mounts = [r.path for r in all_routes(app) if not hasattr(r, "methods")]
    assert mounts == ["/static"]
    # The check can fail: a route added around the policy router is reported.
    stray = APIRouter()
    stray.add_api_route("/api/stray", lambda: {"ok": True}, methods=["GET"])
    app.include_router(stray)
    assert routes_without_policy(app) == ["['GET'] /api/stray"]


def _matrix(app: Any) -> list[tuple[str, str, Policy]]:
    out = []
    for r in api_routes(app):
        policy = policy_of(r)
        assert policy is not None, r.path
        out.extend((m, r.path, policy) for m in sorted(r.methods - {"HEAD"}))
    return out


def test_every_role_against_every_route(world: dict) -> None:
    client, tokens = world["client"], world["tokens"]
    failures = []
    for method, path, policy in _matrix(world["app"]):
        # Anonymous: only public routes answer; pages send the browser to the sign-in page.
        anon = call(client, method, path, {})
        if policy.public:
            if anon.status_code in (401, 403):
                failures.append(f"anonymous {method} {path}: public, got {anon.status_code}")
        elif anon.status_code not in (401, 303) or (
            anon.status_code == 303 and "/login" not in anon.headers.get("location", "")
        ):
            failures.append(f"anonymous {method} {path}: got {anon.status_code}")
        for role in ROLES:
            got = call(client, method, path, bearer(tokens[role])).status_code
            allowed = policy.allows(Role(role))
            if not allowed and got != 403:
                failures.append(f"{role} {method} {path}: forbidden, got {got}")
            if allowed and got in (401, 403):
                failures.append(f"{role} {method} {path}: allowed, got {got}")
    assert not failures, "\n".join(failures)


def test_every_write_succeeds_for_an_admin_and_is_audited_once(world: dict) -> None:
    client, db_url = world["client"], world["db_url"]
    admin = bearer(world["tokens"]["admin"])
    cdb = open_cloud_db(db_url)
    audit = cdb.hq.HqAudit
    spare = client.post(
        "/api/tokens",
        headers=admin,
        json={"user_id": world["user_ids"]["analyst"], "name": "spare"},
    ).json()
    values = {"user_id": str(world["user_ids"]["analyst"]), "token_id": str(spare["id"])}
    try:
        for method, path, _policy in _matrix(world["app"]):
            if method == "GET":
                continue
            body = valid_body(method, path, world["user_ids"])
            before = audit.select().count()
            if path.endswith("/reject"):  # the held event at seq 1 was accepted just before
                values["seq"] = "2"
            if path == "/tokens/{token_id}/revoke":  # the API route revoked the spare already
                values["token_id"] = str(
                    client.post(
                        "/api/tokens",
                        headers=admin,
                        json={"user_id": world["user_ids"]["analyst"], "name": "spare2"},
                    ).json()["id"]
                )
                before = audit.select().count()
            here = {**values, **WRITE_VALUES.get(path, {})}
            reply = call(client, method, path, admin, body, here)
            assert reply.status_code < 400, f"{method} {path}: {reply.status_code} {reply.text}"
            if "error" in reply.text and reply.headers.get("content-type", "").startswith(
                "text/html"
            ):
                assert 'class="error"' not in reply.text, f"{method} {path}: {reply.text[:300]}"
            written = audit.select().count() - before
            expected = 0 if (method, path) in READ_ONLY_WRITES else 1
            assert written == expected, f"{method} {path}: {written} audit rows"
            if expected:
                row = audit.select().order_by(audit.id.desc()).get()
                assert row.ip and row.at and row.method == method and row.outcome == "ok"
    finally:
        cdb.close()


def test_a_session_write_without_the_csrf_token_is_refused_and_audited(world: dict) -> None:
    client = world["client"]
    me = client.post("/api/auth/login", json={"username": "admin-user", "password": PASSWORD})
    assert me.status_code == 200 and "hq_session" in me.headers["set-cookie"]
    assert "httponly" in me.headers["set-cookie"].lower()
    assert "samesite=strict" in me.headers["set-cookie"].lower()
    body = {"name": "Store 1", "timezone": "Asia/Shanghai"}
    refused = client.put("/api/stores/S001", json=body)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    wrong = client.put("/api/stores/S001", json=body, headers={"X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    ok = client.put(
        "/api/stores/S001", json=body, headers={"X-CSRF-Token": me.json()["csrf_token"]}
    )
    assert ok.status_code == 200
    cdb = open_cloud_db(world["db_url"])
    outcomes = [(a.action, a.outcome) for a in cdb.hq.HqAudit.select().order_by(cdb.hq.HqAudit.id)]
    cdb.close()
    assert outcomes[-3:] == [("refused", "refused"), ("refused", "refused"), ("store_put", "ok")]


def test_sign_in_locks_out_after_repeated_failures_even_for_unknown_names(world: dict) -> None:
    client = world["client"]
    for name in ("admin-user", "nobody-here"):
        codes = [
            client.post(
                "/api/auth/login", json={"username": name, "password": "wrong!"}
            ).status_code
            for _ in range(5)
        ]
        assert codes == [401, 401, 401, 401, 429], name
        # Locked: even the right password is refused for a while, with the reason.
        right = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert right.status_code == 429 and "try again in" in right.json()["detail"]


def test_a_revoked_token_stops_at_once(world: dict) -> None:
    client, analyst = world["client"], bearer(world["tokens"]["analyst"])
    assert client.get("/api/auth/me", headers=analyst).json()["role"] == "analyst"
    admin = bearer(world["tokens"]["admin"])
    [mine] = [
        t
        for t in client.get("/api/tokens", headers=admin).json()
        if t["username"] == "analyst-user"
    ]
    assert client.delete(f"/api/tokens/{mine['id']}", headers=admin).status_code == 200
    gone = client.get("/api/auth/me", headers=analyst)
    assert gone.status_code == 401 and "revoked" in gone.json()["detail"]


def test_every_asset_is_served_locally(world: dict) -> None:
    client, admin = world["client"], bearer(world["tokens"]["admin"])
    for page in ("/docs", "/redoc", "/", "/pushes", "/users"):
        html = client.get(page, headers=admin).text
        external = re.findall(r'(?:src|href)=["\'](https?:)?//[^"\']+', html)
        assert not external, f"{page} loads {external}"
        for asset in re.findall(r'(?:src|href)=["\'](/(?:static|docs-assets)/[^"\'?]+)', html):
            reply = client.get(asset)  # assets answer without signing in, from this server
            assert reply.status_code == 200 and len(reply.content) > 100, asset
    swagger = client.get("/docs", headers=admin).text
    assert "/docs-assets/swagger-ui-bundle.js" in swagger and "cdn" not in swagger.lower()
    assert "fonts.googleapis" not in client.get("/redoc", headers=admin).text
