"""The HQ page when things go wrong, in headless Debian Chromium: a session that ends while the
page is open sends the next click to sign in and back, a refused htmx request says why on the
page, a sign-in form with an over-long password answers in the form, the navigation names
the members page as such, and Back after signing out shows nothing from the cache.
Screenshots go to var/hq-page/."""

from __future__ import annotations

import datetime as dt
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


def _sign_in(page: Any, username: str) -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#who")


def _end_every_session(db_url: str) -> None:
    """What 12 hours, or a sign-out in another window, does to the sessions."""
    cdb = open_cloud_db(db_url)
    try:
        s = cdb.hq.HqSession
        with cdb.write():
            s.update(expires_at=dt.datetime(2000, 1, 1)).execute()
    finally:
        cdb.close()


def test_page_errors_in_chromium(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: `make system` installs it (APT_PACKAGES)")
    from playwright.sync_api import sync_playwright

    db_url = f"sqlite:///{tmp_path}/cloud.db"
    admin = bearer(token_for(db_url, "admin", username="boss"))
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
            viewport={"width": 390, "height": 844}, locale="zh-CN",
        )  # fmt: skip
        try:
            page = browser.new_page()
            # An over-long password (a paste gone wrong) gets the form back with a message.
            page.goto(f"{served.url}/login")
            page.fill("input[name=username]", "boss")
            page.fill("input[name=password]", "x" * 300)
            page.click("button[type=submit]")
            page.wait_for_selector(".login .error")
            assert "200" in page.inner_text(".login .error")
            assert page.query_selector("input[name=password]") is not None
            _sign_in(page, "boss")
            assert page.inner_text("nav a[href='/members']") == "会员"
            # On a phone a chain's eight-figure total stays inside its card.
            page.eval_on_selector("#kpi-sales", "e => e.textContent = '¥12,345,678.90'")
            right = page.eval_on_selector(
                "#kpi-sales",
                "e => [e, e.parentElement].map(x => Math.round(x.getBoundingClientRect().right))",
            )
            assert right[0] <= right[1], right

            page.goto(f"{served.url}/members/M1")
            page.wait_for_selector("#tag-form")
            # A refused request says so on the page instead of doing nothing.
            page.eval_on_selector(
                "#tag-form input[name=tags]", "e => e.removeAttribute('maxlength')"
            )
            page.fill("#tag-form input[name=tags]", "t" * 401)
            page.click("#tag-form button[type=submit]")
            page.wait_for_selector("#request-error")
            refused = page.inner_text("#request-error")
            assert refused.startswith("未完成") and "tags" in refused and "400" in refused
            shot(page, "errors-1-refused-tag")

            # The session ends while the page is open: the next click leads to sign in, and
            # signing in comes back to the same member.
            _end_every_session(db_url)
            page.fill("#tag-form input[name=tags]", "winter")
            page.click("#tag-form button[type=submit]")
            page.wait_for_url("**/login?next=%2Fmembers%2FM1", timeout=30_000)
            shot(page, "errors-2-session-ended")
            _sign_in(page, "boss")
            assert page.url.endswith("/members/M1")
            page.fill("#tag-form input[name=tags]", "winter")
            page.click("#tag-form button[type=submit]")
            page.wait_for_function(
                "() => document.querySelector('#tag-list').innerText.includes('winter')"
            )
            assert page.query_selector("#request-error") is None  # a success clears the alert

            # Signed out, the Back button shows no member's data from the browser's cache.
            assert w.PHONE in page.inner_text("#profile-phone")
            page.click("button[hx-post='/logout']")
            page.wait_for_url("**/login")
            page.go_back()
            page.wait_for_url("**/login?next=%2Fmembers%2FM1")
            assert w.PHONE not in page.content()
        finally:
            browser.close()
