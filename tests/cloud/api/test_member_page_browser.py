"""The member pages in headless Debian Chromium: search finds the member, the 360 shows its
purchases and points ledger, the export downloads; a sales guide sees the phone masked.
Screenshots go to var/hq-page/."""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.store.db import open_cloud_db
from tests.cloud.api import crm_world as w
from tests.cloud.api.access import PASSWORD, bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.api.test_page_browser import CHROMIUM, FLAGS, Served, shot

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _sign_in(page: Any, url: str, username: str) -> None:
    page.goto(f"{url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#who")


def test_member_search_and_360_in_chromium(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: `make system` installs it (APT_PACKAGES)")
    from playwright.sync_api import sync_playwright

    db_url = f"sqlite:///{tmp_path}/cloud.db"
    admin = bearer(token_for(db_url, "admin", username="boss"))
    token_for(db_url, "sales_guide", store_ids=["S001"], username="guide1")
    cdb = open_cloud_db(db_url)
    try:
        with TestClient(create_app(db_url, Recorder()), headers=admin) as client:
            w.build(cdb, client)
    finally:
        cdb.close()

    with (
        Served(create_app(db_url, Recorder())) as served,
        sync_playwright() as p,
        tempfile.TemporaryDirectory() as profile,
    ):
        browser = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1024, "height": 1366}, locale="zh-CN", accept_downloads=True,
        )  # fmt: skip
        try:
            page = browser.new_page()
            _sign_in(page, served.url, "boss")
            page.click("nav a[href='/members']")
            page.fill("#member-search input[name=q]", w.PHONE)
            page.click("#member-search button[type=submit]")
            page.wait_for_selector("#member-hits")
            assert "M1" in page.inner_text("#member-hits")
            page.click("#member-hits a[href='/members/M1']")
            page.wait_for_selector("#purchases")
            assert page.inner_text("#profile-phone") == w.PHONE
            purchases = page.inner_text("#purchases")
            # Sale 1: two lines, ¥45.00, rated 4/5; sale 2: ¥80.00.
            assert "S001-T01-0002" in purchases and "¥45.00" in purchases
            assert "SKU-2" in purchases and "4/5" in purchases and "¥80.00" in purchases
            ledger = page.inner_text("#ledger")
            assert "goodwill for the wait" in ledger and "退货扣回" in ledger
            # The page speaks one language and one clock: tier and reasons in Chinese, and
            # the ledger's times (stored naive) say UTC like the purchases' times do.
            assert page.inner_text("#profile-tier") == "普通会员" and "earn" not in ledger
            times = page.eval_on_selector_all(
                "#ledger tbody td:first-child", "c => c.map(x => x.innerText)"
            )
            assert times and all(t.endswith("UTC") for t in times), times
            assert page.inner_text("#points-balance") == "60"
            assert w.COMPLAINT in page.inner_text("#complaints")
            shot(page, "member-360")
            # HQ resolves the till's complaint from the page; who handled it shows at once.
            page.fill("#complaint-TC1 input[name=note]", "apologised by phone")
            page.click("#complaint-TC1 button[type=submit]")
            page.wait_for_function(
                "() => document.querySelector('#complaint-TC1').innerText.includes('boss')"
            )
            assert "apologised by phone" in page.inner_text("#complaint-TC1 .status")
            with page.expect_download() as download:
                page.click("#member-export")
            exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
            assert exported["member_id"] == "M1" and exported["profiles"][0]["phone"] == w.PHONE
            browser.clear_cookies()  # signed out

            _sign_in(page, served.url, "guide1")
            assert page.url.endswith("/members")  # a sales guide starts at member lookup
            page.fill("#member-search input[name=q]", w.CARD)
            page.click("#member-search button[type=submit]")
            page.wait_for_selector("#member-hits")
            page.click("#member-hits a[href='/members/M1']")
            page.wait_for_selector("#purchases")
            assert page.inner_text("#profile-phone") == w.MASKED
            assert w.PHONE not in page.content() and w.NAME not in page.content()
            assert page.query_selector("#member-export") is None
            # The guide writes a follow-up note and tags the member from the page.
            page.fill("#note-form textarea[name=text]", "asked about winter coats")
            page.click("#note-form button[type=submit]")
            page.wait_for_function(
                "() => document.querySelector('#note-list').innerText.includes('winter coats')"
            )
            page.fill("#tag-form input[name=tags]", "VIP 冬装")
            page.click("#tag-form button[type=submit]")
            page.wait_for_function(
                "() => document.querySelector('#tag-list').innerText.includes('冬装')"
            )
            assert "vip" in page.inner_text("#tag-list")
            assert "guide1" in page.inner_text("#note-list")
            shot(page, "member-360-guide")
        finally:
            browser.close()
