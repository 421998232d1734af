"""Ingest, the API and the jobs open a new SQLite cloud database at the same moment: all start.

The demo's first start does exactly that. Schema changes used to run in deferred
transactions that read the table list and then created: the second process's lock upgrade
failed at once with "database is locked" instead of waiting, and ingest exited.
"""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from cloud.store.db import open_cloud_db


def _open(url: str, results: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        cdb = open_cloud_db(url)
        tables = len(cdb.database.get_tables())
        cdb.close()
        results.put(("ok", tables))
    except Exception as err:  # the failure is the finding: report it to the test
        results.put(("failed", f"{type(err).__name__}: {err}"))


def test_four_services_opening_a_new_database_together_all_start(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")  # a fresh interpreter each, as the services are
    for round_no in range(3):
        url = f"sqlite:///{tmp_path}/cloud-{round_no}.db"
        results = ctx.Queue()
        procs = [ctx.Process(target=_open, args=(url, results)) for _ in range(4)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert [o for o in outcomes if o[0] != "ok"] == [], outcomes
        # Every process saw the whole schema.
        assert len({tables for _, tables in outcomes}) == 1, outcomes
