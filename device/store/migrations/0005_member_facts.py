"""Schema version 5: the cloud's member facts on the till (revision, what they include, returns)."""

from typing import Any

STATEMENTS = (
    # rev: the cloud's revision of the member's facts (0: never pushed; older pushes are
    # skipped). asof_prefix/asof_extras: which of this till's seqs the cloud's values held,
    # so points_balance, cumulative_spend_fen and returns_30d stay the cloud's value plus
    # this till's own events the cloud had not counted yet (docs/loyalty.md).
    "ALTER TABLE member ADD COLUMN rev INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE member ADD COLUMN asof_prefix INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE member ADD COLUMN asof_extras TEXT NOT NULL DEFAULT '[]'",
    "ALTER TABLE member ADD COLUMN returns_30d INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE member ADD COLUMN gender TEXT NOT NULL DEFAULT ''",
    # A push rebases one member on this till's own events for it: found through this index
    # (one more B-tree entry per member sale; returns already have one by member).
    "CREATE INDEX sale_member_idx ON sale (member_id, seq) WHERE member_id IS NOT NULL",
)


def up(migrator: Any, db: Any) -> None:
    """Add the member fact columns."""
    for statement in STATEMENTS:
        db.execute_sql(statement)
