"""Generator of a chain's members and their history on PostgreSQL for the member 360 benchmark.

Made server-side with generate_series (a Python loop over millions of lines would take longer
than the measurement). Members carry a phone, a name, a card and a member code; three sales
in five are members' (the member drawn by a hash, so some members buy often and some never);
every member sale has its earn row in the points ledger; one member sale in fifty is returned
in part, one in ten is rated; a tenth of the members have a tier change, a coupon and notes,
a fifth are tagged. Events are stored as ingest stores them (JSON text bodies, ``member_id``
set), through the cloud store's own schema and indexes.
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
    first_day: dt.date = dt.date(2026, 8, 1)

    @property
    def sales(self) -> int:
        return self.lines // 4  # 1 to 7 lines a sale, 4 on average


def member_of(g: str, s: Shape) -> str:
    """SQL: the member of sale ``g`` (NULL for the two sales in five without one)."""
    return (
        f"CASE WHEN {g} % 5 < 3 THEN 'M' || lpad(((hashint4({g}) & 2147483647) % {s.members} + 1)"
        "::text, 7, '0') END"
    )


def generate(url: str, shape: Shape) -> None:
    """Create the schema through the cloud store, then fill it."""
    open_cloud_db(url).close()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET work_mem = '256MB'; SET maintenance_work_mem = '1GB'")
    _members(cur, shape)
    _sales(cur, shape)
    _around_sales(cur, shape)
    _records(cur, shape)
    cur.execute("VACUUM ANALYZE")
    conn.close()


def _members(cur: psycopg2.extensions.cursor, s: Shape) -> None:
    cur.execute(
        f"""
        INSERT INTO members (member_id, phone, name, home_store, tier, cumulative_spend_fen,
                             registered_at, updated_at, birthday, gender, opt_out_sms,
                             member_code, cards, rev)
        SELECT 'M' || lpad(g::text, 7, '0'),
               '13' || lpad((g::bigint * 7919 % 1000000000)::text, 9, '0'),
               (ARRAY['王', '李', '张', '刘', '陈'])[1 + g % 5] || '会员' || g,
               'S' || lpad((g % {s.stores} + 1)::text, 3, '0'),
               (ARRAY['regular', 'silver', 'gold'])[1 + g % 3], g % 700000,
               now(), now(), DATE '1970-01-01' + (g % 15000), '', g % 7 = 0,
               'Q' || g, '["C' || lpad(g::text, 9, '0') || '"]', 1
        FROM generate_series(1, {s.members}) AS g
        """
    )


def _sales(cur: psycopg2.extensions.cursor, s: Shape) -> None:
    terminal = (
        f"'S' || lpad(((g % {s.stores}) + 1)::text, 3, '0') || '-T0' || "
        f"(((g / {s.stores}) % {s.terminals_per_store}) + 1)"
    )
    day = f"DATE '{s.first_day}' + ((g / ({s.stores} * 7)) % {s.days})"
    cur.execute(
        f"""
        INSERT INTO events (terminal_id, seq, event_id, store_id, type, device_time,
                            clock_synced, received_at, business_day, business_hour,
                            amount_fen, receipt_no, dead, body, status, member_id, epoch)
        SELECT {terminal}, g, md5(g::text)::uuid::text,
               'S' || lpad(((g % {s.stores}) + 1)::text, 3, '0'), 'sale',
               to_char({day} + make_interval(hours => 8 + g * 7 % 14),
                       'YYYY-MM-DD"T"HH24:MI:SS+00:00'),
               true, {day} + make_interval(hours => 8 + g * 7 % 14), {day}, 8 + g * 7 % 14,
               x.total, 'R' || g, false,
               jsonb_build_object(
                 'sale_id', md5(g::text)::uuid::text, 'cashier_id', 'C01', 'shift_id', 'SH1',
                 'member_id', {member_of("g", s)}, 'member_tier', NULL, 'gross_fen', x.total,
                 'discount_fen', 0, 'total_fen', x.total,
                 'tenders', jsonb_build_array(jsonb_build_object('kind', 'cash',
                                               'amount_fen', x.total)),
                 'change_fen', 0, 'points_earned', x.total / 1000, 'points_redeemed', 0,
                 'points', '[]'::jsonb, 'receipt_no', 'R' || g, 'coupon_codes', '[]'::jsonb,
                 'lines', x.lines)::text,
               'ok', {member_of("g", s)}, ''
        FROM generate_series(1, {s.sales}) AS g,
        LATERAL (
          SELECT jsonb_agg(jsonb_build_object(
                   'line_no', l, 'sku', 'P' || lpad(((g * 31 + l * 977) % {s.skus} + 1)::text,
                   5, '0'), 'name_zh', '商品' || l, 'name_en', 'Item ' || l,
                   'category', 'cat' || (l % 40), 'quantity', 1 + (g + l) % 3,
                   'weight_g', NULL, 'net_fen', 100 + (g * 31 + l * 977) % 9900)) AS lines,
                 sum(100 + (g * 31 + l * 977) % 9900)::bigint AS total
          FROM generate_series(1, 1 + (hashint4(g) & 2147483647) % 7) AS l
        ) AS x
        """
    )


def _around_sales(cur: psycopg2.extensions.cursor, s: Shape) -> None:
    """The ledger of member sales, returns of one in fifty, ratings of one in ten."""
    cur.execute(
        """
        INSERT INTO points_ledger (member_id, delta, reason, origin_sale_id, origin_terminal,
                                   origin_seq, line_no, created_at)
        SELECT member_id, amount_fen / 1000, 'earn', md5(seq::text)::uuid::text, terminal_id,
               seq, 0, received_at
        FROM events WHERE type = 'sale' AND member_id IS NOT NULL
        """
    )
    cur.execute(
        f"""
        INSERT INTO events (terminal_id, seq, event_id, store_id, type, device_time,
                            clock_synced, received_at, business_day, business_hour,
                            amount_fen, receipt_no, dead, body, status, member_id, epoch)
        SELECT terminal_id, seq + {s.sales}, md5('r' || seq)::uuid::text, store_id, 'return',
               device_time, true, received_at + interval '1 day', business_day + 1,
               business_hour, 100, 'RR' || seq, false,
               jsonb_build_object('return_id', md5('r' || seq)::uuid::text,
                 'original_sale_id', md5(seq::text)::uuid::text, 'original_receipt_no', 'R' || seq,
                 'member_id', member_id, 'refund_fen', 100, 'reason', 'size',
                 'lines', jsonb_build_array(jsonb_build_object('original_line_no', 1,
                   'sku', 'P00001', 'quantity', 1, 'weight_g', NULL, 'refund_fen', 100)))::text,
               'ok', member_id, ''
        FROM events WHERE type = 'sale' AND member_id IS NOT NULL AND seq % 50 = 0
        """
    )
    cur.execute(
        """
        INSERT INTO events (terminal_id, seq, event_id, store_id, type, device_time,
                            clock_synced, received_at, business_day, business_hour,
                            amount_fen, receipt_no, dead, body, status, member_id, epoch)
        SELECT terminal_id, seq + 1, md5('f' || seq)::uuid::text, store_id, 'feedback',
               device_time, true, received_at, business_day, business_hour, 0, '', false,
               jsonb_build_object('feedback_id', 'F' || seq,
                 'sale_id', md5(seq::text)::uuid::text, 'rating', 1 + seq % 5,
                 'comment', '', 'device_time', device_time)::text,
               'ok', NULL, ''
        FROM events WHERE type = 'sale' AND member_id IS NOT NULL AND seq % 10 = 1
        """
    )


def _records(cur: psycopg2.extensions.cursor, s: Shape) -> None:
    """Tier changes, coupons, tags, notes and complaints of some members."""
    mid = "'M' || lpad(g::text, 7, '0')"
    cur.execute(
        f"""
        INSERT INTO tier_changes (member_id, old_tier, new_tier, spend_fen, changed_at,
                                  origin_terminal, origin_seq)
        SELECT {mid}, 'regular', 'silver', 100000, now(), 'S001-T01', g
        FROM generate_series(10, {s.members}, 10) AS g
        """
    )
    cur.execute(
        f"""
        INSERT INTO coupons (code, kind, value, min_spend_fen, member_id, stores, max_uses, uses,
                             revoked, source, note, issued_at, updated_at)
        SELECT 'CP' || g, 'amount', 500, 0, {mid}, '[]', 1, 0, false, 'bench', '', now(), now()
        FROM generate_series(10, {s.members}, 10) AS g
        """
    )
    cur.execute(
        f"""
        INSERT INTO member_tags (member_id, tag, added_by, added_at)
        SELECT {mid}, t, 'bench', now()
        FROM generate_series(5, {s.members}, 5) AS g, unnest(ARRAY['vip', 'size-m']) AS t
        """
    )
    cur.execute(
        f"""
        INSERT INTO member_notes (member_id, author, role, text, created_at)
        SELECT {mid}, 'guide', 'sales_guide', 'called about the new season', now()
        FROM generate_series(10, {s.members}, 10) AS g, generate_series(1, 3)
        """
    )
    cur.execute(
        f"""
        INSERT INTO complaints (complaint_id, member_id, sale_id, store_id, origin, text,
                                status, opened_by, opened_at, handled_by, resolution)
        SELECT 'hq-' || g, {mid}, '', 'S001', 'hq', 'waited too long', 'open', 'bench', now(),
               '', ''
        FROM generate_series(20, {s.members}, 20) AS g
        """
    )
