"""Schema version 2: a complaints table, and an index for counting a member's recent returns."""

from typing import Any

STATEMENTS = (
    # Abuse limit: "returns by this member in the last 30 days" without a journal scan.
    "CREATE INDEX sale_return_member_idx ON sale_return (member_id, device_time)",
    """CREATE TABLE complaint (
        complaint_id TEXT PRIMARY KEY, member_id TEXT, sale_id TEXT REFERENCES sale (sale_id),
        staff_id TEXT NOT NULL, text TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
        device_time TEXT NOT NULL, seq INTEGER NOT NULL,
        CHECK (member_id IS NOT NULL OR sale_id IS NOT NULL)) WITHOUT ROWID""",
)


def up(migrator: Any, db: Any) -> None:
    """Add the version-2 index and the complaint table."""
    for statement in STATEMENTS:
        db.execute_sql(statement)
