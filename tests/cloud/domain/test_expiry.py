"""FIFO points expiry: hand-worked ledgers, and properties over any ledger hypothesis makes."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.domain.expiry import Entry, cutoff, due, holdings

T0 = dt.datetime(2025, 1, 1, 12, 0)


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def earn(i: int, points: int, at: float, origin: str = "") -> Entry:
    return Entry(i, day(at), points, "earn", origin or f"sale-{i}")


def spend(i: int, points: int, at: float, reason: str = "redeem", origin: str = "") -> Entry:
    return Entry(i, day(at), -points, reason, origin)


def test_the_oldest_points_are_spent_first_and_what_is_left_of_them_expires() -> None:
    ledger = [earn(1, 100, 0), earn(2, 50, 300), spend(3, 30, 310)]
    # A year after day 0 only the first lot is old enough; the spend took 30 of it.
    [gone] = due(ledger, cutoff(day(400), 365))
    assert (gone.lot, gone.points, gone.origin) == (1, 70, "sale-1")
    # Points earned exactly one period ago expire; a second younger do not.
    assert [e.points for e in due(ledger, day(0))] == [70]
    assert due(ledger, day(0) - dt.timedelta(seconds=1)) == []


def test_a_spend_larger_than_the_oldest_lot_runs_on_into_the_next() -> None:
    ledger = [earn(1, 100, 0), earn(2, 50, 10), spend(3, 120, 20)]
    assert [(e.lot, e.points) for e in due(ledger, day(400))] == [(2, 30)]


def test_an_expiry_row_takes_the_lot_it_names_and_nothing_expires_twice() -> None:
    ledger = [earn(1, 100, 0), earn(2, 50, 300), spend(3, 30, 310)]
    first = due(ledger, day(35))
    ledger += [Entry(4, day(400), -70, "expiry", "sale-1", lot=1)]
    assert first and due(ledger, day(35)) == []
    # Later spends take the next lot, not the expired one's remains.
    ledger += [spend(5, 20, 410)]
    assert [(e.lot, e.points) for e in due(ledger, day(335))] == [(2, 30)]


def test_a_debt_is_paid_from_the_next_points_and_a_negative_balance_expires_nothing() -> None:
    ledger = [spend(1, 50, 0), earn(2, 80, 1)]  # redeemed offline before the points were known
    assert [(e.lot, e.points) for e in due(ledger, day(400))] == [(2, 30)]
    overdrawn = [earn(1, 40, 0), spend(2, 100, 1)]
    assert holdings(overdrawn).balance == -60 and due(overdrawn, day(400)) == []


def test_a_returns_reversal_takes_the_points_of_its_own_sale_first() -> None:
    old, new = earn(1, 100, 0, "sale-A"), earn(2, 50, 360, "sale-B")
    reversal = spend(3, 50, 361, "return_reversal", origin="sale-B")
    # The return gives back what sale B earned; sale A's 100 points are still all there.
    assert [(e.lot, e.points) for e in due([old, new, reversal], day(1))] == [(1, 100)]
    # A redemption of the same size is a spend: it takes the oldest first.
    redeem = spend(3, 50, 361)
    assert [(e.lot, e.points) for e in due([old, new, redeem], day(1))] == [(1, 50)]


def test_refunded_redemptions_and_hand_adjustments_are_lots_of_their_own() -> None:
    ledger = [
        earn(1, 100, 0),
        spend(2, 100, 5),
        Entry(3, day(300), 60, "return_refund", "s"),
        Entry(4, day(301), 25, "adjust"),
    ]
    assert [(e.lot, e.points) for e in due(ledger, day(300))] == [(3, 60)]


# -- properties --------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["earn", "earn", "redeem", "reversal", "refund", "adjust"]),
        st.integers(1, 400),
        st.integers(0, 30),  # days after the previous row
        st.sampled_from(["s1", "s2", "s3", ""]),
    ),
    max_size=40,
)


def ledger_of(ops: list[tuple[str, int, int, str]]) -> list[Entry]:
    """Ids with gaps of ten (room to split a row), times never going backwards."""
    out, at = [], 0
    for n, (kind, points, gap, origin) in enumerate(ops):
        at += gap
        i = 10 * (n + 1)
        if kind in ("earn", "refund", "adjust"):
            reason = {"earn": "earn", "refund": "return_refund", "adjust": "adjust"}[kind]
            out.append(Entry(i, day(at), points, reason, origin))
        else:
            reason = "redeem" if kind == "redeem" else "return_reversal"
            out.append(Entry(i, day(at), -points, reason, origin))
    return out


def _apply(ledger: list[Entry], expiring: list, at: dt.datetime) -> list[Entry]:
    top = max((e.entry_id for e in ledger), default=0)
    rows = [
        Entry(top + 10 * (k + 1), at, -e.points, "expiry", e.origin, lot=e.lot)
        for k, e in enumerate(expiring)
    ]
    return ledger + rows


@settings(max_examples=300, deadline=None)
@given(OPS, st.integers(0, 400))
def test_never_more_than_the_balance_and_only_old_lots(ops: list, cut_day: int) -> None:
    ledger = ledger_of(ops)
    before = day(cut_day)
    expiring = due(ledger, before)
    total = sum(e.points for e in expiring)
    assert 0 <= total <= max(0, sum(e.delta for e in ledger))
    added = {e.entry_id: e for e in ledger if e.delta > 0}
    assert len({e.lot for e in expiring}) == len(expiring)
    for e in expiring:
        assert 0 < e.points <= added[e.lot].delta and added[e.lot].at <= before


@settings(max_examples=300, deadline=None)
@given(OPS, st.integers(0, 400), st.integers(0, 400))
def test_expire_nothing_twice(ops: list, first_day: int, later: int) -> None:
    ledger = ledger_of(ops)
    first = due(ledger, day(first_day))
    after = _apply(ledger, first, day(first_day + 365))
    assert due(after, day(first_day)) == []  # the same run again: nothing
    again = due(after, day(first_day + later))  # a later run: other lots only
    assert not {e.lot for e in first} & {e.lot for e in again}
    # Once expired, every lot old enough holds nothing, and the balance fell by the total.
    held = holdings(after)
    assert all(lot.left == 0 for lot in held.lots if lot.at <= day(first_day))
    assert held.balance == sum(e.delta for e in ledger) - sum(e.points for e in first)


@settings(max_examples=300, deadline=None)
@given(OPS, st.integers(0, 400), st.data())
def test_how_a_spend_is_split_into_rows_changes_nothing(ops: list, cut_day: int, data) -> None:
    ledger = ledger_of(ops)
    spends = [k for k, e in enumerate(ledger) if e.reason == "redeem" and e.delta < -1]
    if not spends:
        return
    k = data.draw(st.sampled_from(spends))
    row = ledger[k]
    part = data.draw(st.integers(1, -row.delta - 1))
    split = [
        *ledger[:k],
        Entry(row.entry_id, row.at, -part, row.reason, row.origin),
        Entry(row.entry_id + 1, row.at, row.delta + part, row.reason, row.origin),
        *ledger[k + 1 :],
    ]
    assert due(split, day(cut_day)) == due(ledger, day(cut_day))
