"""Customer-record rules: masking, reading a search entry, tags, the complaint moves, scrubbing."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.domain.crm import (
    ERASED_TEXT,
    CrmRuleError,
    clean_tag,
    clean_tags,
    complaint_move,
    mask_code,
    mask_name,
    mask_phone,
    scrub,
    search_term,
    without_profile,
)


def test_masks_keep_only_what_a_receipt_shows() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("12345") == "*****"  # too short to show any part
    assert mask_name("赵敏") == "赵*" and mask_name("") == ""
    assert mask_code("CARD-778899") == "*******8899" and mask_code("AB1") == "***"


def test_a_search_entry_is_read_every_way_it_could_be_meant() -> None:
    phone = search_term(" +86 138-1234-5678 ")
    assert (phone.text, phone.phone, phone.name_prefix) == ("+86 138-1234-5678", "13812345678", "")
    card = search_term("CARD-778899")
    assert card.phone == "" and card.name_prefix == "card-778899"
    name = search_term("ＺＨＡＯ")  # full-width letters as a Chinese keyboard types them
    assert name.text == "ZHAO" and name.name_prefix == "zhao"
    assert search_term("M1").phone == "" and search_term("1234").phone == ""
    for bad in ("", "   ", "x" * 65):
        with pytest.raises(CrmRuleError):
            search_term(bad)


def test_tags_are_stored_one_way() -> None:
    assert clean_tag(" VIP ") == "vip" and clean_tag("跟进") == "跟进"
    assert clean_tags(["VIP", "vip", "size-m"]) == ["vip", "size-m"]
    for bad in ("", "two words", "a,b", 'x"', "x" * 33, "tab\there", "bell\x07"):
        with pytest.raises(CrmRuleError):
            clean_tag(bad)


def test_a_complaint_moves_open_to_resolved_and_back_only() -> None:
    assert complaint_move("open", "resolve") == "resolved"
    assert complaint_move("resolved", "reopen") == "open"
    for status, action in (("resolved", "resolve"), ("open", "reopen"), ("open", "close")):
        with pytest.raises(CrmRuleError):
            complaint_move(status, action)


def test_scrub_empties_every_personal_field_at_any_depth() -> None:
    body = {"member_id": "M1", "phone": "13812345678", "name": "赵敏", "birthday": "1990-05-04",
            "cards": ["C1"], "member_code": "Q1", "gender": "f", "text": "rude cashier",
            "lines": [{"sku": "A", "name_zh": "水", "comment": "nice"}],
            "total_fen": 100}  # fmt: skip
    assert scrub(body) == {
        "member_id": "M1", "phone": "", "name": "", "birthday": None, "cards": [],
        "member_code": "", "gender": "", "text": ERASED_TEXT,
        "lines": [{"sku": "A", "name_zh": "水", "comment": ERASED_TEXT}], "total_fen": 100,
    }  # fmt: skip
    pushed = {"member_id": "M1", "rev": 3, "phone": "1", "name": "n", "opt_out_sms": True,
              "points_balance": 5, "asof": {}}  # fmt: skip
    assert without_profile(pushed) == {"member_id": "M1", "rev": 3, "points_balance": 5,
                                       "asof": {}}  # fmt: skip


secret = st.text(alphabet="0123456789赵钱孙李abc", min_size=6, max_size=12)
json_leaf = st.one_of(st.integers(), st.booleans(), st.none(), st.sampled_from(["x", "A-1"]))


@given(
    secret,
    st.recursive(
        json_leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3),
            st.dictionaries(st.sampled_from(["a", "lines", "body", "sku"]), inner, max_size=3),
        ),
        max_leaves=10,
    ),
)
def test_no_personal_value_survives_a_scrub_wherever_it_sits(pii: str, shape: Any) -> None:
    def plant(value: Any) -> Any:
        if isinstance(value, dict):
            return {**{k: plant(v) for k, v in value.items()}, "phone": pii, "name": pii,
                    "text": pii, "cards": [pii]}  # fmt: skip
        if isinstance(value, list):
            return [plant(v) for v in value]
        return value

    planted = plant({"member_id": "M1", "inner": shape})
    assert pii in repr(planted)
    assert pii not in repr(scrub(planted))
