"""The change log's per-scope previous versions, on SQLite and PostgreSQL."""

from __future__ import annotations

from cloud.store.db import CloudDB, utcnow
from cloud.store.downstream import append_linked_change, changes_since


def _append(cdb: CloudDB, scope: str, stream: str = "prices") -> tuple[int, dict[str, int] | None]:
    with cdb.write():
        return append_linked_change(cdb, stream, scope, "upsert", [{"sku": "A"}], utcnow())


def test_each_change_names_what_its_receivers_got_before_it(cloud_db: CloudDB) -> None:
    # Interleaved by hand: versions 1..7 of one stream across "all", S001 and S002.
    assert _append(cloud_db, "all") == (1, {"all": 0})
    assert _append(cloud_db, "S002") == (2, {"all": 1, "S002": 0})
    assert _append(cloud_db, "S001") == (3, {"all": 1, "S001": 0})
    assert _append(cloud_db, "S002") == (4, {"all": 1, "S002": 2})
    # For all: the last change for all, and each store with a change of its own since.
    assert _append(cloud_db, "all") == (5, {"all": 1, "S001": 3, "S002": 4})
    assert _append(cloud_db, "S001") == (6, {"all": 5, "S001": 3})
    # S002 had nothing since version 5: version 5 covers it.
    assert _append(cloud_db, "all") == (7, {"all": 5, "S001": 6})
    # Another stream counts on its own.
    assert _append(cloud_db, "S001", stream="catalogue") == (1, {"all": 0, "S001": 0})
    assert [c["version"] for c in changes_since(cloud_db, "prices", "S001", 0)] == [1, 3, 5, 6, 7]
