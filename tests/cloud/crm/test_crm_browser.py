"""The segments and campaigns pages in headless Debian Chromium: the segment chart draws with
the scored data, and a campaign made on the page downloads as CSV without opted-out members.

Screenshots go to var/hq-page/ beside the other page tests'.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from cloud.api.app import create_app
from cloud.store.db import open_cloud_db
from tests.cloud.api.access import token_for
from tests.cloud.api.browser import Served, chromium, shot, sign_in
from tests.cloud.api.recorder import Recorder
from tests.cloud.crm import dataset
from tests.cloud.jobs.helpers import day, run


def test_segment_chart_and_campaign_download_in_chromium(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cloud.db"
    token_for(url, "admin", username="boss")
    cdb = open_cloud_db(url)
    try:
        till = dataset.load(cdb)
        m = cdb.models.Member
        m.update(opt_out_sms=True).where(m.member_id == "C").execute()  # at-risk, opted out
        run(cdb, "rfm_segments", day(dataset.SCORED_ON))
        till.sale("D", 100, day(123))
        run(cdb, "rfm_segments", day(124))  # D moves at-risk -> regular, B regular -> at-risk
    finally:
        cdb.close()

    with (
        Served(create_app(url, Recorder())) as served,
        chromium(viewport={"width": 1280, "height": 1600}, accept_downloads=True) as browser,
    ):
        page = browser.new_page()
        sign_in(page, served.url, "boss")
        page.click("nav >> text=客户细分")
        page.wait_for_function(
            "() => document.querySelector('#segment-chart').dataset.drawn === '1'"
        )
        # ECharts drew into a canvas of real size: the chart is there, not an empty div.
        size = page.eval_on_selector("#segment-chart canvas", "c => [c.width, c.height]")
        assert size[0] > 100 and size[1] > 100, size
        table = page.inner_text("#segment-table")
        # As of day 124: A high-value; B, C at-risk; D regular; E new; F one-off.
        rows = {line.split("\t")[0]: line.split("\t")[1] for line in table.splitlines()[1:]}
        assert rows == {"新客": "1", "常客": "1", "高价值": "1", "流失风险/沉睡": "2",
                        "一次性顾客": "1"}  # fmt: skip
        moves = page.inner_text("#moves")
        assert "流失风险/沉睡" in moves and "五分位" in page.inner_text("#method")
        shot(page, "crm-1-segments")
        # One member's behaviour: A bought SKU-1 (grocery) at noon every 30 days.
        page.fill("#behaviour-member", "A")
        page.click("#behaviour-card button")
        page.wait_for_selector("#behaviour")
        behaviour = page.inner_text("#behaviour")
        assert "30.0" in behaviour and "12:00" in behaviour and "grocery" in behaviour

        page.click("nav >> text=营销活动")
        page.fill("#campaign-name", "回归礼")
        page.select_option("#campaign-segment", "at-risk")
        page.click("#campaign-add")
        page.wait_for_selector("#campaigns >> text=回归礼")
        shot(page, "crm-2-campaigns")
        with page.expect_download() as info:
            page.click("#campaigns tr:has-text('回归礼') >> text=CSV")
        download = info.value
        data = Path(download.path()).read_bytes().decode("utf-8-sig")
        got = list(csv.DictReader(io.StringIO(data)))
        # At-risk now: B and C; C opted out, so only B, with the full phone (admin).
        assert [(r["member_id"], r["phone"]) for r in got] == [("B", dataset.PHONES["B"])]
        assert "回归礼" in got[0]["text"]
        # Queued for the gateway from the page: B only (C opted out).
        page.click("#campaigns tr:has-text('回归礼') >> text=加入短信/微信发送队列")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#campaigns td')]"
            ".some(td => td.innerText.trim() === '1' && td.previousElementSibling"
            " && td.previousElementSibling.innerText.trim() === '1')"
        )  # recipients 1, queued 1
