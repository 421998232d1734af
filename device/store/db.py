"""Opening the store's SQLite file safely: pragmas, no silent re-creation, checks, migrations."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import peewee
from playhouse.migrations import Runner  # type: ignore[import-untyped]

from device.store.errors import (
    CorruptDatabase,
    DatabaseFull,
    MissingDatabase,
    SchemaError,
    StoreError,
    translate,
)

MIGRATIONS_DIR: Final = Path(__file__).with_name("migrations")
HISTORY_TABLE: Final = "schema_migration"
SQLITE_MAGIC: Final = b"SQLite format 3\x00"
FILE_MODE: Final = 0o600  # the member cache is readable only by the service user
DIR_MODE: Final = 0o700
CHECKS: Final = ("quick", "full", "background", "none")
HEADROOM_MESSAGE: Final = (
    "storage full: a sale cannot be recorded now, so do not take payment; "
    "free space or call support"
)


@dataclass(frozen=True, slots=True)
class DbOptions:
    """How a database is opened; the defaults are the production settings."""

    busy_timeout_ms: int = 10_000
    cache_mb: int = 64  # page cache per connection; the member indexes stay hot in it
    # Integrity check at open: "quick" | "full" | "none", or "background": the file's header and
    # schema are read at open and PRAGMA quick_check runs later (verify_in_background), because
    # on a chain-sized cache it walks the whole file (~0.3 s per 200 MB) before the till is up.
    check: str = "quick"
    max_pages: int | None = None  # PRAGMA max_page_count; tests use it to make SQLITE_FULL real
    migrate_to: str | None = None  # stop migrations after this one (tests build old databases)
    headroom_pages: int = 256  # pages that must be allocatable before payment (1 MiB at 4 KiB)
    headroom_bytes: int = 16 * 1024 * 1024  # free disk for the WAL to grow into
    # synchronous=FULL: each commit is on disk before it returns (sales, returns, everything
    # the till records). The sync thread's own connection may run NORMAL instead: what it
    # writes (downstream caches with their stream version, ACKs and pruning, a sync halt) is
    # fetched or redone after a power cut, never lost (the one event it writes, ``seqs_lost``,
    # is committed FULL: it takes a seq), and a FULL commit of the till's syncs
    # the WAL with it. Skipping one fsync per applied change is what makes a catch-up of
    # 100,000 member changes take seconds, not minutes, beside a selling till.
    durable: bool = True


class Database:
    """One open store file: a peewee database (one connection per thread) and its helpers."""

    def __init__(self, path: Path, pw: peewee.SqliteDatabase, options: DbOptions) -> None:
        self.path = path
        self.pw = pw
        self.options = options
        # Set once by the background check when it finds damage; every write is refused after.
        self.problem: str | None = None

    def conn(self) -> sqlite3.Connection:
        """This thread's raw sqlite3 connection (the same one peewee's queries use)."""
        try:
            return self.pw.connection()  # type: ignore[no-any-return, no-untyped-call]
        except (sqlite3.Error, peewee.PeeweeException) as exc:
            raise translate(exc, str(self.path)) from exc

    @contextmanager
    def write(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE .. COMMIT); any failure rolls all of it back.

        Hand-written rather than peewee's ``atomic()`` because after SQLITE_FULL SQLite may
        already have rolled the transaction back itself, and the ROLLBACK peewee then issues
        fails and hides the real cause; here the original error is what the caller sees.
        ``durable`` commits this one transaction with synchronous=FULL on a connection opened
        without it (what must survive a power cut, such as an event taking a seq).
        """
        if self.problem is not None:
            raise CorruptDatabase(self.problem)
        if durable and not self.options.durable:
            with self._full_sync(), self.write() as conn:
                yield conn
            return
        conn = self.conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise translate(exc, str(self.path)) from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                # The error being raised already says what went wrong.
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            if isinstance(exc, (sqlite3.Error, peewee.PeeweeException)):
                raise translate(exc, str(self.path)) from exc
            raise

    @contextmanager
    def _full_sync(self) -> Iterator[None]:
        conn = self.conn()
        mode = int(conn.execute("PRAGMA synchronous").fetchone()[0])
        conn.execute("PRAGMA synchronous = FULL")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA synchronous = {mode}")

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read and return every row, with driver errors translated."""
        try:
            return self.conn().execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise translate(exc, str(self.path)) from exc

    def row(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """Run a read and return its first row or None (the lookups' hot path)."""
        try:
            found: tuple[Any, ...] | None = self.conn().execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            raise translate(exc, str(self.path)) from exc
        return found

    def integrity_check(self, quick: bool = False) -> list[str]:
        """Problems SQLite finds in the file; ``[]`` when it is healthy."""
        pragma = "quick_check" if quick else "integrity_check"
        rows = [str(r[0]) for r in self.query(f"PRAGMA {pragma}")]
        return [] if rows == ["ok"] else rows

    def verify(self) -> str | None:
        """Run PRAGMA quick_check now; on damage remember it (writes are refused) and return it."""
        try:
            problems = self.integrity_check(quick=True)
            if problems:
                self.problem = _corrupt_message(self.path, problems)
        except StoreError as exc:  # "database disk image is malformed" and the like
            self.problem = str(exc)
        finally:
            self.close()  # this thread's own connection
        return self.problem

    def verify_in_background(self, on_problem: Callable[[str], None]) -> threading.Thread | None:
        """With ``check="background"``, run :meth:`verify` on a thread of its own.

        ``on_problem`` gets the message when the file is damaged. Returns the thread, or None
        when this database was already checked at open.
        """
        if self.options.check != "background":
            return None

        def run() -> None:
            problem = self.verify()
            if problem is not None:
                on_problem(problem)

        thread = threading.Thread(target=run, name="store-check", daemon=True)
        thread.start()
        return thread

    def schema_version(self) -> int:
        """The number of the newest migration applied (1 for the first schema)."""
        rows = self.query(f"SELECT name FROM {HISTORY_TABLE}")
        return max((int(name.split("_", 1)[0]) for (name,) in rows), default=0)

    def headroom(self) -> tuple[int, int]:
        """(pages SQLite may still allocate, free bytes on the file's disk)."""
        conn = self.conn()
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
        max_pages = conn.execute("PRAGMA max_page_count").fetchone()[0]
        freelist = conn.execute("PRAGMA freelist_count").fetchone()[0]
        stats = os.statvfs(self.path.parent)
        return max_pages - page_count + freelist, stats.f_bavail * stats.f_frsize

    def check_headroom(self) -> None:
        """Raise DatabaseFull when a sale might not fit; call before taking payment.

        A file the background check found damaged raises CorruptDatabase here, so the cashier
        learns it before taking payment rather than at the commit.
        """
        if self.problem is not None:
            raise CorruptDatabase(self.problem)
        pages, free_bytes = self.headroom()
        if pages < self.options.headroom_pages or free_bytes < self.options.headroom_bytes:
            raise DatabaseFull(HEADROOM_MESSAGE)

    def close(self) -> None:
        """Close this thread's connection (other threads close their own)."""
        if not self.pw.is_closed():
            self.pw.close()


def _pragmas(options: DbOptions) -> list[tuple[str, Any]]:
    pragmas: list[tuple[str, Any]] = [
        ("journal_mode", "wal"),
        # FULL: a commit is on disk (WAL fsync'd) before COMMIT returns; the receipt prints after.
        ("synchronous", "full" if options.durable else "normal"),
        ("foreign_keys", 1),
        ("busy_timeout", options.busy_timeout_ms),
        ("cache_size", -1024 * options.cache_mb),
        # Keep the WAL from staying huge after a snapshot load.
        ("journal_size_limit", 64 * 1024 * 1024),
        # SQLite's default, chosen on measurement: a checkpoint runs inside the commit that
        # crosses the mark (every ~125 sales) and counts in the sale commit p99. Off (0), the
        # WAL only grows and each commit's fsync must also extend the file: p50 +50%. At 4000
        # pages each checkpoint is four times longer: p99 ~8 ms instead of ~1-3 ms.
        ("wal_autocheckpoint", 1000),
    ]
    if options.max_pages is not None:
        pragmas.append(("max_page_count", options.max_pages))
    return pragmas


def _check_file(path: Path, create: bool) -> bool:
    """Refuse a missing or non-SQLite file; return True when a fresh file must be initialised."""
    if not path.exists():
        if not create:
            raise MissingDatabase(
                f"database file {path} missing; run provisioning or restore from backup"
            )
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        os.close(fd)
        return True
    if not path.is_file():
        raise CorruptDatabase(f"database path {path} is not a regular file")
    size = path.stat().st_size
    if size == 0:
        if create:
            return True
        # SQLite would happily treat an empty file as a new database: never do that here.
        raise CorruptDatabase(
            f"database file {path} is empty (interrupted provisioning or a lost file); "
            "restore from backup or re-provision"
        )
    with path.open("rb") as fh:
        header = fh.read(len(SQLITE_MAGIC))
    if header != SQLITE_MAGIC:
        raise CorruptDatabase(
            f"database file {path} is not a SQLite database (bad header); "
            "restore from backup or re-provision (the file was left untouched)"
        )
    return False


def _corrupt_message(path: Path, problems: list[str]) -> str:
    return (
        f"database file {path} failed its integrity check ({'; '.join(problems[:3])}); "
        "restore from backup or re-provision (the file was left untouched)"
    )


def _restrict_permissions(path: Path) -> None:
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with suppress(FileNotFoundError):
            os.chmod(candidate, FILE_MODE)


def _migrate(pw: peewee.SqliteDatabase, path: Path, fresh: bool, target: str | None) -> None:
    if not fresh and HISTORY_TABLE not in pw.get_tables():
        raise SchemaError(
            f"{path} is a SQLite file but not a terminal store (no schema history); "
            "re-provision or restore from backup"
        )
    runner = Runner(pw, directory=str(MIGRATIONS_DIR), table_name=HISTORY_TABLE)
    unknown = [m.name for m in runner.status() if m.path is None]
    if unknown:
        raise SchemaError(
            f"{path} was written by newer software (unknown migrations {', '.join(unknown)}); "
            "update this terminal's software"
        )
    runner.up(target=target)


def open_database(
    path: str | os.PathLike[str], *, create: bool = False, options: DbOptions | None = None
) -> Database:
    """Open (or, with ``create=True``, initialise) the store file and bring its schema up to date.

    A missing, empty or foreign file is reported, never silently replaced: the file holds
    sales that may not have reached the cloud yet.
    """
    opts = options or DbOptions()
    if opts.check not in CHECKS:
        raise StoreError(f"unknown integrity check {opts.check!r}; use one of {', '.join(CHECKS)}")
    db_path = Path(path).resolve()
    fresh = _check_file(db_path, create)
    pw = peewee.SqliteDatabase(
        str(db_path),
        pragmas=_pragmas(opts),
        timeout=opts.busy_timeout_ms / 1000,
        lock_type="IMMEDIATE",
        thread_safe=True,
    )
    database = Database(db_path, pw, opts)
    try:
        mode = database.conn().execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{db_path}: could not switch to WAL mode (got {mode!r})")
        if opts.check in ("quick", "full") and not fresh:
            problems = database.integrity_check(quick=opts.check == "quick")
            if problems:
                raise CorruptDatabase(_corrupt_message(db_path, problems))
        _migrate(pw, db_path, fresh, opts.migrate_to)
    except BaseException as exc:
        if not pw.is_closed():
            pw.close()
        if isinstance(exc, (sqlite3.Error, peewee.PeeweeException)):
            raise translate(exc, str(db_path)) from exc
        raise
    _restrict_permissions(db_path)
    return database
