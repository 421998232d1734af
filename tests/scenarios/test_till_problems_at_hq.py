"""A till's problem reaches HQ's terminal list in the page's language: a real till's status
through a real broker to real ingest, an old till's text-only status, and forged ones."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import msgspec
import pytest

from cloud.api.app import create_app
from cloud.ingest.worker import IngestWorker
from cloud.store.db import open_cloud_db
from protocol import codec, topics
from protocol.envelope import Ack, Status
from provisioning.broker import TerminalCred
from tests.broker import DEFAULT_TERMINALS, Broker
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.browser import Served, chromium, shot, sign_in, wait_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.ingest.conftest import worker  # noqa: F401
from tests.device.sync.harness import make_service, record_sales, store_file  # noqa: F401

ZH_IGNORED = "确认（ACK）50 已忽略：云端持有本终端的序号 50，但本存储文件只写到 3"
EN_IGNORED = (
    "ack 50 ignored: the cloud holds seq 50 of this terminal, but this store file has written "
    "only up to 3: it was restored from an older copy or copied"
)


@pytest.fixture
def broker(broker_factory: Any) -> Broker:
    """The test broker, with three more tills of S001 (forged statuses come from them)."""
    more = [TerminalCred(f"S001-T0{n}", "S001", f"pw-S001-T0{n}") for n in (3, 4, 5)]
    return broker_factory(terminals=[*DEFAULT_TERMINALS, *more])  # type: ignore[no-any-return]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The cloud database, on a file (ingest's ``worker`` fixture feeds it)."""
    url = f"sqlite:///{tmp_path}/cloud.db"
    open_cloud_db(url).close()
    return url


@pytest.fixture
def cloud(db_url: str, worker: IngestWorker) -> str:  # noqa: F811
    """The cloud database, with a running ingest worker feeding it."""
    return db_url


def _stored_status(db_url: str, terminal_id: str) -> dict[str, Any]:
    """The status ingest recorded for a terminal ({} before any)."""
    cdb = open_cloud_db(db_url)
    try:
        m = cdb.models
        row = m.Terminal.get_or_none(m.Terminal.terminal_id == terminal_id)
        return dict(row.status or {}) if row is not None else {}
    finally:
        cdb.close()


def _page(url: str, token: str, language: str) -> str:
    """The terminal list's HTML over plain HTTP, in ``language`` (the page's cookie)."""
    request = urllib.request.Request(
        f"{url}/terminals", headers={**bearer(token), "Cookie": f"hq_lang={language}"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(answer.read().decode())


def test_a_real_tills_problem_shows_in_chinese_and_in_english(
    broker: Broker,
    cloud: str,
    store_file: Path,  # noqa: F811
    make_service: Any,  # noqa: F811
) -> None:
    record_sales(store_file, 3)
    svc = make_service(store_file, status_check_s=0.1)
    wait_for(lambda: svc.stats().acked_seq == 3, "the cloud to acknowledge the till's sales")
    # A cloud answer this store file cannot own (it has written only 3 events): the till
    # refuses it, and its status tells HQ why.
    rogue = broker.client("ingest-2", client_id="rogue-cloud")
    try:
        ack = Ack(terminal_id="S001-T01", acked_seq=50)
        rogue.publish(topics.ack_topic("S001", "S001-T01"), codec.encode_ack(ack))
        stored = wait_for(
            lambda: (s := _stored_status(cloud, "S001-T01")).get("problem") and s,
            "ingest to store the till's problem",
        )
    finally:
        rogue.close()
    assert stored["last_problem"] == EN_IGNORED  # the English stays, for the JSON API and logs
    assert stored["problem"]["id"] == "ack.ignored"
    assert stored["problem"]["args"]["reason"]["id"] == "journal.ahead"

    token = token_for(cloud, "admin", username="boss")
    with Served(create_app(cloud, Recorder())) as served:
        english = _page(served.url, token, "en")
        assert EN_IGNORED in english
        with chromium() as browser:  # Chinese: the page's default language
            page = browser.new_page()
            sign_in(page, served.url, "boss")
            page.goto(f"{served.url}/terminals")
            row = page.inner_text("tr#S001-T01")
            shot(page, "terminals-problem-zh")
            page.goto(f"{served.url}/")
            dashboard = page.inner_text("body")
    assert ZH_IGNORED in row and "ignored" not in row, row
    assert ZH_IGNORED in dashboard  # the dashboard's attention list says it too


def _status(terminal_id: str, text: str, problem: Any = None) -> bytes:
    """A status as a till would send it; ``problem`` goes in as given (any JSON)."""
    status = Status(
        terminal_id=terminal_id, store_id="S001", online=True, outbox_depth=0,
        oldest_unsynced_s=None, stream_versions={}, clock_synced=True, printer="ok",
        software_version="1.0", sent_at="2026-11-23T06:30:00Z", last_problem=text,
    )  # fmt: skip
    raw = msgspec.to_builtins(status)
    if problem is not None:
        raw["problem"] = problem
    else:
        del raw["problem"]  # an old till's status has no such field
    return msgspec.json.encode(raw)


def test_old_text_only_and_forged_problems_show_as_plain_escaped_text(
    broker: Broker, cloud: str
) -> None:
    html_arg = "<img src=x onerror=alert(1)>"
    sent = {
        # A till that predates message ids: its English, as before.
        "S001-T02": _status("S001-T02", "ack: not JSON"),
        # An id this HQ does not know, with HTML in its argument: the text, escaped.
        "S001-T03": _status("S001-T03", f"odd {html_arg}",
                            {"id": "future.thing", "args": {"x": html_arg}}),
        # A known id whose arguments do not fill its message: the text.
        "S001-T04": _status("S001-T04", "store broke", {"id": "store.damaged", "args": {}}),
        # A known id with HTML in its argument: said in Chinese, the argument escaped.
        "S001-T05": _status("S001-T05", f"store file damaged: {html_arg}",
                            {"id": "store.damaged", "args": {"reason": html_arg}}),
    }  # fmt: skip
    tills = [broker.client(t, client_id=t) for t in sent]
    try:
        for till, (terminal_id, payload) in zip(tills, sent.items(), strict=True):
            till.publish(topics.status_topic("S001", terminal_id), payload, retain=True)
        for terminal_id in sent:
            wait_for(lambda t=terminal_id: _stored_status(cloud, t), f"{terminal_id}'s status")
    finally:
        for till in tills:
            till.close()
    token = token_for(cloud, "admin", username="boss")
    with Served(create_app(cloud, Recorder())) as served:
        chinese, english = _page(served.url, token, "zh_CN"), _page(served.url, token, "en")
    escaped = "&lt;img src=x onerror=alert(1)&gt;"
    for html in (chinese, english):
        assert "ack: not JSON" in html
        assert f"odd {escaped}" in html and "store broke" in html
        assert html_arg not in html
    assert f"存储文件已损坏。详情（原文）：{escaped}" in chinese
    assert f"store file damaged: {escaped}" in english
