"""First sign-in at the till: HQ's one-time code, then the person's own PIN, kept as a slow hash."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher

from device.store.bulk import SnapshotError
from device.store.staff import PinPolicy
from device.store.staff_stream import apply_staff
from device.store.store import Store, StoreConfig

CODE = "31415926"
HQ = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # what HQ hashed the code with


@pytest.fixture
def store(tmp_path: Path) -> Any:
    config = StoreConfig(terminal_id="S001-T01", pin_policy=PinPolicy.for_tests())
    s = Store.open(tmp_path / "t.db", config, create=True)
    yield s
    s.close()


def _item(staff_id: str = "2003", **kw: Any) -> dict[str, Any]:
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    base = {"staff_id": staff_id, "name": "王芳", "role": "cashier",
            "code_hash": HQ.hash(CODE), "code_expires": later}  # fmt: skip
    return base | kw


def _outbox(store: Store) -> list[tuple[str, str]]:
    return [(str(t), str(b)) for t, b in store.db.query("SELECT type, body FROM outbox")]


def test_the_code_then_a_new_pin_signs_in_and_only_a_hash_is_kept(store: Store) -> None:
    item = _item()
    apply_staff(store.db, [item], version=1)
    first = store.staff.verify("2003", CODE)
    assert not first.ok and first.needs_new_pin
    done = store.staff.verify("2003", CODE, "2468")
    assert done.ok and done.staff is not None and done.staff.name == "王芳"
    [(pin_hash,)] = store.db.query("SELECT pin_hash FROM staff WHERE staff_id = '2003'")
    assert str(pin_hash).startswith("$argon2id$") and PasswordHasher().verify(pin_hash, "2468")
    [(kind, body)] = _outbox(store)
    assert kind == "staff_pin_set" and "2468" not in body and CODE not in body
    assert pin_hash in body and item["code_hash"] in body
    assert store.staff.verify("2003", "2468").ok
    assert not store.staff.verify("2003", CODE).ok  # the code is spent


def test_a_wrong_code_counts_towards_the_lockout(store: Store) -> None:
    apply_staff(store.db, [_item()], version=1)
    wrong = store.staff.verify("2003", "00000000", "2468")
    assert not wrong.ok and not wrong.needs_new_pin and wrong.attempts_left == 4
    assert _outbox(store) == []


def test_a_short_new_pin_is_asked_for_again(store: Store) -> None:
    apply_staff(store.db, [_item()], version=1)
    short = store.staff.verify("2003", CODE, "12")
    assert not short.ok and short.needs_new_pin and "4 to 8 digits" in short.reason


def test_expired_code_disabled_account_and_no_code_say_why(store: Store) -> None:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    no_code = _item("2005", code_hash=None, code_expires=None)
    items = [_item("2003", code_expires=past), _item("2004", active=False), no_code]
    apply_staff(store.db, items, version=1)
    assert "expired" in store.staff.verify("2003", CODE).reason
    assert "disabled at HQ" in store.staff.verify("2004", CODE).reason
    assert "ask HQ for a one-time code" in store.staff.verify("2005", CODE).reason


def test_an_older_change_naming_the_spent_code_keeps_the_pin_set_here(store: Store) -> None:
    item = _item()
    apply_staff(store.db, [item], version=1)
    assert store.staff.verify("2003", CODE, "2468").ok
    apply_staff(store.db, [item | {"name": "王芳芳"}], version=2)  # sent before HQ heard
    assert store.staff.verify("2003", "2468").ok
    assert store.staff.get("2003").name == "王芳芳"  # type: ignore[union-attr]
    # HQ then reports a PIN set at another till: that one applies.
    other = HQ.hash("8642")
    apply_staff(store.db, [item | {"pin_hash": other, "code_hash": None, "code_expires": None}],
                version=3)  # fmt: skip
    assert store.staff.verify("2003", "8642").ok and not store.staff.verify("2003", "2468").ok


def test_a_snapshot_deactivates_those_it_leaves_out_and_bad_rows_change_nothing(
    store: Store,
) -> None:
    apply_staff(store.db, [_item("2003"), _item("2004")], version=1)
    apply_staff(store.db, [_item("2003")], version=2, replace=True)
    assert "disabled" in store.staff.verify("2004", CODE).reason
    with pytest.raises(SnapshotError, match="staff row 1"):
        apply_staff(store.db, [_item("2006"), _item("2007", pin_hash="2468")], version=3)
    assert store.staff.get("2006") is None  # all or nothing


def test_the_till_asks_for_a_pin_at_the_first_sign_in_then_signs_in(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from device.config import dump_config
    from tests.device.harness import seeded_store, terminal_config

    cfg = terminal_config(tmp_path)
    store = seeded_store(cfg)
    apply_staff(store.db, [_item()], version=1)
    store.close()
    config = tmp_path / "terminal.toml"
    config.write_text(dump_config(cfg))
    root = Path(__file__).resolve().parents[3]
    proc = subprocess.Popen([sys.executable, "-m", "device", "--config", str(config),
                             "--headless"], cwd=root, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None

    def login(**args: str) -> dict[str, Any]:
        proc.stdin.write(json.dumps({"event": "Login", "args": args}) + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        return dict(json.loads(proc.stdout.readline()))  # type: ignore[union-attr]

    try:
        assert "ready" in json.loads(proc.stdout.readline())
        first = login(staff_id="2003", pin=CODE)
        assert (first["phase"], first["notice_key"]) == ("logged_out", "login.set_pin")
        done = login(staff_id="2003", pin=CODE, new_pin="2468")
        assert done["phase"] != "logged_out" and done["notice_key"] == "login.ok"
    finally:
        proc.stdin.close()
        proc.wait(30)
