"""Words a till or the change log sends (a printer state, a stream, a change's kind, a birthday
gift's kind) are said on the page by its own names for them, in Chinese and in English; a word
the catalogue has no name for (a newer till's) is shown as sent."""

from __future__ import annotations

import datetime as dt
import html
import re
import warnings
from pathlib import Path

from cloud.api.app import create_app
from cloud.api.pages import LANG_COOKIE
from cloud.store.db import open_cloud_db
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TAGS = re.compile(r"<[^>]+>")


def _text(page: str) -> str:
    """What a person reads: the markup gone, entities decoded, spaces folded."""
    return " ".join(html.unescape(TAGS.sub(" ", page)).split())


def _tills_report(url: str) -> None:
    """Two tills' last statuses, as ingest stores them: one out of paper, one with a printer
    state this HQ has no name for."""
    cdb = open_cloud_db(url)
    try:
        with cdb.write():
            cdb.models.Terminal.insert_many([
                {"terminal_id": "S001-T01", "store_id": "S001", "printer": "paper_out",
                 "status": {"stream_versions": {"catalogue": 1, "staff": 2}}},
                {"terminal_id": "S001-T02", "store_id": "S001", "printer": "jammed",
                 "status": {"stream_versions": {"gadgets": 3}}},
            ]).execute()  # fmt: skip
    finally:
        cdb.close()


def _birthday_gift(url: str, member_id: str, on: dt.date) -> None:
    cdb = open_cloud_db(url)
    try:
        with cdb.write():
            cdb.segments.BirthdayGift.insert(
                member_id=member_id, year=on.year, birthday_on=on, tier="regular",
                kind="points", value=200, issued_at=dt.datetime.now(dt.UTC),
            ).execute()  # fmt: skip
    finally:
        cdb.close()


def test_terminals_pushes_and_birthdays_say_wire_words_in_the_pages_language(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    admin = bearer(token_for(url))
    _tills_report(url)
    with TestClient(create_app(url, Recorder()), headers=admin) as client:
        item = {"sku": "A1", "name_zh": "商品", "name_en": "item", "price_fen": 100}
        for kind, items in (("upsert", [item]), ("delete", [{"sku": "A1"}])):
            sent = client.post("/api/push/catalogue", json={"scope": "S001", "kind": kind,
                                                             "items": items})  # fmt: skip
            assert sent.status_code == 200, sent.text
        # A member whose birthday is in the store's coming days, given the points gift.
        on = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
        on += dt.timedelta(days=1) if (on.month, on.day) == (2, 29) else dt.timedelta()
        born = dt.date(1990, on.month, on.day)
        made = client.post("/api/members", json={"member_id": "B1", "phone": "13800000001",
                                                 "birthday": born.isoformat()})  # fmt: skip
        assert made.status_code == 201, made.text
        _birthday_gift(url, "B1", on)
        read = {}
        for lang in ("zh_CN", "en"):
            client.cookies.set(LANG_COOKIE, lang)
            read[lang] = {
                path: _text(client.get(path).text)
                for path in ("/terminals", "/pushes/history", "/segments?days=30")
            }
    zh, en = read["zh_CN"], read["en"]
    assert "缺纸" in zh["/terminals"] and "paper_out" not in zh["/terminals"]
    assert "商品目录 v1, 员工 v2" in zh["/terminals"]
    assert "catalogue v1" not in zh["/terminals"]
    # A word this HQ does not know is shown as the till sent it, in either language.
    assert "jammed" in zh["/terminals"] and "gadgets v3" in zh["/terminals"]
    assert "out of paper" in en["/terminals"] and "catalogue v1, staff v2" in en["/terminals"]
    assert "新增或修改" in zh["/pushes/history"] and "删除" in zh["/pushes/history"]
    assert "upsert" not in zh["/pushes/history"] and "delete" not in zh["/pushes/history"]
    assert "add or change" in en["/pushes/history"] and "remove" in en["/pushes/history"]
    assert "积分 200" in zh["/segments?days=30"], zh["/segments?days=30"]
    assert "points 200" in en["/segments?days=30"]
