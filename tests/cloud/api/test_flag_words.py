"""Wire words inside a flag's sentence (an event type, a tier, a decoding error's kind) are said
by the page's own names for them on the Chinese terminals page, and a library's error text
follows a sentence saying the detail comes, escaped; the English page says what it said."""

from __future__ import annotations

import html
import typing
import warnings
from pathlib import Path

import msgspec

from cloud.api import i18n
from cloud.api.app import create_app
from cloud.api.pages import LANG_COOKIE
from cloud.api.problems import WORDS
from cloud.ingest.decode import Rejection, decode_events_message
from cloud.store.apply import reject_payload
from cloud.store.db import open_cloud_db
from protocol import bodies, errors
from protocol.topics import events_topic
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.factories import batch_payload, envelope, ingest_batch, registration_body

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _flag(url: str) -> None:
    """A till registering a gold member, one adjusting points itself, and a batch with a field
    no batch has, each through ingest's own code."""
    gold = {**registration_body("M9", "13800000009"), "tier": "gold"}
    ingest_batch(url, [envelope("S001-T01", 1, gold, event_type="member_registered")])
    adjustment = {"member_id": "M7", "delta": 100, "reason": "adjust"}
    ingest_batch(url, [envelope("S001-T02", 1, adjustment, event_type="points_adjustment")])
    topic = events_topic("S001", "S001-T03")
    batch = msgspec.json.decode(batch_payload([envelope("S001-T03", 1, gold)]))
    payload = msgspec.json.encode({**batch, "<b>x</b>": 1})
    rejected = decode_events_message(topic, payload)
    assert isinstance(rejected, Rejection)
    cdb = open_cloud_db(url)
    try:
        with cdb.write():
            reject_payload(cdb, topic=topic, store_id="S001", terminal_id="S001-T03",
                           claimed_terminal_id="", reason=rejected.reason, seqs=[],
                           payload=payload)  # fmt: skip
    finally:
        cdb.close()


def test_wire_words_in_a_flag_are_said_by_the_pages_names(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    _flag(url)
    pages = {}
    with TestClient(create_app(url, Recorder()), headers=bearer(token_for(url))) as client:
        listed = {t["terminal_id"]: t for t in client.get("/api/terminals").json()}
        for language in ("zh_CN", "en"):
            client.cookies.set(LANG_COOKIE, language)
            pages[language] = client.get("/terminals").text

    def flag_on(language: str, tid: str) -> str:
        row = pages[language].split(f'<tr id="{tid}"')[1].split("</tr>")[0]
        return row.split('class="tag bad flag" title="')[1].split('"')[0]

    zh, en = flag_on("zh_CN", "S001-T01"), flag_on("en", "S001-T01")
    assert "不合理的会员注册，序号 1：新会员注册时即为金卡会员" in zh, zh
    assert "gold" not in zh and "member_registered" not in zh
    assert en == "implausible member_registered seq 1: new member registered as gold"
    assert en == listed["S001-T01"]["flag_reason"]  # the JSON API keeps the English
    zh, en = flag_on("zh_CN", "S001-T02"), flag_on("en", "S001-T02")
    assert zh.startswith("不合理的积分调整，序号 1：终端发送了") and "points_adjustment" not in zh
    assert en.startswith("implausible points_adjustment seq 1: points adjustment of 100")
    # A library's words cannot be translated: the sentence says they follow, escaped.
    zh, en = flag_on("zh_CN", "S001-T03"), flag_on("en", "S001-T03")
    detail = "Object contains unknown field &lt;b&gt;x&lt;/b&gt;"
    assert zh == f"同步出错（内容格式不符）。详情（原文）：{detail}", zh
    assert en == f"SchemaError: {detail}" == html.escape(listed["S001-T03"]["flag_reason"])


def test_every_wire_word_has_a_name_in_both_catalogues() -> None:
    """A tier, event type, tender, points reason or decoding error the page cannot name would
    show in English on the Chinese page; the English names are the wire words, as before."""
    values = {
        "event_type.": set(bodies.EVENT_TYPES),
        "tier.": set(typing.get_args(bodies.TierName)),
        "tender.": set(typing.get_args(bodies.TenderKindName)),
        "points_reason.": set(typing.get_args(bodies.PointsReasonName)),
        "error_kind.": {
            kind.__name__ for kind in vars(errors).values()
            if isinstance(kind, type) and issubclass(kind, errors.ProtocolError)
            and kind is not errors.ProtocolError
        },
    }  # fmt: skip
    assert set(WORDS.values()) == set(values)
    catalogues = i18n.load_all()
    for prefix, words in values.items():
        for word in words:
            chinese = catalogues["zh_CN"].get(prefix + word)
            assert chinese and chinese != word, prefix + word
            assert catalogues["en"].get(prefix + word), prefix + word
            if prefix in ("event_type.", "tier.", "error_kind."):
                assert catalogues["en"][prefix + word] == word
