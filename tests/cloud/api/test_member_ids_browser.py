"""A member whose id holds / # ? % and a space, in headless Debian Chromium: found by the search,
its 360 opened from the hit, tagged, noted, its till complaint resolved, the page switched to
English and back to the same member, its data exported. Screenshots go to var/hq-page/."""

from __future__ import annotations

import json
from pathlib import Path

from cloud.store.db import open_cloud_db
from protocol.envelope import utc_iso
from tests.cloud.api.access import token_for
from tests.cloud.api.browser import Site, call, chromium, shot, sign_in
from tests.cloud.jobs.helpers import Till, day

#: An earlier system's number, with every character a URL path reserves.
ODD_ID = "2019/07#12 a%b?"
COMPLAINT_ID = "TC/9?"


def _odd_member(site: Site) -> None:
    """The member, made by HQ, and a complaint about it from a till."""
    admin = token_for(site.db_url, "admin", username="importer")
    made = call(f"{site.url}/api/members", admin, "POST",
                 {"member_id": ODD_ID, "phone": "13700000001", "home_store": "S001"})  # fmt: skip
    assert made[0] == 201, made
    cdb = open_cloud_db(site.db_url)
    try:
        Till(cdb, "S001-T02").send({"complaint_id": COMPLAINT_ID, "member_id": ODD_ID,
                                    "sale_id": "", "staff_id": "C01", "text": "no bags left",
                                    "status": "open", "device_time": utc_iso(day(3))},
                                   day(3), "complaint")  # fmt: skip
    finally:
        cdb.close()


def test_a_member_whose_id_holds_url_characters_in_chromium(crm_site: Site) -> None:
    _odd_member(crm_site)
    with chromium(accept_downloads=True) as browser:
        page = browser.new_page()
        sign_in(page, crm_site.url, "boss")
        page.goto(f"{crm_site.url}/members")
        page.fill("#member-search input[name=q]", ODD_ID)
        page.click("#member-search button[type=submit]")
        page.wait_for_selector("#member-hits a")
        page.click("#member-hits a")
        page.wait_for_selector("#purchases")
        assert page.inner_text("h1") == f"会员 {ODD_ID}"
        assert page.inner_text("#profile-phone") == "13700000001"
        page.fill("#tag-form input[name=tags]", "legacy")
        page.click("#tag-form button[type=submit]")
        page.wait_for_function(
            "() => document.querySelector('#tag-list').innerText.includes('legacy')"
        )
        page.fill("#note-form textarea[name=text]", "moved over from the old system")
        page.click("#note-form button[type=submit]")
        page.wait_for_function(
            "() => document.querySelector('#note-list').innerText.includes('old system')"
        )
        complaint = f"[id='complaint-{COMPLAINT_ID}']"
        page.fill(f"{complaint} input[name=note]", "bags restocked")
        page.click(f"{complaint} button[type=submit]")
        page.wait_for_function(
            "sel => document.querySelector(sel).innerText.includes('boss')", arg=complaint
        )
        assert page.query_selector("#request-error") is None
        shot(page, "member-odd-id")
        page.click("a.lang")  # English, and still this member
        page.wait_for_selector("#purchases")
        assert page.inner_text("h1") == f"Member {ODD_ID}"
        assert "bags restocked" in page.inner_text(complaint)
        with page.expect_download() as download:
            page.click("#member-export")
        exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
        assert exported["member_id"] == ODD_ID
