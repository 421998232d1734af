"""Points balances from the ledger and over-redemption found on reconciliation."""

from __future__ import annotations

from cloud.domain.points import PointsChange, balance, reconcile


def _change(member: str, seq: int, *deltas: tuple[int, str]) -> PointsChange:
    return PointsChange(member, "S001-T01", seq, f"sale-{seq}", tuple(deltas))


def test_balance_is_the_sum_of_deltas() -> None:
    assert balance([150, -100, 30]) == 80
    assert balance([]) == 0


def test_two_offline_redemptions_overdraw_once() -> None:
    # Member holds 300; store A redeems 200, store B (offline, same 300 known) redeems 200.
    balances, found = reconcile(
        {"M1": 300}, [_change("M1", 1, (-200, "redeem")), _change("M1", 2, (-200, "redeem"))]
    )
    assert balances == {"M1": -100}
    assert [(o.member_id, o.amount, o.balance_after, o.seq) for o in found] == [
        ("M1", 100, -100, 2)
    ]


def test_earning_in_the_same_sale_counts_before_judging() -> None:
    # Redeem 200 and earn 50 in one sale against 160: ends at +10, no overdraft.
    _, found = reconcile({"M1": 160}, [_change("M1", 1, (-200, "redeem"), (50, "earn"))])
    assert found == []


def test_already_negative_member_only_reports_the_new_shortfall() -> None:
    _, found = reconcile({"M1": -100}, [_change("M1", 7, (-100, "redeem"))])
    assert [o.amount for o in found] == [100]


def test_non_redeem_deductions_are_not_over_redemptions() -> None:
    # A return reversal may take a member negative; that is not a redemption.
    balances, found = reconcile({"M1": 10}, [_change("M1", 3, (-50, "return_reversal"))])
    assert balances == {"M1": -40}
    assert found == []
