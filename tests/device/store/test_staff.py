"""Staff PINs: argon2 hashes at rest, counted failures, lockouts that survive a restart."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from device.checkout.records import Role, Staff
from device.store.errors import InvalidRecord
from device.store.store import Store
from tests.device.store.builders import FakeClock, store_config


def test_correct_pin_signs_in_and_the_pin_is_not_stored_in_clear(store: Store) -> None:
    store.staff.add_staff("C01", "李雷", Role.CASHIER, "4821")
    result = store.staff.verify("C01", "4821")
    assert result.ok and result.staff == Staff("C01", "李雷", Role.CASHIER)
    [(digest,)] = store.db.query("SELECT pin_hash FROM staff")
    assert digest.startswith("$argon2id$") and "4821" not in digest


def test_unknown_staff_and_bad_pins_get_clear_reasons(store: Store) -> None:
    assert store.staff.verify("X9", "0000").reason == "unknown staff number or wrong PIN"
    with pytest.raises(InvalidRecord, match="4 to 8 digits"):
        store.staff.add_staff("C02", "韩梅梅", Role.CASHIER, "12a4")


def test_lockout_persists_across_a_restart_and_expires(db_path: Path, clock: FakeClock) -> None:
    s = Store.open(db_path, store_config(), create=True, clock=clock)
    s.staff.add_staff("C01", "李雷", Role.CASHIER, "4821")
    lefts = [s.staff.verify("C01", "0000").attempts_left for _ in range(4)]
    assert lefts == [4, 3, 2, 1]
    s.close()

    s = Store.open(db_path, store_config(), clock=clock)  # a reboot does not reset the count
    locked = s.staff.verify("C01", "1111")
    assert not locked.ok
    assert locked.locked_until == clock.now() + dt.timedelta(minutes=15)
    assert locked.reason == "too many wrong PINs: locked until 10:15"  # Shanghai time
    s.close()

    s = Store.open(db_path, store_config(), clock=clock)
    assert not s.staff.verify("C01", "4821").ok  # even the right PIN waits out the lock
    events = [e.type for e in s.outbox_pending()]
    assert events == ["audit"]  # the lockout is audited and reaches HQ
    clock.advance(minutes=15, seconds=1)
    result = s.staff.verify("C01", "4821")
    assert result.ok
    assert s.staff.verify("C01", "0000").attempts_left == 4  # a fresh count after success
    s.close()


def test_set_pin_clears_a_lockout(store: Store) -> None:
    store.staff.add_staff("M01", "王经理", Role.MANAGER, "9999")
    for _ in range(5):
        store.staff.verify("M01", "0000")
    assert store.staff.verify("M01", "9999").locked_until is not None
    store.staff.set_pin("M01", "2468")
    assert store.staff.verify("M01", "2468").ok
    with pytest.raises(InvalidRecord, match="no staff member"):
        store.staff.set_pin("NOBODY", "2468")
