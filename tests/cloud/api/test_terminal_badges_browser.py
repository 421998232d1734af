"""HQ's terminal list at a laptop's and a tablet's width in a real browser: each status badge
(已登记, 在线) stays on one line, and the wide table scrolls inside its box, not the page."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud.api.app import create_app
from tests.cloud.api.access import token_for
from tests.cloud.api.browser import Served, chromium, shot, sign_in
from tests.cloud.api.recorder import Recorder
from tests.cloud.api.test_terminal_cert_browser import _fleet

#: For each badge: its text, its height and its line height, in CSS pixels.
MEASURE = """els => els.map(e => {
  const s = getComputedStyle(e);
  return [e.innerText, e.getBoundingClientRect().height, parseFloat(s.lineHeight)];
})"""


@pytest.mark.parametrize("width", [1280, 1024])
def test_status_badges_stay_on_one_line(tmp_path: Path, width: int) -> None:
    db_url = f"sqlite:///{tmp_path}/cloud.db"
    _fleet(db_url)
    token_for(db_url, "admin", username="boss")
    viewport = {"width": width, "height": 900}
    with Served(create_app(db_url, Recorder())) as served, chromium(viewport=viewport) as browser:
        page = browser.new_page()
        sign_in(page, served.url, "boss")
        page.goto(f"{served.url}/terminals")
        badges = page.eval_on_selector_all("#terminals td > span.tag", MEASURE)
        box = page.eval_on_selector(
            "#terminals", "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]"
        )
        page_width = page.evaluate("() => document.documentElement.scrollWidth")
        shot(page, f"terminals-badges-{width}")
    texts = [text for text, _h, _lh in badges]
    assert texts.count("已登记") == 2 and texts.count("在线") == 2, texts
    for text, height, line in badges:
        # One line of text plus the badge's padding: well under two lines.
        assert height < 1.6 * line, (text, height, line)
    assert page_width <= width  # the page itself never scrolls sideways
    assert box[0] >= box[1]  # the table's box holds it, scrolling when it is wider
