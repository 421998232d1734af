"""A member registered at a till, a note and a complaint about them typed there: all three reach
HQ's member 360 through the real sync, broker and ingest, the complaint open for HQ to handle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings as IngestBrokerSettings
from cloud.store.crm import member_360
from cloud.store.db import open_cloud_db
from device.checkout import events as ev
from tests.broker import Broker
from tests.device.harness import Terminal
from tests.scenarios.chain import start_till, stop_till, wait_for

NOTE = "想要 L 码的靴子，到货请来电"
COMPLAINT = "waited a long time for the deli counter"


@pytest.fixture
def till_and_cloud(broker: Broker, tmp_path: Path) -> Iterator[tuple[Terminal, str]]:
    url = f"sqlite:///{tmp_path}/cloud.db"
    worker = IngestWorker(
        url,
        IngestBrokerSettings(host=broker.host, port=broker.port, username="ingest",
                             password=broker.password("ingest")),
        client_id="ingest-followup",
    )  # fmt: skip
    worker.start()
    till = None
    try:
        till = start_till(tmp_path / "t1", broker, "S001", "S001-T01")
        yield till, url
    finally:
        if till is not None:
            stop_till(till)
        worker.stop()


def test_a_note_and_a_complaint_typed_at_the_till_reach_the_member_360(
    till_and_cloud: tuple[Terminal, str],
) -> None:
    till, url = till_and_cloud
    till.login_and_open()
    view = till.send(ev.RegisterMember(phone="13800005555", name="钱小姐"))
    member = view.state.cart.member if view.state.cart is not None else None
    assert member is not None, view.notice
    assert till.send(ev.AddMemberNote(NOTE)).notice.key == "member.note"
    assert till.send(ev.FileComplaint(COMPLAINT)).notice.key == "complaint.recorded"
    cdb = open_cloud_db(url)
    try:

        def seen() -> dict[str, Any] | None:
            got = member_360(cdb, member.member_id)
            return got if got and got["notes"] and got["complaints"] else None

        got = wait_for(seen, "the note and the complaint in the member 360")
        assert [(n["author"], n["role"], n["text"]) for n in got["notes"]] == [
            ("till:S001-T01:2001", "cashier", NOTE)
        ]
        [complaint] = got["complaints"]
        assert (complaint["status"], complaint["text"], complaint["opened_by"]) == (
            "open", COMPLAINT, "2001")  # fmt: skip
        assert complaint["origin"].startswith("till:S001-T01:")
        assert till.wait(lambda _: till.store.outbox_depth() == 0, timeout=30)
    finally:
        cdb.close()
