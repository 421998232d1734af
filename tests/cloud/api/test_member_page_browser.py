"""The member pages in headless Debian Chromium: search finds the member, the 360 shows its
purchases and points ledger, the export downloads; a sales guide sees the phone masked.
Screenshots go to var/hq-page/."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cloud.api import crm_world as w
from tests.cloud.api.access import token_for
from tests.cloud.api.browser import Site, chromium, shot, sign_in


def test_member_search_and_360_in_chromium(crm_site: Site) -> None:
    token_for(crm_site.db_url, "sales_guide", store_ids=["S001"], username="guide1")
    with chromium(accept_downloads=True) as browser:
        page = browser.new_page()
        sign_in(page, crm_site.url, "boss")
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

        sign_in(page, crm_site.url, "guide1")
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
