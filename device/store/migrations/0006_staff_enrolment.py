"""Schema version 6: staff managed by HQ: a one-time code for the first sign-in, active flag."""

from typing import Any

STATEMENTS = (
    # The slow hash of the one-time code HQ issued, until the person sets their PIN with it.
    "ALTER TABLE staff ADD COLUMN code_hash TEXT",
    "ALTER TABLE staff ADD COLUMN code_expires TEXT",
    # The code this till consumed: a later HQ change still naming it must not undo the PIN.
    "ALTER TABLE staff ADD COLUMN code_used TEXT",
    "ALTER TABLE staff ADD COLUMN active INTEGER NOT NULL DEFAULT 1",
)


def up(migrator: Any, db: Any) -> None:
    """Add the enrolment columns to the staff table."""
    for statement in STATEMENTS:
        db.execute_sql(statement)
