"""Receipt numbers in a till's order: (day, counter) compared as numbers, suspects sorted out."""

from __future__ import annotations

from cloud.domain.receipt_numbers import highest, order_key, screen


def test_numbers_sort_by_day_then_counter_as_a_number() -> None:
    keys = [order_key(n) for n in ("S001-T01-20261123-9999", "S001-T01-20261123-10000",
                                   "S001-T01-20261124-0001")]  # fmt: skip
    assert None not in keys and keys == sorted(keys) and len(set(keys)) == 3
    assert order_key("S001-T01-20261123-0007") == order_key("X-20261123-7")


def test_numbers_in_another_form_have_no_key() -> None:
    for number in ("", "R-7", "S001-T01-1", "S001-T01-2026112-0001", "S001-T01-20261123-",
                   "S001-T01-20261123-12345678901", "S001-T01-20261123-0001 ",
                   "S001-T01-２０２６１１２３-0001"):  # fmt: skip
        assert order_key(number) is None, number
    assert highest(["R-7", ""]) == 0


def test_only_numbers_above_the_mark_and_everything_before_them_pass() -> None:
    mark = highest(["T-20261123-0003"])
    got = screen(mark, ["T-20261123-0004", "T-20261123-0002", "T-20261123-0005", "R-1",
                        "T-20261123-0005", "T-20261123-0006"])  # fmt: skip
    assert got.suspects == {"T-20261123-0002", "R-1", "T-20261123-0005"}
    assert got.mark == order_key("T-20261123-0006")
    assert screen(mark, []).mark == mark
    assert screen(mark, ["T-20261123-0003"]).suspects == {"T-20261123-0003"}
