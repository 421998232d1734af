"""Folding hand-built change logs into snapshot state, merging member facts, and chunking."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.domain.snapshot import (
    LoggedChange,
    MemberFacts,
    SnapshotError,
    chunked,
    fold,
    members_snapshot,
)


def product(sku: str, price: int, **kw: Any) -> dict[str, Any]:
    return {"sku": sku, "name_zh": f"商品{sku}", "price_fen": price, **kw}


def test_upserts_apply_in_log_order_and_deletes_remove() -> None:
    log = [
        LoggedChange(3, "catalogue", "delete", [{"sku": "B"}]),
        LoggedChange(1, "catalogue", "upsert", [product("A", 100), product("B", 200)]),
        LoggedChange(2, "catalogue", "upsert", [product("A", 150)]),
        LoggedChange(4, "catalogue", "upsert", [product("C", 300)]),
    ]
    folded = fold(log, "catalogue")
    assert folded.items == {"A": product("A", 150), "C": product("C", 300)}
    assert folded.deleted == {"B"}


def test_a_delete_then_upsert_brings_the_item_back() -> None:
    log = [
        LoggedChange(1, "catalogue", "upsert", [product("A", 100)]),
        LoggedChange(2, "catalogue", "delete", [{"sku": "A"}]),
        LoggedChange(3, "catalogue", "upsert", [product("A", 120)]),
    ]
    folded = fold(log, "catalogue")
    assert folded.items == {"A": product("A", 120)} and folded.deleted == frozenset()


def test_an_upsert_without_barcodes_keeps_the_old_ones() -> None:
    log = [
        LoggedChange(1, "catalogue", "upsert", [product("A", 100, barcodes=["690001"])]),
        LoggedChange(2, "catalogue", "upsert", [product("A", 110)]),
        LoggedChange(3, "catalogue", "upsert", [product("B", 5, barcodes=["690002"])]),
        LoggedChange(4, "catalogue", "upsert", [product("B", 6, barcodes=["690003"])]),
    ]
    folded = fold(log, "catalogue")
    assert folded.items["A"] == product("A", 110, barcodes=["690001"])
    assert folded.items["B"]["barcodes"] == ["690003"]


def test_prices_interleave_with_the_catalogue_by_log_position() -> None:
    log = [
        LoggedChange(1, "catalogue", "upsert", [product("A", 100), product("B", 200)]),
        LoggedChange(2, "prices", "upsert", [{"sku": "A", "price_fen": 90},
                                             {"sku": "Z", "price_fen": 1}]),
        # The catalogue change after the price change carries its own price, which wins.
        LoggedChange(3, "catalogue", "upsert", [product("B", 250)]),
        LoggedChange(4, "prices", "upsert", [{"sku": "B", "price_fen": 240}]),
        LoggedChange(5, "catalogue", "upsert", [product("A", 80)]),
    ]  # fmt: skip
    folded = fold(log, "catalogue")
    assert {k: v["price_fen"] for k, v in folded.items.items()} == {"A": 80, "B": 240}
    assert "Z" not in folded.items  # a price for an unknown SKU creates nothing, as on a till


def test_deletes_a_terminal_refuses_change_nothing() -> None:
    log = [
        LoggedChange(1, "coupons", "upsert", [{"code": "C1", "kind": "amount", "value": 500}]),
        LoggedChange(2, "coupons", "delete", [{"code": "C1"}]),
    ]
    assert set(fold(log, "coupons").items) == {"C1"}


def test_bad_logs_are_refused_with_the_reason() -> None:
    with pytest.raises(SnapshotError, match="no 'sku'"):
        fold([LoggedChange(7, "catalogue", "upsert", [{"name_zh": "x"}])], "catalogue")
    with pytest.raises(SnapshotError, match="members change cannot fold into coupons"):
        fold([LoggedChange(1, "members", "upsert", [{"member_id": "M1"}])], "coupons")
    with pytest.raises(SnapshotError, match="no stream"):
        fold([], "stock")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5), st.integers(0, 999)), max_size=40))
def test_fold_matches_replaying_into_a_plain_dict(ops: list[tuple[bool, int, int]]) -> None:
    # Independent model: apply each one-item change to a dict, one at a time.
    expected: dict[str, int] = {}
    log = []
    for order, (is_upsert, n, price) in enumerate(ops):
        sku = f"S{n}"
        if is_upsert:
            expected[sku] = price
            log.append(LoggedChange(order, "catalogue", "upsert", [product(sku, price)]))
        else:
            expected.pop(sku, None)
            log.append(LoggedChange(order, "catalogue", "delete", [{"sku": sku}]))
    folded = fold(reversed(log), "catalogue")  # given out of order: log position decides
    assert {k: v["price_fen"] for k, v in folded.items.items()} == expected


def member(n: int, **kw: Any) -> dict[str, Any]:
    item = {"member_id": f"M{n}", "phone": f"1380000{n:04d}", "name": f"Old {n}",
            "tier": "regular", "points_balance": 0, "cumulative_spend_fen": 0,
            "birthday": f"1990-05-0{n % 9 + 1}", "opt_out_sms": n % 2 == 0,
            "member_code": f"QR{n}", "cards": [f"CARD{n}"]}  # fmt: skip
    item.update(kw)
    return item


def facts(n: int, **kw: Any) -> MemberFacts:
    values: dict[str, Any] = {"member_id": f"M{n}", "phone": f"1380000{n:04d}", "name": f"New {n}",
                              "tier": "silver", "cumulative_spend_fen": 250_000,
                              "points_balance": 40}  # fmt: skip
    values.update(kw)
    return MemberFacts(**values)


def test_cloud_facts_win_and_log_only_fields_are_kept() -> None:
    folded = fold([LoggedChange(1, "members", "upsert", [member(1), member(2)])], "members")
    snap = members_snapshot(folded, [facts(1), facts(3, phone="13900000003", name="")])
    by_id = {i["member_id"]: i for i in snap.items}
    assert by_id["M1"] == dict(member(1), name="New 1", tier="silver",
                               cumulative_spend_fen=250_000, points_balance=40)  # fmt: skip
    assert by_id["M2"] == member(2)  # pushed by HQ, never seen at a till
    assert by_id["M3"] == {"member_id": "M3", "phone": "13900000003", "tier": "silver",
                           "cumulative_spend_fen": 250_000, "points_balance": 40}  # fmt: skip
    assert snap.left_out == {}


def test_members_that_would_break_the_cache_are_left_out_with_the_reason() -> None:
    folded = fold(
        [
            LoggedChange(1, "members", "upsert", [member(1), member(2, member_code="QR1"),
                                                  member(5), member(6, cards=["CARD1", "X6"])]),
            LoggedChange(2, "members", "delete", [{"member_id": "M5"}]),
        ],
        "members",
    )  # fmt: skip
    snap = members_snapshot(
        folded,
        [
            facts(1),
            facts(2),  # same member code as M1 (from the log)
            facts(3, phone="+86 138-0000-0001"),  # M1's phone, written differently
            facts(4, duplicate_of="M1"),
            facts(5),  # HQ deleted it
            facts(6),
            facts(7, phone=""),  # first seen in a sale, no phone known
        ],
    )
    assert [i["member_id"] for i in snap.items] == ["M1", "M6"]
    assert snap.items[1]["cards"] == ["X6"]  # CARD1 is M1's; M6 keeps the rest
    assert set(snap.left_out) == {"M2", "M3", "M4", "M5", "M7"}
    assert "member code also held by M1" in snap.left_out["M2"]
    assert "phone also held by M1" in snap.left_out["M3"]
    assert "duplicate of M1" in snap.left_out["M4"]
    assert "deleted" in snap.left_out["M5"]
    assert "no usable phone" in snap.left_out["M7"]


def _size(item: Any) -> int:
    return len(json.dumps(item)) + 1


def test_chunks_respect_both_bounds_and_keep_every_item_in_order() -> None:
    items = [{"k": "x" * (n % 7 * 10)} for n in range(100)]
    parts = chunked(items, max_items=9, max_bytes=200, size=_size)
    assert [i for part in parts for i in part] == items
    assert all(len(p) <= 9 and sum(_size(i) for i in p) <= 200 for p in parts)
    assert chunked([], 10, 10, _size) == [[]]  # an empty snapshot is still one chunk
    with pytest.raises(SnapshotError, match="more than a chunk holds"):
        chunked([{"k": "x" * 300}], 10, 200, _size)
