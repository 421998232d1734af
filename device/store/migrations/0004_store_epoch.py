"""Schema version 4: the store file's epoch, its identity for the cloud (see docs/sync.md)."""

from typing import Any

STATEMENTS = (
    # Generation 0000 (a file as created) and 48 random bits. A file restored from a backup or
    # copied keeps this value, which is exactly what lets the cloud tell the copies apart only
    # once a technician's repair has given one of them a new epoch.
    "INSERT OR IGNORE INTO meta (key, value) VALUES "
    "('store_epoch', '0000' || lower(hex(randomblob(6))))",
)


def up(migrator: Any, db: Any) -> None:
    """Give the store file its epoch."""
    for statement in STATEMENTS:
        db.execute_sql(statement)
