"""HQ merges a customer who registered again with a new phone, on SQLite and PostgreSQL.

Hand-worked (1 point per ¥10 paid, silver from ¥2,000):

    day 0  S001-T01 registers M-OLD (13800001111, card C-1), sells it ¥1,500: 150 points
    day 1  the customer has a new number; S002-T01 registers M-NEW (13900002222, card C-2)
           and sells it ¥1,000: 100 points. Neither reaches silver alone.
    day 2  HQ merges M-NEW into M-OLD keeping the new number: one member, 250 points,
           ¥2,500 spend, silver, both cards, phone 13900002222. 13800001111 finds nobody: at
           the cloud HQ can give it to a new member, and a till's phone lookup finds nobody.

M-THIRD is a mark an earlier release left (13900002222 registered twice, never joined): while
it holds the number, keeping that number is refused.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.api.app import create_app
from cloud.api.i18n import gettext_for, load_all
from cloud.api.reasons import say
from cloud.store.adjustments import MemberConflict
from cloud.store.db import CloudDB, open_cloud_db
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder
from tests.cloud.factories import registration_body
from tests.cloud.jobs.helpers import Till, TillCache, day

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

OLD_PHONE, NEW_PHONE = "13800001111", "13900002222"


@pytest.fixture
def hq(cloud_url: str) -> Iterator[tuple[TestClient, CloudDB, Recorder]]:
    recorder = Recorder()
    headers = bearer(token_for(cloud_url, "marketing", username="desk"))
    cdb = open_cloud_db(cloud_url)
    try:
        with TestClient(create_app(cloud_url, recorder), headers=headers) as client:
            yield client, cdb, recorder
    finally:
        cdb.close()


def _customer_twice(cdb: CloudDB) -> None:
    first, second = Till(cdb, "S001-T01"), Till(cdb, "S002-T01")
    first.send({**_registration("M-OLD", OLD_PHONE), "cards": ["C-1"]}, day(0), "member_registered")
    first.sale("M-OLD", 1500, day(0))
    second.send(
        {**_registration("M-NEW", NEW_PHONE), "cards": ["C-2"]}, day(1), "member_registered"
    )
    second.sale("M-NEW", 1000, day(1))


def _registration(member_id: str, phone: str) -> dict[str, Any]:
    return registration_body(member_id, phone, "赵敏")


def _member(cdb: CloudDB, member_id: str) -> Any:
    m = cdb.models.Member
    return m.get(m.member_id == member_id)


def _state(cdb: CloudDB) -> tuple[Any, ...]:
    """Everything a merge would change: members, ledger, aliases, the tills' change log."""
    m = cdb.models
    members = [
        (r.member_id, r.phone, r.tier, r.cumulative_spend_fen, list(r.cards or []), r.duplicate_of)
        for r in m.Member.select().order_by(m.Member.member_id)
    ]
    ledger = [(r.member_id, r.delta) for r in m.PointsLedger.select().order_by(m.PointsLedger.id)]
    return members, ledger, cdb.jobs.MemberAlias.select().count(), m.DownChange.select().count()


def _found(till: TillCache, phone: str) -> str | None:
    """The member id a till's phone lookup finds, or None."""
    member = till.storage.members.by_phone(phone)
    return None if member is None else member.member_id


def _merge(client: TestClient, **body: Any) -> Any:
    return client.post("/api/members/M-NEW/merge", json={"into": "M-OLD", **body})


def test_hq_merges_a_customer_who_registered_again_with_a_new_phone(
    hq: Any, tmp_path: Path
) -> None:
    client, cdb, sent = hq
    m = cdb.models.Member
    till = TillCache(tmp_path / "till.db")
    try:
        _customer_twice(cdb)
        till.catch_up(cdb)
        assert _found(till, OLD_PHONE) == "M-OLD"
        reason = "same customer, changed number; ID card seen at the service desk"

        # Without a chosen phone the merge is refused, and the refusal says what to send.
        refused = _merge(client, reason=reason)
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert "keep_phone" in detail and OLD_PHONE in detail and NEW_PHONE in detail
        zh = gettext_for(load_all(), "zh_CN")
        err = MemberConflict(
            "%(old)s and %(into)s have different phones (%(old_phone)s, %(into_phone)s): say "
            "which one the merged member keeps (keep_phone); the other will find nobody",
            old="M-NEW", into="M-OLD", old_phone=NEW_PHONE, into_phone=OLD_PHONE,
        )  # fmt: skip
        assert str(err) == detail and "请选择合并后会员保留的手机号" in say(err, zh)
        # A number that is neither member's is malformed; a merge that drops a phone needs a
        # reason like every merge by hand.
        neither = _merge(client, reason=reason, keep_phone="13700009999")
        assert neither.status_code == 422 and "neither member's phone" in neither.text
        no_reason = _merge(client, keep_phone=NEW_PHONE)
        assert no_reason.status_code == 422 and "say why" in no_reason.text

        # A third member still holding the number it would keep: refused until HQ joins it.
        third = Till(cdb, "S003-T01")
        third.register("M-THIRD", "13700003333", day(1))
        m.update(phone=NEW_PHONE, duplicate_of="M-NEW").where(m.member_id == "M-THIRD").execute()
        held = _merge(client, reason=reason, keep_phone=NEW_PHONE)
        assert held.status_code == 409 and f"phone {NEW_PHONE} is held by M-THIRD" in held.text
        joined = client.post("/api/members/M-THIRD/merge", json={"into": "M-NEW", "reason": "dup"})
        assert joined.status_code == 200, joined.text

        # The dry run says what would happen, phone included, and changes nothing.
        before, published = _state(cdb), len(sent.sent)
        preview = _merge(client, reason=reason, keep_phone="+86 139-0000-2222", dry_run=True)
        assert preview.status_code == 200, preview.text
        assert {k: preview.json()[k] for k in ("survivor", "phone", "phone_dropped", "tier",
                                              "dry_run", "published")} == {
            "survivor": "M-OLD", "phone": NEW_PHONE, "phone_dropped": OLD_PHONE,
            "tier": "silver", "dry_run": True, "published": 0,
        }  # fmt: skip
        assert _state(cdb) == before and len(sent.sent) == published

        done = _merge(client, reason=reason, keep_phone=NEW_PHONE)
        assert done.status_code == 200, done.text
        assert {k: done.json()[k] for k in ("survivor", "phone", "phone_dropped", "tier")} == {
            "survivor": "M-OLD", "phone": NEW_PHONE, "phone_dropped": OLD_PHONE, "tier": "silver",
        }  # fmt: skip
        survivor = _member(cdb, "M-OLD")
        assert (survivor.phone, survivor.tier, survivor.cumulative_spend_fen) == (
            NEW_PHONE, "silver", 250_000,
        )  # fmt: skip
        assert sorted(survivor.cards) == ["C-1", "C-2"]
        assert client.get("/api/members/M-OLD/points").json()["balance"] == 250
        # The tills are told: the duplicate goes, the survivor comes with the kept phone.
        (kind, gone), (_, [facts]) = sent.members()[-2:]
        assert (kind, gone) == ("delete", [{"member_id": "M-NEW"}])
        pushed = [facts[k] for k in ("member_id", "phone", "tier", "points_balance")]
        assert pushed == ["M-OLD", NEW_PHONE, "silver", 250]
        assert sorted(facts["cards"]) == ["C-1", "C-2"]

        # A till that catches up finds the customer by the new number and nobody by the old.
        till.catch_up(cdb)
        found = till.storage.members.by_phone(NEW_PHONE)
        assert found is not None and (found.member_id, found.points_balance, found.tier) == (
            "M-OLD", 250, "silver",
        )  # fmt: skip
        assert till.storage.members.by_phone(OLD_PHONE) is None
        assert till.storage.members.by_id("M-NEW") is None
        card = till.storage.members.by_card("C-2")
        assert card is not None and card.member_id == "M-OLD"
    finally:
        till.close()

    # The dropped number finds nobody at the cloud: it can be someone else's now.
    assert not list(m.select().where((m.phone == OLD_PHONE) & m.duplicate_of.is_null()))
    fresh = client.post("/api/members", json={"member_id": "M-STRANGER", "phone": OLD_PHONE})
    assert fresh.status_code == 201, fresh.text

    # Who merged, why, and which phone went: in the alias and the audit (phones masked).
    alias = cdb.jobs.MemberAlias.get_by_id("M-NEW")
    assert (alias.new_id, alias.merged_by, alias.reason) == ("M-OLD", "desk", reason)
    assert alias.moved["phone"] == {"kept": "139****2222", "dropped": "138****1111",
                                    "kept_from": "M-NEW"}  # fmt: skip
    a = cdb.hq.HqAudit
    rows = list(a.select().where(a.action == "member_merge").order_by(a.id))
    assert [r.outcome for r in rows] == ["refused"] * 4 + ["ok"] * 3
    last = rows[-1]
    said = [last.detail[k] for k in ("reason", "keep_phone", "phone_dropped")]
    assert last.username == "desk" and said == [reason, "139****2222", "138****1111"]


def test_keeping_the_survivors_number_drops_the_duplicates(hq: Any, tmp_path: Path) -> None:
    """The other way round: the survivor's number stays, and the duplicate's finds nobody."""
    client, cdb, _sent = hq
    till = TillCache(tmp_path / "till.db")
    try:
        _customer_twice(cdb)
        till.catch_up(cdb)
        done = _merge(client, reason="typo in the number at registration", keep_phone=OLD_PHONE)
        assert done.status_code == 200, done.text
        assert (done.json()["phone"], done.json()["phone_dropped"]) == (OLD_PHONE, NEW_PHONE)
        till.catch_up(cdb)
        assert _found(till, OLD_PHONE) == "M-OLD"
        assert till.storage.members.by_phone(NEW_PHONE) is None
    finally:
        till.close()
    m = cdb.models.Member
    assert [r.member_id for r in m.select().where(m.phone == NEW_PHONE)] == []
    # A same-phone merge still needs no choice, and a wrong one is refused.
    same = Till(cdb, "S003-T01")
    same.register("M-X", "13600004444", day(2))
    m.update(phone=OLD_PHONE, duplicate_of="M-OLD").where(m.member_id == "M-X").execute()
    body = {"into": "M-OLD", "reason": "dup", "keep_phone": NEW_PHONE}
    wrong = client.post("/api/members/M-X/merge", json=body)
    assert wrong.status_code == 422 and "is not the members' phone" in wrong.text
    plain = client.post("/api/members/M-X/merge", json={"into": "M-OLD", "reason": "dup"})
    assert plain.status_code == 200 and plain.json()["phone_dropped"] == ""
    assert _member(cdb, "M-X").phone == OLD_PHONE  # a merged-away id keeps a phone not dropped
