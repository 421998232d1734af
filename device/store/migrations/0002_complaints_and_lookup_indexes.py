"""Schema version 2: complaints table; indexes for per-member return counts and unsynced points."""

from typing import Any

STATEMENTS = (
    # Abuse limit: "returns by this member in the last 30 days" without a journal scan.
    "CREATE INDEX sale_return_member_idx ON sale_return (member_id, device_time)",
    # Offline redemption bound: "points this member redeemed here that the cloud has not acked".
    "CREATE INDEX points_ledger_member_idx ON points_ledger (member_id, seq)",
    """CREATE TABLE complaint (
        complaint_id TEXT PRIMARY KEY, member_id TEXT, sale_id TEXT REFERENCES sale (sale_id),
        staff_id TEXT NOT NULL, text TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
        device_time TEXT NOT NULL, seq INTEGER NOT NULL,
        CHECK (member_id IS NOT NULL OR sale_id IS NOT NULL)) WITHOUT ROWID""",
)


def up(migrator: Any, db: Any) -> None:
    """Add the version-2 indexes and the complaint table."""
    for statement in STATEMENTS:
        db.execute_sql(statement)
