"""Why the cloud flagged a terminal shows on HQ's terminal list in the page's language: flags
made by ingest's own code on a real SQLite file (an implausible sale, a restored store file's
hello, an unreadable payload), and a flag stored before flags had ids, in English as stored.
A held event's reason and a till's reason for a new epoch are said inside the flag's sentence,
while the JSON API keeps their English."""

from __future__ import annotations

import datetime as dt
import html
import json
import sqlite3
import typing
import warnings
from pathlib import Path
from typing import Any

from cloud.api import i18n
from cloud.api.app import create_app
from cloud.api.pages import LANG_COOKIE
from cloud.domain.flags import FLAGS, Flag
from cloud.domain.implausible import REASONS
from cloud.ingest.decode import Rejection, decode_events_message
from cloud.store.apply import flag_terminal, reject_payload
from cloud.store.db import SCHEMA_VERSION, open_cloud_db, utcnow
from cloud.store.terminals import hello_problem, terminal_state
from protocol.bodies import EpochStartedBody
from protocol.codec import encode_envelope
from protocol.envelope import Envelope, Hello
from protocol.problems import placeholders
from protocol.topics import events_topic
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.factories import (
    envelope,
    ingest_batch,
    no_receipt_return_body,
    registration_body,
    sale_body,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

OLD_REASON = "seq 7 already holds event <b>x</b>: a restored or copied store file?"
SAYS = {  # terminal -> (what the Chinese page says, what the English one says)
    "S001-T01": ("不合理的销售，序号 1：", "implausible sale seq 1: "),
    "S001-T02": ("存储文件是从旧副本恢复的：它只写到序号 1，云端已有到 3；在技术员开始新纪元之前",
                 "store file restored from an older copy: it has written up to seq 1, the "
                 "cloud holds up to 3"),
    "S001-T03": ("同步出错（", "MalformedPayload: "),
    # Stored before flags had ids: the English, escaped, in both languages.
    "S001-T04": ("seq 7 already holds event &lt;b&gt;x&lt;/b&gt;",) * 2,
}  # fmt: skip


def _old_database(path: Path) -> None:
    """A cloud database from before flag ids (schema v3), one terminal flagged in English."""
    url = f"sqlite:///{path}"
    open_cloud_db(url).close()
    con = sqlite3.connect(path)
    con.execute("ALTER TABLE terminals DROP COLUMN flag_message")
    con.execute("ALTER TABLE terminals DROP COLUMN receipt_mark")  # added by v5
    con.execute("UPDATE schema_meta SET value = '3' WHERE key = 'version'")
    con.execute(
        "INSERT INTO terminals (terminal_id, store_id, high_water, max_seq, online, "
        "flagged, flag_reason, epoch, epoch_since, carry_after, carry_from, carry_to) "
        "VALUES ('S001-T04', 'S001', 0, 0, 0, 1, ?, '', 1, 0, 0, 0)",
        (OLD_REASON,),
    )
    con.commit()
    con.close()


def _flag_all(url: str) -> None:
    implausible = sale_body([("A", 1, 100)])
    implausible["total_fen"] += 1  # the lines do not add up to it: held for HQ
    ingest_batch(url, [envelope("S001-T01", 1, implausible)])
    ingest_batch(url, [envelope("S001-T02", n, sale_body([("A", 1, 100)])) for n in (1, 2, 3)])
    cdb = open_cloud_db(url)
    try:
        with cdb.write():  # what ingest does with a hello from a store file restored from a copy
            hello = Hello(terminal_id="S001-T02", store_id="S001", epoch="", last_seq=1,
                          acked_seq=1, nonce="ab")  # fmt: skip
            problem = hello_problem(hello, terminal_state(cdb, "S001-T02"))
            flag_terminal(cdb, "S001-T02", "S001", problem, utcnow())
        topic = events_topic("S001", "S001-T03")
        rejected = decode_events_message(topic, b"{not json")
        assert isinstance(rejected, Rejection)
        reject_payload(cdb, topic=topic, store_id="S001", terminal_id="S001-T03",
                       claimed_terminal_id="", reason=rejected.reason, seqs=[],
                       payload=b"{not json")  # fmt: skip
    finally:
        cdb.close()


def test_flags_are_said_in_the_pages_language_and_old_ones_in_english(tmp_path: Path) -> None:
    path = tmp_path / "cloud.db"
    _old_database(path)
    url = f"sqlite:///{path}"
    _flag_all(url)  # opening it brings the schema to the current version
    with TestClient(create_app(url, Recorder()), headers=bearer(token_for(url))) as client:
        assert client.get("/api/health").json()["schema_version"] == SCHEMA_VERSION
        listed = {t["terminal_id"]: t for t in client.get("/api/terminals").json()}
        pages = {}
        for language in ("zh_CN", "en"):
            client.cookies.set(LANG_COOKIE, language)
            pages[language] = client.get("/terminals").text
    assert listed["S001-T01"]["flag_message"]["id"] == "event.implausible"
    assert listed["S001-T02"]["flag_message"]["id"] == "hello.restored"
    assert listed["S001-T03"]["flag_message"]["id"] == "payload.unreadable"
    assert listed["S001-T04"]["flag_message"] is None
    assert listed["S001-T04"]["flag_reason"] == OLD_REASON  # the JSON API keeps the English
    assert listed["S001-T02"]["flag_reason"].startswith(SAYS["S001-T02"][1])
    for tid, (zh, en) in SAYS.items():
        for language, says in (("zh_CN", zh), ("en", en)):
            row = pages[language].split(f'<tr id="{tid}"')[1].split("</tr>")[0]
            flag = row.split('class="tag bad flag"')[1]
            assert says in flag, (tid, language, row)
    zh_flags = "".join(p.split("</span>")[0] for p in pages["zh_CN"].split('"tag bad flag"')[1:4])
    assert "implausible" not in zh_flags and "restored" not in zh_flags


OLD, NEW = "0000aaaaaaaaaaaa", "0001bbbbbbbbbbbb"
OLD_PLAUSIBILITY_REASON = "total 101 is not the lines' net 100"
#: terminal -> (reason id, the Chinese and the English the terminals page says of it)
REASON_SAYS = {
    "S001-T11": ("implausible.sale_total", "总额 101 不等于各行净额 100",
                 "total 101 is not the lines' net 100"),
    "S001-T12": ("implausible.points_earned", "获得 50 积分；按规则应为 5",
                 "50 points earned; the rules give 5"),
    "S001-T13": ("implausible.till_adjustment", "终端发送了为 'M7' 调整 100 积分的记录",
                 "points adjustment of 100 for 'M7' sent by a till"),
    "S001-T14": ("implausible.new_points", "新会员已有 500 积分",
                 "new member with 500 points"),
    "S001-T15": ("implausible.time_future",
                 "设备时间 2099-01-01T00:00:00+00:00 晚于云端接收时间",
                 "device time 2099-01-01T00:00:00+00:00 is after the cloud's receive time"),
    "S001-T16": ("implausible.no_receipt_manager", "无小票退货需要店长授权",
                 "a return without receipt needs a manager"),
}  # fmt: skip


def _in_epoch(env: Envelope, epoch: str) -> Envelope:
    return Envelope(**{**json.loads(encode_envelope(env)), "epoch": epoch})


def _hold_and_start_epoch(url: str) -> None:
    """One implausible event of each kind through ingest, each on its own terminal, and a
    store file's repair (a new epoch, reason "restored") on another."""
    total = sale_body([("A", 1, 100)])
    total["total_fen"] += 1
    registered = {**registration_body("M9", "13800000009"), "points_balance": 500}
    adjustment = {"member_id": "M7", "delta": 100, "reason": "adjust"}
    events: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
        "S001-T11": (total, "sale", {}),
        "S001-T12": (sale_body([("A", 1, 5000)], member_id="M1", earn=50), "sale", {}),
        "S001-T13": (adjustment, "points_adjustment", {}),
        "S001-T14": (registered, "member_registered", {}),
        "S001-T15": (sale_body([("A", 1, 100)]), "sale",
                     {"time": dt.datetime(2099, 1, 1, tzinfo=dt.UTC)}),
        "S001-T16": (no_receipt_return_body(30_000), "return", {}),
    }  # fmt: skip
    for tid, (body, kind, extra) in events.items():
        ingest_batch(url, [envelope(tid, 1, body, event_type=kind, **extra)])
    sales = [_in_epoch(envelope("S001-T17", n, sale_body([("A", 1, 100)])), OLD) for n in (1, 2)]
    start = {"epoch": NEW, "previous_epoch": OLD, "reason": "restored", "cloud_high_water": 2,
             "cloud_max_seq": 2, "carried_after_seq": 2, "carried": 0,
             "device_time": "2026-11-23T06:30:00Z"}  # fmt: skip
    ingest_batch(url, sales)
    ingest_batch(url, [_in_epoch(envelope("S001-T17", 3, start, event_type="epoch_started"), NEW)])
    cdb = open_cloud_db(url)
    try:
        with cdb.write():  # a flag stored before reasons had ids: the reason is English text
            old = Flag("event.implausible", type="sale", seq=1, reason=OLD_PLAUSIBILITY_REASON)
            flag_terminal(cdb, "S001-T18", "S001", old, utcnow())
    finally:
        cdb.close()


def test_held_events_reasons_and_an_epochs_reason_are_said_in_the_pages_language(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    _hold_and_start_epoch(url)
    with TestClient(create_app(url, Recorder()), headers=bearer(token_for(url))) as client:
        listed = {t["terminal_id"]: t for t in client.get("/api/terminals").json()}
        held = {h["terminal_id"]: h for h in client.get("/api/integrity/held").json()}
        pages = {}
        for language in ("zh_CN", "en"):
            client.cookies.set(LANG_COOKIE, language)
            pages[language] = client.get("/terminals").text

    def flag_on(language: str, tid: str) -> str:
        row = pages[language].split(f'<tr id="{tid}"')[1].split("</tr>")[0]
        return html.unescape(row.split('class="tag bad flag"')[1].split("</span>")[0])

    for tid, (msg_id, zh, en) in REASON_SAYS.items():
        # The JSON API and the held list keep the English, in the shape they had.
        assert listed[tid]["flag_reason"].startswith(f"implausible {held[tid]['type']} seq 1: {en}")
        assert all(type(r) is str for r in held[tid]["reasons"]) and held[tid]["reasons"][0]
        assert held[tid]["reasons"][0].startswith(en), held[tid]
        assert listed[tid]["flag_message"]["args"]["reason"]["id"] == msg_id
        assert zh in flag_on("zh_CN", tid) and en not in flag_on("zh_CN", tid), tid
        assert en in flag_on("en", tid), tid
    assert listed["S001-T17"]["flag_reason"].startswith(
        f"store file epoch {NEW} started at seq 3 (restored); "
    )
    assert "（从旧副本恢复）" in flag_on("zh_CN", "S001-T17")
    assert "restored" not in flag_on("zh_CN", "S001-T17")
    assert "(restored)" in flag_on("en", "S001-T17")
    assert f"不合理的销售，序号 1：{OLD_PLAUSIBILITY_REASON}" in flag_on("zh_CN", "S001-T18")
    assert f"implausible sale seq 1: {OLD_PLAUSIBILITY_REASON}" in flag_on("en", "S001-T18")


def test_every_reason_said_inside_a_flag_has_chinese_and_english() -> None:
    """A plausibility reason or an epoch's reason without its catalogue entries would show in
    English on the Chinese page (or fail the page, with placeholders that do not fit)."""
    reason_type = typing.get_type_hints(EpochStartedBody)["reason"]
    ids = [*REASONS, *(f"epoch.{r}" for r in typing.get_args(reason_type))]
    assert len(ids) > 30
    catalogues = i18n.load_all()
    for msg_id in ids:
        english = FLAGS[msg_id]
        assert catalogues["en"].get(english) == english, msg_id
        chinese = catalogues["zh_CN"].get(english)
        assert chinese is not None and chinese != english, msg_id
        assert placeholders(chinese) == placeholders(english), msg_id
