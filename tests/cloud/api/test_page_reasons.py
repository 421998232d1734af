"""Every form and filter of the HQ page says why it refused, in the page's language; the JSON API
keeps answering the English it always did, in the same shape.

One refused submission per form (the member follow-up forms, campaigns, pushes, users and
tokens, the report filters, the member search) and per kind of refusal (a form field FastAPI
refuses, a domain rule in cloud/store, a role the route does not allow, an API route the page
calls), each read in Chinese and in English as a signed-in HQ user reads it.
"""

from __future__ import annotations

import html
import re
import warnings
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.api.pages import LANG_COOKIE
from cloud.api.publisher import MqttPublisher
from cloud.mqtt import BrokerSettings
from provisioning.ports import free_port
from tests.cloud.api.access import PASSWORD, bearer, token_for
from tests.cloud.api.recorder import Recorder

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PUSH = {"stream": "prices", "scope": "all", "kind": "upsert"}
#: (who, method, path, form, what the page says in Chinese, and in English).
CASES: tuple[tuple[str, str, str, dict[str, str], str, str], ...] = (
    ("boss", "POST", "/members/M1/tags", {"tags": "t" * 401},
     "标签：最多 400 个字符", "Tags: String should have at most 400 characters"),
    ("boss", "POST", "/members/M1/tags", {"tags": "a'b"},
     "标签 \"a'b\"：不能包含空格、引号、逗号或控制字符",
     "tag \"a'b\": no spaces, quotes, commas or control characters"),
    ("boss", "POST", "/members/M1/notes", {"text": " "},
     "备注不能为空", "a note needs some text"),
    ("boss", "POST", "/complaints/TC1/resolve", {"note": " ", "member_id": "M1"},
     "请说明投诉是如何处理的", "say how the complaint was resolved"),
    ("boss", "POST", "/complaints/NOPE/resolve", {"note": "x", "member_id": "M1"},
     "没有投诉 'NOPE'", "no complaint 'NOPE'"),
    ("boss", "POST", "/campaigns/add", {"name": "x", "segment": "nope"},
     "没有客户细分 'nope'；可选：new, regular, high-value, at-risk, one-off",
     "no segment 'nope'; one of new, regular, high-value, at-risk, one-off"),
    ("boss", "POST", "/campaigns/add", {"segment": "new"},
     "名称：必填", "Name: Field required"),
    ("boss", "POST", "/pushes/preview", {**PUSH, "items": "{"},
     "条目不是有效的 JSON：第 1 行字段名应使用双引号",
     "items are not JSON: Expecting property name enclosed in double quotes at line 1"),
    ("boss", "POST", "/pushes/preview", {**PUSH, "items": '[{"sku": "A", "price_fen": -1}]'},
     "推送内容有误：第 0 条：应为 >= 0 的 `int`（位置 `$.price_fen`）",
     "prices upsert: items[0]: Expected `int` >= 0 - at `$.price_fen`"),
    ("boss", "POST", "/pushes/preview", {**PUSH, "items": '{"sku": "A", "price_fen": 1, "x": 1}'},
     "推送内容有误：第 0 条：含有未知字段 `x`",
     "prices upsert: items[0]: Object contains unknown field `x`"),
    ("boss", "POST", "/pushes/send", {**PUSH, "items": "{}"},
     "推送内容有误：第 0 条：缺少必填字段 `sku`",
     "prices upsert: items[0]: Object missing required field `sku`"),
    ("boss", "POST", "/pushes/send", {**PUSH, "scope": "S999", "items": "{}"},
     "未知门店 'S999'；请先在 /api/stores 添加",
     "unknown store 'S999'; add it under /api/stores"),
    ("boss", "POST", "/users/add", {"username": "x", "password": "short", "role": "admin"},
     "用户名：至少 2 个字符；密码：至少 10 个字符",
     "Username: String should have at least 2 characters; "
     "Password: String should have at least 10 characters"),
    ("boss", "POST", "/users/add", {"username": "lin2", "password": "long enough!",
                                    "role": "store_manager"},
     "店长至少需要一个门店", "a store manager needs at least one store"),
    ("boss", "POST", "/users/add", {"username": "boss", "password": "long enough!",
                                    "role": "admin"},
     "用户 'boss' 已存在", "user 'boss' already exists"),
    ("boss", "POST", "/tokens/add", {"user_id": "999", "name": "n"},
     "没有编号为 999 的用户", "no user with id 999"),
    ("boss", "POST", "/tokens/999/revoke", {},
     "没有编号为 999 的有效令牌", "no active token with id 999"),
    ("boss", "GET", "/?date_from=2026-13-01", {},
     "开始日期：应为有效日期（YYYY-MM-DD）", "From: Input should be a valid date (YYYY-MM-DD)"),
    ("boss", "GET", "/?date_from=2026-02-01&date_to=2026-01-01", {},
     "结束日期 2026-01-01 早于开始日期 2026-02-01",
     "date_to 2026-01-01 is before date_from 2026-02-01"),
    ("boss", "GET", "/products?date_from=1999-01-01", {},
     "开始日期 1999-01-01 超出范围（2000-01-01 至 2100-12-31）",
     "date_from 1999-01-01 is out of range (2000-01-01 to 2100-12-31)"),
    ("boss", "GET", "/reports?name=nope", {}, "没有报表 'nope'", "no report 'nope'"),
    ("boss", "GET", "/members?q=" + "1" * 65, {},
     "搜索：最多 64 个字符", "Search: String should have at most 64 characters"),
    ("boss", "GET", "/members/NOPE", {}, "没有会员 'NOPE'", "no member 'NOPE'"),
    ("boss", "GET", "/segments?days=99", {}, "天数：应不大于 60",
     "Days: Input should be less than or equal to 60"),
    ("boss", "GET", "/lang/fr", {}, "没有语言 'fr'；可选：zh_CN, en",
     "no language 'fr'; one of zh_CN, en"),
    ("lin", "GET", "/stores/S002", {},
     "门店 'S002' 不在您管理的门店范围内", "store 'S002' is outside your stores"),
    ("lin", "GET", "/members/M3", {},
     "会员 'M3' 属于其他门店", "member 'M3' belongs to another store"),
    ("lin", "POST", "/members/M1/notes", {"text": "hello"},
     "您的角色无权使用 /members/M1/notes",
     "the store_manager role may not use /members/M1/notes"),
    ("boss", "POST", "/api/campaigns/999/queue", {},
     "没有营销活动 999", "no campaign 999"),
)  # fmt: skip


@pytest.fixture
def site(crm_db: str) -> str:
    """crm_world.py's chain, and S001's manager."""
    token_for(crm_db, "store_manager", store_ids=["S001"], username="lin")
    return crm_db


def _page_user(db_url: str, username: str, language: str) -> TestClient:
    """A browser's requests: the session cookie, the page's language, htmx's headers."""
    client = TestClient(create_app(db_url, Recorder()))
    client.__enter__()
    signed = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    client.cookies.set(LANG_COOKIE, language)
    client.headers.update({"X-CSRF-Token": signed.json()["csrf_token"]})
    return client


def _said(answer: Any) -> str:
    """What the page shows: htmx's alert from a refused request, or the page's own alert."""
    if answer.headers.get("content-type", "").startswith("application/json"):
        return str(answer.json()["message"])
    found = re.findall(r'class="error"[^>]*>([^<]*)<', answer.text)
    assert len(found) == 1, answer.text[-2000:]
    return html.unescape(found[0])


@pytest.mark.parametrize("language", ["zh_CN", "en"])
def test_every_page_refusal_is_said_in_the_pages_language(site: str, language: str) -> None:
    clients = {who: _page_user(site, who, language) for who in ("boss", "lin")}
    try:
        for who, method, path, form, zh, en in CASES:
            client = clients[who]
            # Forms post through htmx; filters and links are plain page loads.
            headers = {"HX-Request": "true"} if method == "POST" else {}
            answer = client.request(method, path, data=form or None, headers=headers)
            assert answer.status_code < 500, (path, answer.text)
            assert _said(answer) == (zh if language == "zh_CN" else en), (path, answer.text)
    finally:
        for client in clients.values():
            client.__exit__(None, None, None)


def test_the_json_api_answers_its_english_in_the_same_shape(site: str) -> None:
    """Scripts parse these: a domain refusal is {"detail": text}, a bad body FastAPI's list."""
    client = _page_user(site, "boss", "zh_CN")
    client.headers.pop("X-CSRF-Token")
    client.cookies.clear()
    client.headers.update(bearer(token_for(site, "admin", username="script")))
    try:
        note = client.post("/api/crm/members/M1/notes", json={"text": " "})
        assert (note.status_code, note.json()) == (422, {"detail": "a note needs some text"})
        dates = client.get("/api/reports/sales?date_from=2026-02-01&date_to=2026-01-01")
        assert dates.json() == {"detail": "date_to 2026-01-01 is before date_from 2026-02-01"}
        missing = client.get("/api/crm/members/NOPE")
        assert (missing.status_code, missing.json()) == (404, {"detail": "no member 'NOPE'"})
        tags = client.post("/api/crm/members/M1/tags", json={"tags": []})
        [problem] = tags.json()["detail"]
        assert tags.status_code == 422 and set(tags.json()) == {"detail"}
        assert (problem["loc"], problem["type"]) == (["body", "tags"], "too_short")
        push = client.post("/api/push/prices", json={"scope": "all", "items": [{}]})
        assert push.json() == {
            "detail": "prices upsert: items[0]: Object missing required field `sku`"
        }
    finally:
        client.__exit__(None, None, None)


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("zh_CN", "未连接到消息代理 127.0.0.1:%d"),
        ("en", "not connected to the broker at 127.0.0.1:%d"),
    ],
)
def test_a_push_while_the_broker_is_unreachable_says_why_in_the_pages_language(
    site: str, language: str, said: str
) -> None:
    """The real publisher with no broker behind it: the change is stored, and the page says
    why it was not sent in its own language (the JSON API keeps the English)."""
    port = free_port()  # nothing listens there
    publisher = MqttPublisher(BrokerSettings(port=port, username="hq", password="x"))
    with TestClient(create_app(site, publisher)) as client:
        signed = client.post("/api/auth/login", json={"username": "boss", "password": PASSWORD})
        client.cookies.set(LANG_COOKIE, language)
        client.headers.update({"X-CSRF-Token": signed.json()["csrf_token"], "HX-Request": "true"})
        items = '[{"sku": "P1", "price_fen": 990}]'
        answer = client.post("/pushes/send", data={**PUSH, "items": items})
        assert answer.status_code == 200, answer.text
        [why] = re.findall(r"<small>([^<]*)</small>", answer.text)
        assert html.unescape(why) == said % port
        client.cookies.clear()
        client.headers.pop("X-CSRF-Token")
        client.headers.update(bearer(token_for(site, "admin", username=f"script-{language}")))
        stored = client.post(
            "/api/push/prices", json={"scope": "all", "items": [{"sku": "P1", "price_fen": 5}]}
        )
        assert stored.json()["detail"] == f"not connected to the broker at 127.0.0.1:{port}"
