"""Schema version 3: a sale is one row holding its event body; old sale tables become views."""

from typing import Any

# Why: a sale used to touch four tables and their B-trees, and wrote its lines twice (rows,
# and again in the outbox body): about 17 WAL pages per commit. Now the sale row carries the
# event body (the record as JSON, lines, tenders and points included) and the sale's outbox
# row points at it (body NULL), so a commit dirties the sale table, its two keys, the counter,
# the outbox and the member: about 8 pages. The old tables become views with the same
# columns, so SQL readers (reports, recovery, tests) keep working. Returns keep their tables;
# their points move to return_points, which the points_ledger view joins with the sales'.
# The SQL below is frozen: it is what version 3 of the software ran.

# Sales already acknowledged by the cloud have no outbox body left: rebuild theirs from the
# old tables, in the record's field order (readers match keys, so order is only cosmetic).
_LINES = (
    "SELECT coalesce(json_group_array(json(json_object('line_no', line_no, 'sku', sku, "
    "'barcode', barcode, 'name_zh', name_zh, 'name_en', name_en, 'category', category, "
    "'quantity', quantity, 'weight_g', weight_g, 'unit_price_fen', unit_price_fen, "
    "'gross_fen', gross_fen, 'discounts', json(discounts), 'net_fen', net_fen, "
    "'tax_rate_bp', tax_rate_bp, 'returnable', json(iif(returnable, 'true', 'false')), "
    "'price_overridden', json(iif(price_overridden, 'true', 'false'))))), '[]') "
    "FROM (SELECT * FROM sale_line AS l WHERE l.seq = sale.seq ORDER BY l.line_no)"
)
_TENDERS = (
    "SELECT coalesce(json_group_array(json(json_object('kind', kind, 'amount_fen', amount_fen, "
    "'tendered_fen', tendered_fen, 'approval_code', approval_code, 'reference', reference))), "
    "'[]') FROM (SELECT * FROM sale_tender AS t WHERE t.seq = sale.seq ORDER BY t.idx)"
)
_POINTS = (
    "SELECT coalesce(json_group_array(json(json_object('member_id', member_id, 'delta', delta, "
    "'reason', reason, 'origin_sale_id', origin_sale_id))), '[]') "
    "FROM (SELECT * FROM points_ledger AS p WHERE p.seq = sale.seq ORDER BY p.idx)"
)
_REBUILT_BODY = (
    "json_object('sale_id', sale_id, 'cashier_id', cashier_id, 'shift_id', shift_id, "
    "'member_id', member_id, 'member_tier', member_tier, "
    f"'lines', json(({_LINES})), 'gross_fen', gross_fen, "
    "'discount_fen', discount_fen, 'total_fen', total_fen, "
    f"'tenders', json(({_TENDERS})), 'change_fen', change_fen, "
    "'points_earned', points_earned, 'points_redeemed', points_redeemed, "
    f"'points', json(({_POINTS})), 'device_time', device_time, "
    "'clock_synced', json(iif(clock_synced, 'true', 'false')), "
    "'coupon_codes', json(coupon_codes), 'receipt_no', receipt_no)"
)


def _fields(source: str, names: tuple[str, ...]) -> str:
    return ", ".join(f"json_extract({source}, '$.{name}') AS {name}" for name in names)


_LINE_FIELDS = (
    "line_no", "sku", "barcode", "name_zh", "name_en", "category", "quantity", "weight_g",
    "unit_price_fen", "gross_fen", "discounts", "net_fen", "tax_rate_bp", "returnable",
    "price_overridden",
)  # fmt: skip
_TENDER_FIELDS = ("kind", "amount_fen", "tendered_fen", "approval_code", "reference")

STATEMENTS = (
    "ALTER TABLE sale ADD COLUMN body TEXT NOT NULL DEFAULT '{}'",
    "UPDATE sale SET body = coalesce((SELECT o.body FROM outbox AS o "
    f"WHERE o.seq = sale.seq AND o.type = 'sale'), {_REBUILT_BODY})",
    # The outbox body becomes optional (NULL: the sale row with this seq holds it). SQLite
    # cannot drop NOT NULL in place, so the (short) queue is copied into a new table.
    """CREATE TABLE outbox_v3 (
        seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, type TEXT NOT NULL,
        device_time TEXT NOT NULL, clock_synced INTEGER NOT NULL, body TEXT,
        created_at TEXT NOT NULL,
        CHECK (body IS NOT NULL OR type = 'sale'))""",
    "INSERT INTO outbox_v3 SELECT seq, event_id, type, device_time, clock_synced, "
    "iif(type = 'sale', NULL, body), created_at FROM outbox",
    "DROP TABLE outbox",
    "ALTER TABLE outbox_v3 RENAME TO outbox",
    """CREATE TABLE return_points (
        seq INTEGER NOT NULL REFERENCES sale_return (seq), idx INTEGER NOT NULL,
        member_id TEXT NOT NULL, delta INTEGER NOT NULL, reason TEXT NOT NULL,
        origin_sale_id TEXT NOT NULL, origin_return_id TEXT, device_time TEXT NOT NULL,
        PRIMARY KEY (seq, idx)) WITHOUT ROWID""",
    "INSERT INTO return_points SELECT * FROM points_ledger "
    "WHERE seq IN (SELECT seq FROM sale_return)",
    "DROP TABLE points_ledger",
    "DROP TABLE sale_line",
    "DROP TABLE sale_tender",
    f"""CREATE VIEW sale_line AS SELECT s.seq AS seq, {_fields("j.value", _LINE_FIELDS)}
        FROM sale AS s, json_each(s.body, '$.lines') AS j""",
    f"""CREATE VIEW sale_tender AS
        SELECT s.seq AS seq, j.key AS idx, {_fields("j.value", _TENDER_FIELDS)}
        FROM sale AS s, json_each(s.body, '$.tenders') AS j""",
    # A sale's own points may leave origin_sale_id empty in the record; the ledger names it.
    f"""CREATE VIEW points_ledger AS
        SELECT s.seq AS seq, j.key AS idx, {_fields("j.value", ("member_id", "delta", "reason"))},
            coalesce(nullif(json_extract(j.value, '$.origin_sale_id'), ''), s.sale_id)
                AS origin_sale_id,
            NULL AS origin_return_id, s.device_time AS device_time
        FROM sale AS s, json_each(s.body, '$.points') AS j
        UNION ALL
        SELECT seq, idx, member_id, delta, reason, origin_sale_id, origin_return_id, device_time
        FROM return_points""",
)


def up(migrator: Any, db: Any) -> None:
    """Fold each sale's parts into its row; views keep the old table names readable."""
    for statement in STATEMENTS:
        db.execute_sql(statement)
