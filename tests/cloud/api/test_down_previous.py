"""Every change HQ publishes to the tills says what came before it for each receiver, so a till
can tell a lost change (wait and catch up) from another store's (apply at once).

The expected value is worked out here from the change log itself: for a receiver in store S,
the newest earlier change of the stream for all stores or for S.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.jobs.publish import publish_changes
from cloud.store.db import CloudDB, open_cloud_db
from cloud.store.effects import logged_change
from protocol.codec import decode_down
from protocol.envelope import DownChange, needed_version
from protocol.rules import default_rules
from protocol.rules_check import to_plain
from tests.cloud.api import crm_world as w
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NEXT_YEAR = (dt.date.today() + dt.timedelta(days=365)).isoformat()


@pytest.fixture
def hq(cloud_url: str) -> Iterator[dict[str, Any]]:
    cdb = open_cloud_db(cloud_url)
    recorder = Recorder()
    try:
        app = create_app(cloud_url, recorder)
        with TestClient(app, headers=bearer(token_for(cloud_url, "admin"))) as client:
            world = w.build(cdb, client)
            yield {"client": client, "cdb": cdb, "sent": recorder, **world}
    finally:
        cdb.close()


def _expected(cdb: CloudDB, change: DownChange, store: str) -> int:
    d = cdb.models.DownChange
    rows = d.select(d.version).where(
        (d.stream == change.stream) & (d.version < change.version) & d.scope.in_(["all", store])
    )
    return max((r.version for r in rows), default=0)


def test_every_publisher_names_what_each_receiver_got_before(hq: dict[str, Any]) -> None:
    client, cdb, sent = hq["client"], hq["cdb"], hq["sent"]
    first = len(sent.sent)
    rules = to_plain(default_rules())
    steps = [
        client.post("/api/coupons", json={"kind": "amount", "value": 2000, "min_spend_fen": 10000,
                                          "valid_until": NEXT_YEAR, "codes": ["VIP-9"]}),
        client.put("/api/rules/store/all", json=rules),
        client.put("/api/rules/store/S002", json=rules),
        client.post("/api/staff", json={"staff_id": "2093", "name": "王芳", "role": "cashier",
                                        "stores": ["S001", "S002"]}),
        client.post("/api/push/config", json={"scope": "S001",
                                              "items": [{"key": "note", "value": "x"}]}),
    ]  # fmt: skip
    m = cdb.models.Member
    m.update(phone=w.PHONE).where(m.member_id == "M3").execute()
    steps.append(client.post("/api/members/M3/merge", json={"into": "M1", "reason": "same"}))
    steps.append(client.post("/api/crm/members/M1/erase", json={"confirm": "M1", "reason": "x"}))
    for answer in steps:
        assert answer.status_code in (200, 201), answer.text
    with cdb.write():  # a job's changes go out through the jobs' publisher
        job_change = logged_change(cdb, "coupons", "all", "upsert", [], dt.datetime.now(dt.UTC))
    assert publish_changes(sent, [job_change]) == 1
    published = [decode_down(payload) for _, payload in sent.sent[first:]]
    streams = {c.stream for c in published}
    assert streams >= {"coupons", "config", "staff", "members"}, streams
    for change in published:
        assert change.previous is not None, change
        for store in ("S001", "S002"):
            if change.scope in ("all", store):
                why = (store, change.stream, change.version, change.scope, change.previous)
                assert needed_version(change, store) == _expected(cdb, change, store), why
