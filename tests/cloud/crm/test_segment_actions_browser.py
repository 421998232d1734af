"""The segments and campaigns pages act, in headless Debian Chromium: the admin scores members
now from the segments page and sees the run; marketing edits a message template on the
campaigns page and sees the API's refusal of a bad one in the page's language. Roles without
the right see neither control."""

from __future__ import annotations

from pathlib import Path

from cloud.api.app import create_app
from cloud.store import engagement
from cloud.store.db import open_cloud_db
from tests.cloud.api.access import token_for
from tests.cloud.api.browser import Served, chromium, shot, sign_in
from tests.cloud.api.recorder import Recorder
from tests.cloud.crm import dataset

TEMPLATE = "#template-campaign_notice-zh_CN"


def test_scoring_now_and_editing_a_template_from_the_pages(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cloud.db"
    for role, name in (("admin", "boss"), ("marketing", "mk"), ("analyst", "an")):
        token_for(url, role, username=name)
    cdb = open_cloud_db(url)
    try:
        dataset.load(cdb)
    finally:
        cdb.close()

    with (
        Served(create_app(url, Recorder())) as served,
        chromium(viewport={"width": 1280, "height": 1200}) as browser,
    ):
        page = browser.new_page()
        sign_in(page, served.url, "boss")
        page.goto(f"{served.url}/segments")
        assert page.inner_text("#rfm-last-run") == "该任务尚未运行。"
        assert "/api/jobs" not in page.inner_text(
            "#method"
        )  # no instruction the reader can't act on
        page.click("#rfm-run")
        page.wait_for_function(
            "() => document.querySelector('#rfm-last-run').innerText.includes('已完成')"
        )
        assert "boss" in page.inner_text("#rfm-last-run")
        assert "6" in page.inner_text("#method")  # scored: six members
        shot(page, "crm-segments-run-now")
        browser.clear_cookies()

        sign_in(page, served.url, "mk")
        page.goto(f"{served.url}/segments")
        assert page.query_selector("#rfm-run") is None  # marketing may not run jobs
        page.goto(f"{served.url}/campaigns")
        assert "PUT /api" not in page.inner_text("main")
        page.fill(f"{TEMPLATE} textarea", "{nmae}，春季活动开始了")
        page.click(f"{TEMPLATE} button")
        page.wait_for_selector("#request-error")
        assert "未知的占位符 nmae" in page.inner_text("#request-error")
        assert page.is_hidden(f"{TEMPLATE} .saved")
        page.fill(f"{TEMPLATE} textarea", "{name}，春季活动开始了")
        page.click(f"{TEMPLATE} button")
        page.wait_for_selector(f"{TEMPLATE} .saved", state="visible")
        assert page.query_selector("#request-error") is None
        shot(page, "crm-campaigns-template-edit")
        page.reload()
        assert page.input_value(f"{TEMPLATE} textarea") == "{name}，春季活动开始了"
        browser.clear_cookies()

        sign_in(page, served.url, "an")
        page.goto(f"{served.url}/campaigns")
        assert page.query_selector(".template-form") is None  # analysts read templates only
        assert "春季活动开始了" in page.inner_text("#templates")
        page.goto(f"{served.url}/segments")
        assert page.query_selector("#rfm-run") is None

    cdb = open_cloud_db(url)
    try:
        saved = {(t["kind"], t["lang"]): t for t in engagement.templates(cdb)}
        assert saved[("campaign_notice", "zh_CN")]["updated_by"] == "mk"
    finally:
        cdb.close()
