"""The demo at HQ reads as one Chinese store: its name, categories and members' opening notes
are the ones its receipts and the Chinese page use, and the store picker names a store once."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from cloud.api.app import create_app
from cloud.api.i18n import store_label
from cloud.api.pages import LANG_COOKIE
from cloud.store import stores
from cloud.store.db import open_cloud_db
from device.config import TerminalSection
from provisioning import demo_data
from provisioning.demo import STORE_ID, STORE_NAME, STORE_NAME_EN, hq_logins
from tests.cloud.api.recorder import Recorder

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CJK = re.compile(r"[\u4e00-\u9fff]")


def test_the_demo_catalogue_has_one_chinese_category_per_product() -> None:
    for row in demo_data.products():
        assert row["category"] == row["category_zh"] and CJK.search(str(row["category"])), row


def test_the_demo_store_is_named_at_hq_as_on_its_receipts_and_its_notes_are_chinese(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    # A demo made before: its store was "Demo store S001".
    cdb = open_cloud_db(url)
    with cdb.write():
        stores.put_store(cdb, STORE_ID, f"Demo store {STORE_ID}", "Asia/Shanghai", 4)
        stores.put_store(cdb, "S002", "S002 徐汇店", "Asia/Shanghai", 0)  # its id in its name
    cdb.close()
    logins = hq_logins(tmp_path, url)
    admin = next(x.token for x in logins if x.username == "admin")
    # The till's receipts say the same (the demo's `terminal add --store-name` gives it).
    till = TerminalSection(store_id=STORE_ID, terminal_id=f"{STORE_ID}-T01")
    assert (till.store_name, till.store_name_en) == (STORE_NAME, STORE_NAME_EN)
    people = demo_data.members(3)
    headers = {"Authorization": f"Bearer {admin}"}
    with TestClient(create_app(url, Recorder()), headers=headers) as client:
        done = client.post("/api/members/import", json={"home_store": STORE_ID, "members": people})
        assert done.status_code == 200, done.text
        [store] = [s for s in client.get("/api/stores").json() if s["store_id"] == STORE_ID]
        assert (store["name"], store["day_start_hour"]) == (STORE_NAME, 4)
        client.cookies.set(LANG_COOKIE, "zh_CN")
        member = client.get(f"/members/{people[0]['member_id']}").text
        assert "期初余额" in member and "opening balance" not in member
        for page in ("/reports", "/users"):
            text = client.get(page).text
            assert f">{STORE_ID} {STORE_NAME}</option>" in text, page
            assert ">S002 徐汇店</option>" in text and "S002 S002" not in text, page
            assert "Demo store" not in text
        client.cookies.set(LANG_COOKIE, "en")
        assert "opening balance" in client.get(f"/members/{people[0]['member_id']}").text


def test_the_picker_names_a_store_id_once() -> None:
    assert store_label("S001", "便利超市") == "S001 便利超市"
    assert store_label("S001", "Demo store S001") == "Demo store S001"
    assert store_label("S002", "") == "S002"
    assert store_label("S003", "S0031 outlet") == "S003 S0031 outlet"
