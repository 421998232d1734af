"""Switch a SQLite cloud database to WAL at open, waiting out a switch another process makes."""

from __future__ import annotations

import time
from typing import Final

import peewee as pw

from cloud.store.errors import CloudStoreError

#: How long an opening process waits for another to finish creating or switching the file.
WAL_WAIT_S: Final = 30.0
_FIRST_PAUSE_S: Final = 0.01
_LONGEST_PAUSE_S: Final = 0.25


def use_wal(database: pw.SqliteDatabase, wait_s: float = WAL_WAIT_S) -> None:
    """Put the open database in WAL mode (a no-op once the file is: the mode is kept in it).

    Switching a new file needs it alone for a moment, and SQLite answers "database is locked"
    at once, without its busy handler, while another process (ingest, the API and the jobs
    opening a new database together, as the demo's first start does) is switching or
    creating it; so the switch is tried again, with growing pauses, until ``wait_s``.
    """
    deadline = time.monotonic() + wait_s
    pause = _FIRST_PAUSE_S
    while True:
        try:
            mode = database.execute_sql("PRAGMA journal_mode = wal").fetchone()[0]
        except pw.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE_S)
            continue
        if str(mode).lower() not in ("wal", "memory"):
            raise CloudStoreError(f"{database.database}: could not switch to WAL (mode {mode})")
        return
