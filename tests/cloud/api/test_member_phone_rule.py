"""HQ takes a member's phone by the till's rule (11 digits starting with 1), says why it
refuses one in both languages, and the till's rule and HQ's give the same answer for any entry."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cloud.api import i18n
from cloud.api.app import create_app
from cloud.api.reasons import say
from cloud.store.adjustments import MemberInvalid
from cloud.store.db import open_cloud_db
from cloud.store.member_admin import clean_profile
from device.checkout.context import Refused as TillRefused
from device.checkout.selling import _valid_phone as till_phone
from protocol.phones import mobile_phone
from tests.cloud.api.access import bearer, token_for
from tests.cloud.api.recorder import Recorder

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

#: Phones the till refuses: 9 and 10 digits, 12 digits, not starting with 1, letters.
BAD = ("139123456", "1391234567", "139123456789", "23912345678", "1391234567a", "")


@pytest.fixture
def client(cloud_url: str) -> Iterator[Any]:
    cdb = open_cloud_db(cloud_url)
    try:
        app = create_app(cloud_url, Recorder())
        with TestClient(app, headers=bearer(token_for(cloud_url, "marketing"))) as c:
            c.cdb, c.admin = cdb, bearer(token_for(cloud_url, "admin"))
            yield c
    finally:
        cdb.close()


def test_hq_refuses_a_phone_the_till_would_refuse_and_keeps_nothing(client: Any) -> None:
    for phone in BAD:
        got = client.post("/api/members", json={"member_id": "M9", "phone": phone})
        assert got.status_code == 422, (phone, got.text)
        assert "is not a phone number (11 digits starting with 1)" in got.json()["detail"], phone
        people = {"home_store": "S001", "members": [{"member_id": "M9", "phone": phone}]}
        imported = client.post("/api/members/import", json=people, headers=client.admin)
        assert imported.status_code == 422, (phone, imported.text)
        assert "11 digits starting with 1" in imported.text
    assert client.cdb.models.Member.select().count() == 0
    # A number pasted with its country code and punctuation is the same phone.
    made = client.post("/api/members", json={"member_id": "M9", "phone": "+86 139-1234-5024"})
    assert made.status_code == 201, made.text
    assert client.cdb.models.Member.get_by_id("M9").phone == "13912345024"


def test_the_refusal_is_said_in_chinese_and_in_english() -> None:
    with pytest.raises(MemberInvalid) as refused:
        clean_profile("M9", {"phone": "139123456"}, new=True)
    catalogues = i18n.load_all()
    zh = say(refused.value, i18n.gettext_for(catalogues, "zh_CN"))
    en = say(refused.value, i18n.gettext_for(catalogues, "en"))
    assert zh == "M9：手机号 '139123456' 无效（应为以 1 开头的 11 位数字）"
    assert en == "M9: phone '139123456' is not a phone number (11 digits starting with 1)"


@given(st.text(alphabet="0123456789 -+1１٣a", max_size=16))
@example("13912345024")
@example(" 139-1234 5024 ")
@example("１3912345024")
def test_the_till_and_hq_read_every_entry_alike(text: str) -> None:
    try:
        till: str | None = till_phone(text)
    except TillRefused:
        till = None
    assert mobile_phone(text) == till
