"""Why the cloud flagged a terminal shows on HQ's terminal list in the page's language: flags
made by ingest's own code on a real SQLite file (an implausible sale, a restored store file's
hello, an unreadable payload), and a flag stored before flags had ids, in English as stored."""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path

from cloud.api.app import create_app
from cloud.api.pages import LANG_COOKIE
from cloud.ingest.decode import Rejection, decode_events_message
from cloud.store.apply import flag_terminal, reject_payload
from cloud.store.db import SCHEMA_VERSION, open_cloud_db, utcnow
from cloud.store.terminals import hello_problem, terminal_state
from protocol.envelope import Hello
from protocol.topics import events_topic
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.factories import envelope, ingest_batch, sale_body

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

OLD_REASON = "seq 7 already holds event <b>x</b>: a restored or copied store file?"
SAYS = {  # terminal -> (what the Chinese page says, what the English one says)
    "S001-T01": ("不合理的 sale，序号 1：", "implausible sale seq 1: "),
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
