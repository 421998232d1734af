"""The HQ page when things go wrong, in headless Debian Chromium: a session that ends while the
page is open sends the next click to sign in and back, a refused htmx request says why on the
page in the page's language (Chinese, then English), a sign-in form with an over-long password
answers in the form, the navigation names the members page as such, and Back after signing
out shows nothing from the cache. Screenshots go to var/hq-page/."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cloud.store.db import open_cloud_db
from tests.cloud.api import crm_world as w
from tests.cloud.api.browser import PHONE, Site, chromium, fill_sign_in, shot


def _refuse_tag_and_note(page: Any) -> tuple[str, str]:
    """Send an over-long tag (the form's own limit taken off), then a note of only spaces;
    what the page says for each (the alert of a refused request goes with the next answer)."""
    page.eval_on_selector("#tag-form input[name=tags]", "e => e.removeAttribute('maxlength')")
    page.fill("#tag-form input[name=tags]", "t" * 401)
    page.click("#tag-form button[type=submit]")
    page.wait_for_selector("#request-error")
    tag = page.inner_text("#request-error")
    page.fill("#note-form textarea[name=text]", "   ")
    page.click("#note-form button[type=submit]")
    page.wait_for_selector("#follow-up .error")
    return tag, page.inner_text("#follow-up .error")


def _end_every_session(db_url: str) -> None:
    """What 12 hours, or a sign-out in another window, does to the sessions."""
    cdb = open_cloud_db(db_url)
    try:
        s = cdb.hq.HqSession
        with cdb.write():
            s.update(expires_at=dt.datetime(2000, 1, 1)).execute()
    finally:
        cdb.close()


def test_page_errors_in_chromium(crm_site: Site) -> None:
    db_url = crm_site.db_url
    with chromium(viewport=PHONE) as browser:
        page = browser.new_page()
        # An over-long password (a paste gone wrong) gets the form back with a message.
        page.goto(f"{crm_site.url}/login")
        page.fill("input[name=username]", "boss")
        page.fill("input[name=password]", "x" * 300)
        page.click("button[type=submit]")
        page.wait_for_selector(".login .error")
        assert "200" in page.inner_text(".login .error")
        assert page.query_selector("input[name=password]") is not None
        fill_sign_in(page, "boss")
        assert page.inner_text("nav a[href='/members']") == "会员"
        # On a phone a chain's eight-figure total stays inside its card.
        page.eval_on_selector("#kpi-sales", "e => e.textContent = '¥12,345,678.90'")
        right = page.eval_on_selector(
            "#kpi-sales",
            "e => [e, e.parentElement].map(x => Math.round(x.getBoundingClientRect().right))",
        )
        assert right[0] <= right[1], right

        page.goto(f"{crm_site.url}/members/M1")
        page.wait_for_selector("#tag-form")
        # A refused request says so on the page, in the page's language, instead of doing
        # nothing: a field the server refuses, and a rule of the member records.
        assert _refuse_tag_and_note(page) == ("未完成： 标签：最多 400 个字符", "备注不能为空")
        shot(page, "errors-1-refused-tag")
        page.click("a.lang")  # the same refusals in English
        page.wait_for_selector("#tag-form")
        assert _refuse_tag_and_note(page) == (
            "Not done: Tags: String should have at most 400 characters",
            "a note needs some text",
        )
        shot(page, "errors-1b-refused-tag-en")

        # The session ends while the page is open: the next click leads to sign in, and
        # signing in comes back to the same member.
        _end_every_session(db_url)
        page.fill("#tag-form input[name=tags]", "winter")
        page.click("#tag-form button[type=submit]")
        page.wait_for_url("**/login?next=%2Fmembers%2FM1", timeout=30_000)
        shot(page, "errors-2-session-ended")
        fill_sign_in(page, "boss")
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
