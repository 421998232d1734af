"""Opening the file: pragmas, permissions, refusals (missing, empty, corrupt), migrations."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from device.store.db import DbOptions, open_database
from device.store.errors import CorruptDatabase, MissingDatabase, SchemaError, StoreError
from device.store.store import Store
from tests.device.store.builders import FakeClock, make_sale, store_config


def test_pragmas_are_wal_full_sync_and_foreign_keys(store: Store) -> None:
    conn = store.db.conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000


def test_the_sync_connection_skips_the_fsync_the_tills_never_does(
    store: Store, db_path: Path
) -> None:
    # Wired as device.wiring.start_sync opens it: what sync writes is fetched or redone.
    sync = open_database(db_path, options=DbOptions(check="none", durable=False))
    try:
        assert sync.conn().execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert store.db.conn().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        # What takes a seq there (a seqs_lost event) commits FULL all the same, and only it.
        with sync.write(durable=True) as conn:
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        with sync.write() as conn:
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    finally:
        sync.close()


def test_file_and_wal_are_readable_only_by_the_owner(store: Store, db_path: Path) -> None:
    store.record_sale(make_sale(1))
    for path in (db_path, Path(f"{db_path}-wal")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_missing_file_is_reported_not_created(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    with pytest.raises(MissingDatabase, match=r"gone\.db missing; run provisioning or restore"):
        open_database(path)
    assert not path.exists()


def test_empty_file_is_refused_rather_than_treated_as_new(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    path.write_bytes(b"")
    with pytest.raises(CorruptDatabase, match="is empty"):
        open_database(path)
    assert path.read_bytes() == b""


def test_garbage_file_is_reported_corrupt_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    garbage = b"this is not a database at all\n" * 200
    path.write_bytes(garbage)
    with pytest.raises(CorruptDatabase, match="not a SQLite database"):
        open_database(path, create=True)
    assert path.read_bytes() == garbage


def test_damaged_pages_fail_the_integrity_check_at_open(db_path: Path, clock: FakeClock) -> None:
    s = Store.open(db_path, store_config(), create=True, clock=clock)
    for i in range(200):
        s.record_sale(make_sale(5, seed=i))
    s.db.conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    s.close()
    page = 4096
    size = db_path.stat().st_size
    with db_path.open("r+b") as fh:  # scribble over the middle pages, keep the header
        for offset in range(page * 3, size - page, page * 5):
            fh.seek(offset + 10)
            fh.write(os.urandom(200))
    before = db_path.read_bytes()
    with pytest.raises(CorruptDatabase, match="restore from backup"):
        Store.open(db_path, store_config(), clock=clock)
    assert db_path.read_bytes() == before


def test_a_foreign_sqlite_file_is_not_adopted(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (t TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match="not a terminal store"):
        open_database(path)


def test_another_terminals_file_is_refused(db_path: Path, clock: FakeClock) -> None:
    Store.open(db_path, store_config(), create=True, clock=clock).close()
    other = store_config()
    other = type(other)(terminal_id="S001-T02", pin_policy=other.pin_policy, db=other.db)
    with pytest.raises(StoreError, match="belongs to terminal S001-T01"):
        Store.open(db_path, other, clock=clock)


def test_a_file_from_newer_software_is_refused(db_path: Path) -> None:
    db = open_database(db_path, create=True)
    with db.write() as conn:
        conn.execute(
            "INSERT INTO schema_migration (name, applied) VALUES ('0099_future', '2030-01-01')"
        )
    db.close()
    with pytest.raises(SchemaError, match="newer software"):
        open_database(db_path, options=DbOptions(check="none"))


def _damage_pages_read_only_by_the_check(path: Path) -> None:
    """Add a table nothing at start reads, then overwrite its pages' headers.

    The file still opens (header, schema and the terminal's own tables are intact); only a
    walk over every page, as PRAGMA quick_check does, finds the damage.
    """
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")  # no free pages: the new table's pages go at the end of the file
    first = conn.execute("PRAGMA page_count").fetchone()[0] + 1
    conn.execute("CREATE TABLE filler (x TEXT)")
    conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(400)])
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    last = conn.execute("PRAGMA page_count").fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as fh:
        for number in range(first + 1, last + 1):  # keep the root page, break its children
            fh.seek((number - 1) * page)
            fh.write(b"\xff" * 64)


def _seeded_then_damaged(db_path: Path, clock: FakeClock) -> None:
    s = Store.open(db_path, store_config(), create=True, clock=clock)
    for i in range(20):
        s.record_sale(make_sale(3, seed=i))
    s.close()
    _damage_pages_read_only_by_the_check(db_path)


def test_damage_found_by_the_background_check_is_reported_and_refuses_sales(
    db_path: Path, clock: FakeClock
) -> None:
    _seeded_then_damaged(db_path, clock)
    with pytest.raises(CorruptDatabase, match="restore from backup"):
        Store.open(db_path, store_config(), clock=clock)  # the check at open still finds it
    s = Store.open(db_path, store_config(check="background"), clock=clock)
    try:
        found: list[str] = []
        thread = s.db.verify_in_background(found.append)
        assert thread is not None
        thread.join(30)
        assert len(found) == 1
        assert str(db_path.resolve()) in found[0] and "corrupt" in found[0]
        assert "restore from backup or re-provision" in found[0]
        with pytest.raises(CorruptDatabase, match="corrupt"):
            s.check_headroom()  # before payment is taken
        with pytest.raises(CorruptDatabase, match="corrupt"):
            s.record_sale(make_sale(2, seed=99))
        assert s.db.query("SELECT count(*) FROM sale") == [(20,)]
    finally:
        s.close()


def test_a_healthy_file_passes_the_background_check_and_keeps_selling(
    db_path: Path, clock: FakeClock
) -> None:
    s = Store.open(db_path, store_config(), create=True, clock=clock)
    s.record_sale(make_sale(2, seed=1))
    s.close()
    s = Store.open(db_path, store_config(check="background"), clock=clock)
    try:
        found: list[str] = []
        thread = s.db.verify_in_background(found.append)
        assert thread is not None
        thread.join(30)
        assert found == [] and s.db.problem is None
        s.check_headroom()
        s.record_sale(make_sale(2, seed=2))
        assert s.db.query("SELECT count(*) FROM sale") == [(2,)]
    finally:
        s.close()


def test_a_file_checked_at_open_starts_no_second_check(store: Store) -> None:
    assert store.db.verify_in_background(lambda _message: None) is None


def test_an_unknown_check_mode_is_refused(db_path: Path) -> None:
    with pytest.raises(StoreError, match="unknown integrity check 'sometimes'"):
        open_database(db_path, create=True, options=DbOptions(check="sometimes"))
    assert not db_path.exists()
