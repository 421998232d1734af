"""HQ's terminal list in a real browser: the registered certificate beside the one a till
presents, and a clear warning when the two differ (a copied store file, an unknown rotation)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cloud.api.app import create_app
from cloud.store.db import open_cloud_db
from tests.cloud.api.access import token_for
from tests.cloud.api.browser import Served, chromium, shot, sign_in
from tests.cloud.api.recorder import Recorder

REGISTERED_END = dt.datetime(2027, 1, 1)
#: terminal -> the end of the certificate its status says it presents.
PRESENTED = {"S001-T01": "2027-01-01T00:00:00Z", "S001-T02": "2029-03-10T08:00:00Z"}
ZH_WARNING = (
    "终端使用的是另一张证书（到期 2029-03-10 08:00:00 UTC，登记的证书到期 2027-01-01 "
    "00:00:00 UTC）：可能是复制的存储文件，或总部未获知的证书轮换"
)


def _fleet(db_url: str) -> None:
    """Two registered tills, each with the status ingest would have stored."""
    cdb = open_cloud_db(db_url)
    try:
        with cdb.write():
            for n, (tid, presented) in enumerate(PRESENTED.items()):
                cdb.hq.TerminalRegistration.create(
                    terminal_id=tid, store_id="S001", cert_sha256=f"{n:02x}" * 32,
                    cert_serial=f"7f3{n}", cert_valid_until=REGISTERED_END,
                    registered_at=dt.datetime(2026, 1, 1), registered_by="tech",
                )  # fmt: skip
                cdb.models.Terminal.insert(
                    terminal_id=tid, store_id="S001", online=True,
                    status={"online": True, "cert_not_after": presented},
                ).execute()  # fmt: skip
    finally:
        cdb.close()


def test_the_terminal_list_warns_of_a_till_presenting_another_certificate(
    tmp_path: Path,
) -> None:
    db_url = f"sqlite:///{tmp_path}/cloud.db"
    _fleet(db_url)
    token_for(db_url, "admin", username="boss")
    with Served(create_app(db_url, Recorder())) as served, chromium() as browser:
        page = browser.new_page()
        sign_in(page, served.url, "boss")
        page.goto(f"{served.url}/terminals")
        headers = page.locator("#terminals thead th").all_inner_texts()
        same = page.inner_text("tr#S001-T01 td.regcert")
        other = page.inner_text("tr#S001-T02 td.regcert")
        warning = page.locator("tr#S001-T02 td.regcert .mismatch")
        shown = warning.is_visible()
        shot(page, "terminals-certificate-mismatch-zh")
    assert "登记的证书" in headers
    assert "7f30" in same and "有效期至 2027-01-01" in same and "另一张证书" not in same
    assert "7f31" in other and ZH_WARNING in other
    assert shown
