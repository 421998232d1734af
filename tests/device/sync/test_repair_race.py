"""A repair that lands between two ticks of the sync thread still sends under the new epoch.

The sync thread asks the cloud again (Hello) every few seconds while it is halted. When the
technician's repair lands and the cloud's answer to such a Hello arrives before the thread's
next look at the store file, the answer used to resume sync with the publisher of the old
epoch: the carried events went out stamped with the old epoch, the cloud stored them under it
and never opened the new one, and the ACK stayed below the abandoned seqs for good.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from device.store import epoch
from device.store.db import open_database
from device.sync.client import BrokerSettings
from device.sync.service import SyncService, SyncSettings, _Loop
from device.sync.storage import SyncStorage
from protocol import codec
from protocol.envelope import Ack
from tests.device.sync.harness import record_sales

TERMINAL = "S001-T01"


def test_a_hello_answer_arriving_right_after_a_repair_resumes_under_the_new_epoch(
    tmp_path: Path,
) -> None:
    path = tmp_path / "terminal.db"
    record_sales(path, 5, create=True)
    store = SyncStorage.open(path)
    try:
        old_epoch = store.journal().epoch
        # The cloud holds seq 8 of this terminal: more than this (restored) file has written.
        verdict = Ack(terminal_id=TERMINAL, acked_seq=8, max_seq=8, epoch=old_epoch)
        store.halt("restored from an older copy", verdict)
        # Never started: the test plays the sync thread's part by hand, in the racy order.
        settings = SyncSettings(broker=BrokerSettings("127.0.0.1", 1, "S001", TERMINAL))
        loop = _Loop(SyncService(settings, open_store=lambda: store), store)
        loop.halted = "restored from an older copy"
        loop.nonce = "hello-1"
        # The technician's repair, from another process, before the thread's next tick.
        db = open_database(path)
        try:
            repair = epoch.start_new_epoch(db, "restored", dt.datetime.now(dt.UTC))
        finally:
            db.close()
        assert repair.epoch != old_epoch and repair.first_seq == 9
        # The cloud's answer to the Hello asked while halted arrives first.
        answer = Ack(terminal_id=TERMINAL, acked_seq=8, max_seq=8, epoch=old_epoch,
                     hello="hello-1")  # fmt: skip
        loop._on_ack(codec.encode_ack(answer), time.monotonic())
        assert loop.halted == ""
        assert loop.publisher._epoch == repair.epoch  # what every envelope will carry
        assert loop.journal.epoch == repair.epoch
    finally:
        store.close()
