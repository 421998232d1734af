"""The member cache: lookups, masking, all-or-nothing snapshots, incremental changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from device.checkout.loyalty import LoyaltyConfig, max_redeemable_points
from device.checkout.records import Member, TenderKind, Tier
from device.store.errors import SnapshotError
from device.store.members import masked_phone, normalise_phone
from device.store.store import Store
from tests.device.store.builders import T0, FakeClock, make_return, make_sale, store_config


def _member(i: int, **extra: Any) -> dict[str, Any]:
    item = {
        "member_id": f"M{i:06d}", "phone": f"139{i:08d}", "name": f"会员{i}",
        "tier": "gold" if i % 3 == 0 else "regular", "points_balance": i * 10,
        "cumulative_spend_fen": i * 1000, "birthday": "1990-05-17" if i % 2 else None,
        "opt_out_sms": i % 5 == 0, "member_code": f"QR{i:07d}", "cards": [f"CARD{i:08d}"],
    }  # fmt: skip
    item.update(extra)
    return item


def test_lookups_by_card_phone_and_code_return_the_same_member(store: Store) -> None:
    store.load_member_snapshot([_member(i) for i in range(1, 101)], version=7)
    expected = Member(
        member_id="M000003", phone="13900000003", name="会员3", tier=Tier.GOLD,
        points_balance=30, cumulative_spend_fen=3000, birthday=dt.date(1990, 5, 17),
        opt_out_sms=False, member_code="QR0000003",
    )  # fmt: skip
    assert store.members.by_card("CARD00000003") == expected
    assert store.members.by_phone("139 0000 0003") == expected
    assert store.members.by_phone("+86 13900000003") == expected
    assert store.members.by_code("QR0000003") == expected
    assert store.members.by_card("CARD99999999") is None
    assert store.members.by_phone("") is None
    assert store.stream_version("members") == 7


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13812345678", "138****5678"), ("+86 138-1234-5678", "138****5678"), ("12345", "*2345")],
)
def test_masked_phone_shows_only_the_prefix_and_last_four(phone: str, masked: str) -> None:
    assert masked_phone(phone) == masked


def test_normalise_phone_keeps_digits_only() -> None:
    assert normalise_phone("(+86) 139-0000-0003") == "13900000003"


def test_snapshot_replaces_the_old_cache_entirely(store: Store) -> None:
    store.load_member_snapshot([_member(i) for i in range(1, 11)])
    store.load_member_snapshot([_member(i) for i in range(5, 8)])
    assert store.members.count() == 3
    assert store.members.by_card("CARD00000001") is None
    assert store.members.by_card("CARD00000006") is not None


def test_a_snapshot_failing_midway_leaves_the_old_cache_usable(store: Store) -> None:
    store.load_member_snapshot([_member(i) for i in range(1, 11)], version=1)

    def broken_feed() -> Iterator[dict[str, Any]]:
        yield from (_member(i) for i in range(100, 150))
        raise ConnectionError("chunk 3 of 5 never arrived")

    with pytest.raises(ConnectionError):
        store.load_member_snapshot(broken_feed(), version=2, batch_size=20)
    assert store.members.count() == 10
    assert store.members.by_phone("13900000004") is not None
    assert store.members.by_phone("13900000120") is None
    assert store.stream_version("members") == 1


def test_a_bad_row_or_duplicate_phone_rejects_the_snapshot_with_a_reason(store: Store) -> None:
    store.load_member_snapshot([_member(i) for i in range(1, 4)])
    rows = [_member(i) for i in range(10, 20)] + [_member(20, tier="platinum")]
    with pytest.raises(SnapshotError, match=r"member row 10 \(M000020\).*unknown tier"):
        store.load_member_snapshot(rows)
    dup = [_member(i) for i in range(10, 20)] + [_member(21, phone="13900000010")]
    with pytest.raises(SnapshotError, match="previous cache is kept"):
        store.load_member_snapshot(dup)
    assert store.members.count() == 3
    assert store.members.by_code("QR0000002") is not None


def test_upsert_is_idempotent_and_moves_cards(store: Store) -> None:
    store.load_member_snapshot([_member(1), _member(2)])
    change = [_member(1, tier="silver", points_balance=555, cards=["CARD00000002", "NFC-A1"])]
    assert store.members.upsert(change, version=3) == 1
    assert store.members.upsert(change) == 1  # applying again changes nothing
    assert store.members.upsert(change, version=3) == 0  # an already-applied version is skipped
    m = store.members.by_card("NFC-A1")
    assert m is not None and m.tier is Tier.SILVER and m.points_balance == 555
    assert store.members.by_card("CARD00000002") == m  # the card moved to member 1
    assert store.members.cards("M000001") == ["CARD00000002", "NFC-A1"]
    assert store.members.count() == 2
    assert store.stream_version("members") == 3


def test_a_phone_taken_over_by_another_member_leaves_the_stale_holder(store: Store) -> None:
    store.load_member_snapshot([_member(1), _member(2)])
    store.members.upsert([_member(2, phone="13900000001")])
    holder = store.members.by_phone("13900000001")
    assert holder is not None and holder.member_id == "M000002"
    assert store.members.by_id("M000001") is None


def test_delete_removes_members_and_their_cards(store: Store) -> None:
    store.load_member_snapshot([_member(1), _member(2)])
    assert store.members.delete(["M000001", "M404"]) == 1
    assert store.members.by_card("CARD00000001") is None
    assert store.members.by_phone("13900000002") is not None


def test_local_registration_survives_a_snapshot_until_the_cloud_acks(store: Store) -> None:
    store.load_member_snapshot([_member(1)])
    new = Member(member_id="L-1", phone="13700001234", name="新会员")
    seq = store.facts.record_member_registration(new, "C01", T0, cards=("NFC-NEW",))
    assert store.members.by_phone("13700001234") == new
    store.load_member_snapshot([_member(1), _member(2)])
    assert store.members.by_phone("13700001234") == new  # not in the cloud's snapshot yet
    store.outbox_ack(seq)
    store.load_member_snapshot([_member(1)])
    assert store.members.by_phone("13700001234") is None  # synced: the snapshot is the truth


def test_a_sale_raises_the_cached_spend_and_tier_and_a_return_lowers_the_spend(
    store: Store,
) -> None:
    store.members.upsert([_member(1, member_id="M0001", tier="regular")])  # spend 1000 fen
    sale = make_sale(4, redeem_blocks=1)  # 1000 fen of it paid with points
    store.record_sale(sale, new_tier=Tier.SILVER)
    after_sale = store.members.by_id("M0001")
    assert after_sale is not None
    assert after_sale.cumulative_spend_fen == 1000 + sale.total_fen - 1000
    assert after_sale.tier is Tier.SILVER
    # The cached balance is the cloud's 10 plus this till's own sale (100 redeemed, some
    # earned): counted once, here, until the cloud's next push includes the sale.
    assert after_sale.points_balance == 10 + sum(p.delta for p in sale.points)

    ret = make_return(sale, "S001-T01-20261123-0001", (1,), when=T0 + dt.timedelta(hours=1))
    store.record_return(ret)
    after_return = store.members.by_id("M0001")
    assert after_return is not None
    # Spend counts money: the line's share paid with points comes back as points.
    money_back = sum(t.amount_fen for t in ret.refunds if t.kind is not TenderKind.POINTS)
    assert money_back < sale.lines[0].net_fen
    assert after_return.cumulative_spend_fen == sale.total_fen - 1000 + 1000 - money_back
    assert after_return.tier is Tier.SILVER  # upgrades are not taken back at the till


def test_the_next_sale_at_this_till_sees_the_redemption_after_a_restart(
    db_path: Path, clock: FakeClock
) -> None:
    first = Store.open(db_path, store_config(), create=True, clock=clock)
    first.members.upsert([_member(1, member_id="M0001", points_balance=250)])
    sale = make_sale(10, redeem_blocks=2)
    first.record_sale(sale)
    first.close()
    again = Store.open(db_path, store_config(), clock=clock)
    member = again.members.by_id("M0001")
    assert member is not None
    # 250 known to the cloud, 200 spent here before the restart, plus what the sale earned.
    earned = sum(p.delta for p in sale.points if p.delta > 0)
    assert member.points_balance == 250 - 200 + earned
    most = max_redeemable_points(1_000_000, member.points_balance, LoyaltyConfig())
    assert most == (50 + earned) // 100 * 100  # never the 200 spent a second time
    again.close()


def test_a_sale_for_a_member_not_in_the_cache_is_still_recorded(store: Store) -> None:
    recorded = store.record_sale(make_sale(2, member_id="M-UNKNOWN"))
    assert recorded.seq == 1 and store.members.by_id("M-UNKNOWN") is None
