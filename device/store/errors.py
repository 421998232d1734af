"""The store's one exception base and its cases, each with a reason someone can act on."""

from __future__ import annotations

import sqlite3
from typing import Final

# Primary result codes (the low byte of an extended code), from https://sqlite.org/rescode.html
SQLITE_CORRUPT: Final = 11
SQLITE_FULL: Final = 13
SQLITE_NOTADB: Final = 26
SQLITE_IOERR: Final = 10
SQLITE_BUSY: Final = 5

FULL_MESSAGE: Final = "storage full: the sale was NOT recorded; free space or call support"


class StoreError(Exception):
    """Base for every error the store raises; ``str(err)`` is readable as it stands."""


class MissingDatabase(StoreError):
    """The database file is not there and the caller did not ask to create one."""


class CorruptDatabase(StoreError):
    """The database file exists but is not a healthy SQLite database."""


class DatabaseFull(StoreError):
    """No room to record: the disk or the page limit is exhausted; nothing was written."""

    def __init__(self, message: str = FULL_MESSAGE) -> None:
        super().__init__(message)


class StorageBusy(StoreError):
    """Another writer held the database longer than the busy timeout; nothing was written."""


class SchemaError(StoreError):
    """The database schema does not match this software (too new, or a migration failed)."""


class SnapshotError(StoreError):
    """A bulk snapshot could not be loaded; the previous cache is still in place."""


class InvalidRecord(StoreError):
    """A record handed to the store is inconsistent or refers to something unknown."""


def sqlite_cause(exc: BaseException) -> sqlite3.Error | None:
    """Find the sqlite3 error behind ``exc`` (peewee wraps it as its first argument)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.Error):
            return current
        if current.args and isinstance(current.args[0], sqlite3.Error):
            return current.args[0]
        current = current.__cause__ or current.__context__
    return None


def translate(exc: BaseException, path: str = "") -> StoreError:
    """Turn a database-driver error into the store's own error with an actionable message."""
    if isinstance(exc, StoreError):
        return exc
    cause = sqlite_cause(exc)
    code = getattr(cause, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    where = f" ({path})" if path else ""
    if primary == SQLITE_FULL:
        return DatabaseFull()
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return CorruptDatabase(
            f"database file is corrupt{where}: {cause}; restore from backup or re-provision "
            "(the file was left untouched)"
        )
    if primary == SQLITE_BUSY:
        return StorageBusy(f"database busy{where}: another writer held it too long; try again")
    if primary == SQLITE_IOERR:
        return StoreError(f"storage I/O error{where}: {cause}; check the SD card or disk")
    return StoreError(f"database error{where}: {cause or exc}")
