"""Schema version 3: a sale's lines, tenders and points live on its row as JSON (frozen SQL)."""

from typing import Any

# Why: a sale used to touch four tables and their B-trees (about 17 WAL pages per commit);
# on one row it touches the sale table, its two keys, the counter and the outbox (about 8).
# The old tables become views with the same columns, so SQL readers (reports, recovery,
# tests) keep working; returns keep their own tables, and their points move to
# return_points, which the points_ledger view joins with the sales' points.
_LINE_JSON = (
    "json_object('line_no', line_no, 'sku', sku, 'barcode', barcode, 'name_zh', name_zh, "
    "'name_en', name_en, 'category', category, 'quantity', quantity, 'weight_g', weight_g, "
    "'unit_price_fen', unit_price_fen, 'gross_fen', gross_fen, 'discounts', json(discounts), "
    "'net_fen', net_fen, 'tax_rate_bp', tax_rate_bp, "
    "'returnable', json(iif(returnable, 'true', 'false')), "
    "'price_overridden', json(iif(price_overridden, 'true', 'false')))"
)
_TENDER_JSON = (
    "json_object('kind', kind, 'amount_fen', amount_fen, 'tendered_fen', tendered_fen, "
    "'approval_code', approval_code, 'reference', reference)"
)
_POINT_JSON = (
    "json_object('member_id', member_id, 'delta', delta, 'reason', reason, "
    "'origin_sale_id', origin_sale_id)"
)


def _field(name: str, alias: str | None = None) -> str:
    return f"json_extract(j.value, '$.{name}') AS {alias or name}"


STATEMENTS = (
    "ALTER TABLE sale ADD COLUMN lines TEXT NOT NULL DEFAULT '[]'",
    "ALTER TABLE sale ADD COLUMN tenders TEXT NOT NULL DEFAULT '[]'",
    "ALTER TABLE sale ADD COLUMN points TEXT NOT NULL DEFAULT '[]'",
    # Ordered sub-selects: json_group_array keeps the order its rows arrive in.
    f"""UPDATE sale SET
        lines = (SELECT coalesce(json_group_array(json({_LINE_JSON})), '[]') FROM
                 (SELECT * FROM sale_line AS l WHERE l.seq = sale.seq ORDER BY l.line_no)),
        tenders = (SELECT coalesce(json_group_array(json({_TENDER_JSON})), '[]') FROM
                   (SELECT * FROM sale_tender AS t WHERE t.seq = sale.seq ORDER BY t.idx)),
        points = (SELECT coalesce(json_group_array(json({_POINT_JSON})), '[]') FROM
                  (SELECT * FROM points_ledger AS p WHERE p.seq = sale.seq ORDER BY p.idx))""",
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
    f"""CREATE VIEW sale_line AS SELECT s.seq AS seq, {_field("line_no")}, {_field("sku")},
        {_field("barcode")}, {_field("name_zh")}, {_field("name_en")}, {_field("category")},
        {_field("quantity")}, {_field("weight_g")}, {_field("unit_price_fen")},
        {_field("gross_fen")}, {_field("discounts")}, {_field("net_fen")},
        {_field("tax_rate_bp")}, {_field("returnable")}, {_field("price_overridden")}
        FROM sale AS s, json_each(s.lines) AS j""",
    f"""CREATE VIEW sale_tender AS SELECT s.seq AS seq, j.key AS idx, {_field("kind")},
        {_field("amount_fen")}, {_field("tendered_fen")}, {_field("approval_code")},
        {_field("reference")}
        FROM sale AS s, json_each(s.tenders) AS j""",
    # A sale's own points keep an empty origin_sale_id in the record; the ledger shows the sale.
    f"""CREATE VIEW points_ledger AS
        SELECT s.seq AS seq, j.key AS idx, {_field("member_id")}, {_field("delta")},
            {_field("reason")},
            coalesce(nullif(json_extract(j.value, '$.origin_sale_id'), ''), s.sale_id)
                AS origin_sale_id,
            NULL AS origin_return_id, s.device_time AS device_time
        FROM sale AS s, json_each(s.points) AS j
        UNION ALL
        SELECT seq, idx, member_id, delta, reason, origin_sale_id, origin_return_id, device_time
        FROM return_points""",
)


def up(migrator: Any, db: Any) -> None:
    """Move sale lines, tenders and points onto the sale row; views keep the old names."""
    for statement in STATEMENTS:
        db.execute_sql(statement)
