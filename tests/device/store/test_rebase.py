"""The till's member facts: the cloud's value plus exactly the till's own events it does not count.

Every expected figure is worked out by hand from the sales recorded in the test: the cloud's
pushed value, plus the points and money of this till's sales whose seqs the push's ``asof``
does not name.
"""

from __future__ import annotations

from typing import Any

from device.checkout.loyalty import earnable_fen
from device.checkout.records import SaleRecord, Tier
from device.store.store import Store
from tests.device.store.builders import make_return, make_sale

TILL = "S001-T01"  # the terminal the store_config fixture claims the file for


def _push(member_id: str = "M0001", **facts: Any) -> dict[str, Any]:
    return {"member_id": member_id, **facts}


def _points(sale: SaleRecord) -> int:
    return sum(p.delta for p in sale.points)


def _money(sale: SaleRecord) -> int:
    return earnable_fen(sale.total_fen, sale.tenders)


def _held(store: Store, member_id: str = "M0001") -> tuple[int, int, str, int]:
    m = store.members.by_id(member_id)
    assert m is not None
    row = store.db.row("SELECT returns_30d FROM member WHERE member_id = ?", (member_id,))
    assert row is not None
    return m.points_balance, m.cumulative_spend_fen, m.tier.value, int(row[0])


def _seed(store: Store) -> None:
    store.members.upsert([_push(phone="13900000001", name="王芳", birthday="1990-05-17",
                                opt_out_sms=True, member_code="QR1", rev=1, tier="regular",
                                points_balance=500, cumulative_spend_fen=10_000)])  # fmt: skip


def test_a_push_counts_the_tills_own_sales_it_does_not_include(store: Store) -> None:
    _seed(store)
    s1 = make_sale(2, redeem_blocks=1, seed=1)  # seq 1
    s2 = make_sale(3, seed=2)  # seq 2
    s3 = make_sale(1, redeem_blocks=1, seed=3)  # seq 3
    for sale in (s1, s2, s3):
        store.record_sale(sale)
    assert _held(store)[0] == 500 + _points(s1) + _points(s2) + _points(s3)
    # The cloud has counted seqs 1 and 3 (3 arrived before 2: another worker committed it).
    cloud_points = 500 + _points(s1) + _points(s3) + 40  # +40 earned at another store
    cloud_spend = 10_000 + _money(s1) + _money(s3) + 4_000
    store.members.upsert([_push(rev=2, points_balance=cloud_points, tier="regular",
                                cumulative_spend_fen=cloud_spend, returns_30d=1,
                                asof={TILL: [1, [3]], "S002-T01": [77, []]})])  # fmt: skip
    assert _held(store) == (cloud_points + _points(s2), cloud_spend + _money(s2), "regular", 1)
    # The profile the push did not carry is as it was.
    m = store.members.by_id("M0001")
    assert m is not None
    assert (m.name, str(m.birthday), m.opt_out_sms, m.member_code) == (
        "王芳", "1990-05-17", True, "QR1",
    )  # fmt: skip


def test_an_older_push_is_skipped_and_a_till_missing_from_asof_counts_all_its_own(
    store: Store,
) -> None:
    _seed(store)
    sale = make_sale(2, seed=4)
    store.record_sale(sale)
    # The cloud has heard of none of this till's events for the member: no entry.
    store.members.upsert([_push(rev=5, points_balance=900, asof={"S002-T01": [3, []]})])
    assert _held(store)[0] == 900 + _points(sale)
    store.members.upsert([_push(rev=4, points_balance=1, asof={})])  # late, older: skipped
    assert _held(store)[0] == 900 + _points(sale)
    store.members.upsert([_push(rev=6, points_balance=950, asof={TILL: [1, []]})])
    assert _held(store)[0] == 950  # now the cloud counts the sale: nothing to add


def test_a_return_and_an_upgrade_granted_here_survive_a_push_that_predates_them(
    store: Store,
) -> None:
    _seed(store)
    sale = make_sale(6, redeem_blocks=0, seed=9)
    recorded = store.record_sale(sale, new_tier=Tier.SILVER)  # seq 1: the till upgraded
    ret = make_return(sale, recorded.receipt_no, (1,))
    store.record_return(ret)  # seq 2
    refund_money = earnable_fen(ret.refund_fen, ret.refunds)
    ret_points = sum(p.delta for p in ret.points)
    # A push computed before the cloud had either event (asof names nothing of this till).
    store.members.upsert([_push(rev=2, points_balance=500, cumulative_spend_fen=10_000,
                                tier="regular", returns_30d=0, asof={})])  # fmt: skip
    points, spend, tier, returns = _held(store)
    assert points == 500 + _points(sale) + ret_points
    assert spend == 10_000 + _money(sale) - refund_money
    assert (tier, returns) == ("silver", 1)  # the cloud will upgrade too once it counts them


def test_a_snapshot_load_rebases_every_member_on_the_tills_journal(store: Store) -> None:
    _seed(store)
    sale_a = make_sale(2, seed=11)  # seq 1, M0001
    sale_b = make_sale(2, seed=12, member_id="M0002")  # seq 2
    store.record_sale(sale_a)
    store.record_sale(sale_b)
    store.load_member_snapshot([
        _push(phone="13900000001", rev=3, points_balance=100, cumulative_spend_fen=1,
              asof={TILL: [1, []]}),  # counts sale_a
        _push("M0002", phone="13900000002", rev=3, points_balance=200, cumulative_spend_fen=2,
              asof={}),  # counts nothing of this till
    ], version=9)  # fmt: skip
    assert _held(store)[:2] == (100, 1)
    assert _held(store, "M0002")[:2] == (200 + _points(sale_b), 2 + _money(sale_b))


def test_a_push_for_a_member_the_till_does_not_hold_needs_a_phone(store: Store) -> None:
    assert store.members.upsert([_push("M9", rev=1, points_balance=5)]) == 0
    assert store.members.by_id("M9") is None
    assert store.members.upsert([_push("M9", rev=1, points_balance=5, phone="13800000009",
                                       asof={})]) == 1  # fmt: skip
    assert _held(store, "M9")[0] == 5
