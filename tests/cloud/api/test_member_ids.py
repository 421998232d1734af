"""Member ids holding the characters a URL path reserves, over plain HTTP to the app under uvicorn.

Imports from earlier systems bring ids like ``2019/00123``; tills and HQ accept any 1-64
characters. Each such member is read, edited and followed up by every member route, under its
own id, and ids that differ only by how a ``/`` is written are never confused.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from cloud.api.app import create_app
from tests.cloud.api.access import token_for
from tests.cloud.api.browser import Served, call
from tests.cloud.api.recorder import Recorder

IDS = ("2019/00123", "x?y", "a#b", "50%", "a b", "p%2Fq", "p/q", "会员/7", "M9", "M9/notes")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    db_url = f"sqlite:///{tmp_path}/cloud.db"
    admin = token_for(db_url, "admin")
    with Served(create_app(db_url, Recorder())) as app:
        for n, member_id in enumerate(IDS):
            new = {"member_id": member_id, "phone": f"1380000{n:04d}", "home_store": "S001"}
            made = call(f"{app.url}/api/members", admin, "POST", new)
            assert made[0] == 201, made
        yield app.url, admin


@pytest.mark.parametrize("member_id", IDS)
def test_every_member_route_reaches_the_member_by_its_own_id(
    served: tuple[str, str], member_id: str
) -> None:
    url, admin = served
    at = f"{url}/api/members/{quote(member_id, safe='')}"
    crm = f"{url}/api/crm/members/{quote(member_id, safe='')}"
    status, edited = call(at, admin, "PATCH", {"name": f"name of {member_id}"})
    assert (status, edited["member_id"]) == (200, member_id)
    assert call(at, admin)[1]["name"] == f"name of {member_id}"
    status, adjusted = call(f"{at}/points/adjust", admin, "POST", {"delta": 5, "reason": "x"})
    assert status == 201, adjusted
    assert call(f"{at}/points", admin)[1]["balance"] == 5
    assert call(f"{crm}/tags", admin, "POST", {"tags": ["vip", "size-m"]})[0] == 201
    assert call(f"{crm}/tags/vip", admin, "DELETE")[0] == 200
    assert call(f"{crm}/preferences", admin, "PUT", {"values": {"size": "M"}})[0] == 200
    assert call(f"{crm}/notes", admin, "POST", {"text": f"note on {member_id}"})[0] == 201
    status, opened = call(f"{crm}/complaints", admin, "POST", {"text": "late"})
    assert status == 201, opened
    status, view = call(crm, admin)
    assert status == 200, view
    p = view["profile"]
    assert (p["member_id"], p["name"]) == (member_id, f"name of {member_id}")
    assert [t["tag"] for t in view["tags"]] == ["size-m"]
    assert view["preferences"] == {"size": "M"} and view["points"]["balance"] == 5
    assert [n["text"] for n in view["notes"]] == [f"note on {member_id}"]
    assert [c["text"] for c in view["complaints"]] == ["late"]
    status, exported = call(f"{crm}/export", admin)
    assert status == 200 and exported["member_id"] == member_id


@pytest.mark.parametrize("member_id", IDS)
def test_the_member_page_links_to_the_member_it_shows(
    served: tuple[str, str], member_id: str
) -> None:
    url, admin = served
    status, page = call(f"{url}/members/{quote(member_id, safe='')}", admin)
    assert status == 200 and f"<title>会员 {html.escape(member_id)} · POS HQ</title>" in page
    links = re.findall(r'(?:href|hx-post)="(/[^"]*)"', page)
    own = [link for link in links if "/members/" in link and not link.startswith("/lang/")]
    # The export, the tag form and the note form, each naming this member in one segment.
    assert sorted(own) == sorted(
        f"{base}/{quote(member_id, safe='')}/{what}"
        for base, what in (("/api/crm/members", "export"), ("/members", "tags"),
                           ("/members", "notes"))
    ), own  # fmt: skip
    back = next(link for link in links if link.startswith("/lang/"))
    status, again = call(f"{url}{back}", admin)  # switching language comes back here
    assert status == 200 and f"<title>会员 {html.escape(member_id)} · POS HQ</title>" in again
