"""Member ids ``.`` and ``..``: a browser collapses them out of every address (escaped as
``%2E`` too, checked in headless Chromium), so HQ refuses to create or import such a member,
saying why, over plain HTTP to the app under uvicorn. One an older cloud let in is still read
by a client that sends the path as it is."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.api.app import create_app
from cloud.store.db import open_cloud_db, utcnow
from tests.cloud.api.access import token_for
from tests.cloud.api.browser import Served, call, chromium
from tests.cloud.api.recorder import Recorder

DOTS = (".", "..")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    db_url = f"sqlite:///{tmp_path}/cloud.db"
    admin = token_for(db_url, "admin")
    with Served(create_app(db_url, Recorder())) as app:
        yield app.url, admin, db_url


def test_a_browser_cannot_address_a_dot_segment_however_it_is_escaped() -> None:
    with chromium() as browser:
        page = browser.new_page()
        paths = page.evaluate(
            "ids => ids.map(id => new URL('/members/' + id, 'http://hq.example/').pathname)",
            [".", "..", "%2E", "%2e%2E", "%252E"],
        )
    # Only an id the server would read back as "%2E" survives, and that is another id.
    assert paths == ["/members/", "/", "/members/", "/", "/members/%252E"]


@pytest.mark.parametrize("member_id", DOTS)
def test_hq_refuses_to_create_or_import_a_member_a_browser_cannot_open(
    served: tuple[str, str, str], member_id: str
) -> None:
    url, admin, _ = served
    new = {"member_id": member_id, "phone": "13800000001", "home_store": "S001"}
    status, answer = call(f"{url}/api/members", admin, "POST", new)
    assert status == 422, answer
    assert f"member id {member_id!r} cannot be used" in json.loads(answer)["detail"]
    imported = {"members": [{"member_id": "M1", "phone": "13800000002"},
                            {"member_id": member_id, "phone": "13800000003"}]}  # fmt: skip
    status, answer = call(f"{url}/api/members/import", admin, "POST", imported)
    assert status == 422, answer
    assert f"members[1] member id {member_id!r} cannot be used" in json.loads(answer)["detail"]
    for nobody in ("M1", "%2E"):  # all or nothing: the good row was not imported either
        assert call(f"{url}/api/members/{nobody}", admin)[0] == 404


def test_a_dot_member_an_older_cloud_took_is_still_read_by_its_path_as_is(
    served: tuple[str, str, str],
) -> None:
    url, admin, db_url = served
    cdb = open_cloud_db(db_url)
    try:
        with cdb.write():
            cdb.models.Member.insert(member_id=".", phone="13800000009", registered_at=utcnow(),
                                     updated_at=utcnow()).execute()  # fmt: skip
    finally:
        cdb.close()
    status, member = call(f"{url}/api/members/.", admin)  # urllib sends the path unchanged
    assert (status, member["phone"]) == (200, "13800000009")
