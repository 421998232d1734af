"""Generator of a chain's history on PostgreSQL for the HQ benchmark: sale lines, events, rollups.

Everything is made server-side with generate_series (a Python loop over 10 million lines
would take longer than the benchmark itself). The lines are generated once into an unlogged
table; the events (with their JSON bodies, as ingest stores them) and the rollups are both
derived from it, so the raw scan and the rollups describe exactly the same sales. The
rollups are filled with the same GROUP BY ingest's additive upserts amount to, in day order
as ingest writes them over time (so a day's rows sit together on disk, as in production);
the tests in tests/cloud/store/test_rollups.py show ingest writes exactly these sums.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg2

from cloud.store.db import open_cloud_db


@dataclass(frozen=True, slots=True)
class Shape:
    """How big the generated chain is."""

    lines: int
    members: int
    stores: int = 50
    terminals_per_store: int = 4
    days: int = 90
    skus: int = 5000
    categories: int = 40
    first_day: dt.date = dt.date(2026, 8, 1)

    @property
    def sales(self) -> int:
        return self.lines // 4  # 1 to 7 lines a sale, 4 on average


def generate(url: str, shape: Shape) -> None:
    """Create the schema through the cloud store, then fill it."""
    open_cloud_db(url).close()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'")
    s = shape
    cur.execute("DROP TABLE IF EXISTS gen_lines")
    # One row per sale line: store, terminal, day, hour, cashier, sku, quantity, net, tender.
    cur.execute(
        f"""
        CREATE UNLOGGED TABLE gen_lines AS
        SELECT g AS sale, l AS line_no,
               'S' || lpad(((g % {s.stores}) + 1)::text, 3, '0') AS store_id,
               'S' || lpad(((g % {s.stores}) + 1)::text, 3, '0') || '-T0'
                   || (((g / {s.stores}) % {s.terminals_per_store}) + 1) AS terminal_id,
               DATE '{s.first_day}' + ((g / ({s.stores} * 7)) % {s.days}) AS day,
               8 + (g * 7 % 14) AS hour,
               -- One cashier per terminal and half-day shift, as at a real till.
               'C' || lpad(((g % {s.stores}) + 1)::text, 3, '0')
                   || (((g / {s.stores}) % {s.terminals_per_store}) + 1)
                   || CASE WHEN 8 + (g * 7 % 14) < 15 THEN 'a' ELSE 'b' END AS cashier_id,
               'P' || lpad((((g * 31 + l * 977) % {s.skus}) + 1)::text, 5, '0') AS sku,
               1 + ((g + l) % 3) AS quantity,
               (100 + ((g * 31 + l * 977) % {s.skus}) * 7 % 9900) * (1 + ((g + l) % 3)) AS net_fen,
               CASE WHEN g % 10 < 5 THEN 'mobile' WHEN g % 10 < 8 THEN 'card' ELSE 'cash' END
                   AS tender,
               CASE WHEN g % 3 = 0 THEN 'M' || lpad((g % {s.members} + 1)::text, 7, '0') END
                   AS member_id
        FROM generate_series(1, {s.sales}) AS g,
             generate_series(1, 1 + (hashint4(g) & 2147483647) % 7) AS l
        """
    )
    cur.execute("ANALYZE gen_lines")
    _events(cur, s)
    _rollups(cur, s)
    _members(cur, s)
    cur.execute("DROP TABLE gen_lines")
    cur.execute("VACUUM ANALYZE")
    conn.close()


def _events(cur: psycopg2.extensions.cursor, s: Shape) -> None:
    """The sale events as ingest stores them: one row per sale, the body as JSON text."""
    cur.execute(
        f"""
        INSERT INTO events (terminal_id, seq, event_id, store_id, type, device_time,
                            clock_synced, received_at, business_day, business_hour,
                            amount_fen, receipt_no, dead, body, status, member_id, epoch)
        SELECT terminal_id, sale, md5(sale::text)::uuid::text, store_id, 'sale',
               to_char(day + make_interval(hours => hour - 8), 'YYYY-MM-DD"T"HH24:MI:SS+00:00'),
               true, day + make_interval(hours => hour - 8), day, hour, total, 'R' || sale,
               false,
               jsonb_build_object(
                 'sale_id', md5(sale::text)::uuid::text, 'cashier_id', cashier_id,
                 'shift_id', 'SH' || sale / 500, 'member_id', member_id, 'member_tier', NULL,
                 'gross_fen', total, 'discount_fen', 0, 'total_fen', total,
                 'tenders', jsonb_build_array(jsonb_build_object('kind', tender,
                                               'amount_fen', total)),
                 'change_fen', 0, 'points_earned', 0, 'points_redeemed', 0, 'points', '[]'::jsonb,
                 'receipt_no', 'R' || sale, 'clock_synced', true,
                 'lines', lines)::text,
               'ok', member_id, ''
        FROM (
          SELECT sale, min(store_id) AS store_id, min(terminal_id) AS terminal_id,
                 min(day) AS day, min(hour) AS hour, min(cashier_id) AS cashier_id,
                 min(tender) AS tender, min(member_id) AS member_id, sum(net_fen) AS total,
                 jsonb_agg(jsonb_build_object(
                   'line_no', line_no, 'sku', sku, 'name_zh', '商品' || sku,
                   'name_en', 'Item ' || sku,
                   'category', 'cat' || (substr(sku, 2)::int % {s.categories}),
                   'quantity', quantity, 'weight_g', NULL, 'net_fen', net_fen,
                   'gross_fen', net_fen, 'discounts', '[]'::jsonb) ORDER BY line_no) AS lines
          FROM gen_lines GROUP BY sale
        ) per_sale ORDER BY day
        """
    )


def _rollups(cur: psycopg2.extensions.cursor, s: Shape) -> None:
    cat = f"'cat' || (substr(sku, 2)::int % {s.categories})"
    cur.execute(
        """
        INSERT INTO roll_sales_hourly (store_id, day, hour, terminal_id, cashier_id, sales_count,
            returns_count, member_sales, items, lines, override_lines, gross_fen, discount_fen,
            sales_fen, refund_fen, return_items)
        SELECT store_id, day, hour, terminal_id, cashier_id, count(DISTINCT sale), 0,
               count(DISTINCT sale) FILTER (WHERE member_id IS NOT NULL), sum(quantity),
               count(*), 0, sum(net_fen), 0, sum(net_fen), 0, 0
        FROM gen_lines GROUP BY store_id, day, hour, terminal_id, cashier_id ORDER BY day
        """
    )
    cur.execute(
        """
        INSERT INTO roll_sales_daily (store_id, day, sales_count, returns_count, member_sales,
            items, lines, override_lines, gross_fen, discount_fen, sales_fen, refund_fen,
            return_items)
        SELECT store_id, day, sum(sales_count), 0, sum(member_sales), sum(items), sum(lines), 0,
               sum(gross_fen), 0, sum(sales_fen), 0, 0
        FROM roll_sales_hourly GROUP BY store_id, day ORDER BY day
        """
    )
    for table, keys in (
        ("roll_product_daily", "store_id, day, sku"),
        ("roll_product_chain_daily", "day, sku"),
    ):
        cur.execute(
            f"""
            INSERT INTO {table} ({keys}, name_zh, name_en, category, lines, quantity, weight_g,
                                 net_fen, returned_quantity, refund_fen)
            SELECT {keys}, '商品' || sku, 'Item ' || sku, {cat}, count(*), sum(quantity), 0,
                   sum(net_fen), 0, 0
            FROM gen_lines GROUP BY {keys} ORDER BY day
            """
        )
    cur.execute(
        f"""
        INSERT INTO roll_category_daily (store_id, day, category, lines, quantity, net_fen,
                                         returned_quantity, refund_fen)
        SELECT store_id, day, {cat}, count(*), sum(quantity), sum(net_fen), 0, 0
        FROM gen_lines GROUP BY store_id, day, {cat} ORDER BY day
        """
    )
    cur.execute(
        """
        INSERT INTO roll_category_chain_daily (day, category, lines, quantity, net_fen,
                                               returned_quantity, refund_fen)
        SELECT day, category, sum(lines), sum(quantity), sum(net_fen), 0, 0
        FROM roll_category_daily GROUP BY day, category ORDER BY day
        """
    )
    cur.execute(
        """
        INSERT INTO roll_tender_daily (store_id, day, terminal_id, kind, sales_count, amount_fen,
                                       refunds_count, refund_fen)
        SELECT store_id, day, terminal_id, tender, count(DISTINCT sale), sum(net_fen), 0, 0
        FROM gen_lines GROUP BY store_id, day, terminal_id, tender ORDER BY day
        """
    )


def _members(cur: psycopg2.extensions.cursor, s: Shape) -> None:
    cur.execute(
        f"""
        INSERT INTO members (member_id, phone, name, home_store, tier, cumulative_spend_fen,
                             registered_at, updated_at, gender, opt_out_sms, cards, rev,
                             member_code)
        SELECT 'M' || lpad(g::text, 7, '0'),
               '13' || lpad((g::bigint * 7919 % 1000000000)::text, 9, '0'),
               '会员' || g, 'S' || lpad((g % {s.stores} + 1)::text, 3, '0'),
               (ARRAY['regular', 'silver', 'gold'])[1 + g % 3], g % 700000,
               now(), now(), '', false, '[]', 1, 'Q' || g
        FROM generate_series(1, {s.members}) AS g
        """
    )
    cur.execute(
        """
        INSERT INTO points_ledger (member_id, delta, reason, origin_sale_id, origin_terminal,
                                   origin_seq, line_no, created_at)
        SELECT member_id, 1 + sale % 90, 'earn', md5(sale::text), terminal_id, sale, 0, now()
        FROM gen_lines WHERE member_id IS NOT NULL AND line_no = 1
        """
    )
