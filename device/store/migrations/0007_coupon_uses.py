"""Schema version 7: coupons with stores, use limits and the cloud's count; this till's uses."""

from typing import Any

STATEMENTS = (
    # stores: JSON list of store ids where the coupon may be used ([]: every store);
    # cloud_uses: the uses the cloud had counted when it last pushed the coupon.
    "ALTER TABLE coupon ADD COLUMN stores TEXT NOT NULL DEFAULT '[]'",
    "ALTER TABLE coupon ADD COLUMN max_uses INTEGER NOT NULL DEFAULT 1",
    "ALTER TABLE coupon ADD COLUMN cloud_uses INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE coupon ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0",
    # One row per coupon a sale here used, by the sale's seq: while the seq is still in the
    # outbox the cloud has not counted it, so the till adds it to cloud_uses itself.
    # confirmed: HQ confirmed the use online (it holds that use); 0: taken offline.
    """CREATE TABLE coupon_use (
        code TEXT NOT NULL, seq INTEGER NOT NULL, sale_id TEXT NOT NULL,
        confirmed INTEGER NOT NULL, PRIMARY KEY (code, seq)) WITHOUT ROWID""",
    """INSERT OR IGNORE INTO coupon_use (code, seq, sale_id, confirmed)
        SELECT c.code, s.seq, s.sale_id, 0 FROM coupon AS c
        JOIN sale AS s ON s.sale_id = c.redeemed_sale_id""",
)


def up(migrator: Any, db: Any) -> None:
    """Add the coupon columns and the table of this till's coupon uses."""
    for statement in STATEMENTS:
        db.execute_sql(statement)
