"""Schema version 1: caches, journal, ledger, outbox and the till's other records (frozen SQL)."""

from typing import Any

# Frozen DDL, deliberately independent of device/store/models.py: this is what version 1 of
# the software created, and an upgrade test opens a file made by exactly this.
STATEMENTS = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE stream_version (stream TEXT PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID",
    # Catalogue cache (replaced by snapshots, patched by upserts).
    """CREATE TABLE product (
        sku TEXT PRIMARY KEY, name_zh TEXT NOT NULL, name_en TEXT NOT NULL,
        category TEXT NOT NULL, price_fen INTEGER NOT NULL CHECK (price_fen >= 0),
        tax_rate_bp INTEGER NOT NULL, sold_by_weight INTEGER NOT NULL,
        returnable INTEGER NOT NULL, tier_discount INTEGER NOT NULL) WITHOUT ROWID""",
    "CREATE TABLE barcode (code TEXT PRIMARY KEY, sku TEXT NOT NULL) WITHOUT ROWID",
    "CREATE INDEX barcode_sku ON barcode (sku)",
    # Member cache: a rowid table with its indexes built after a bulk load (faster than
    # inserting a million rows into a B-tree keyed by a random id).
    """CREATE TABLE member (
        member_id TEXT NOT NULL, phone TEXT NOT NULL, name TEXT NOT NULL,
        tier TEXT NOT NULL, points_balance INTEGER NOT NULL,
        cumulative_spend_fen INTEGER NOT NULL, birthday TEXT,
        opt_out_sms INTEGER NOT NULL, member_code TEXT)""",
    "CREATE UNIQUE INDEX member_id_idx ON member (member_id)",
    "CREATE UNIQUE INDEX member_phone_idx ON member (phone)",
    "CREATE UNIQUE INDEX member_code_idx ON member (member_code)",
    "CREATE TABLE member_card (card_id TEXT NOT NULL, member_id TEXT NOT NULL)",
    "CREATE UNIQUE INDEX member_card_idx ON member_card (card_id)",
    "CREATE INDEX member_card_member_idx ON member_card (member_id)",
    # Sales journal. Every journal table is keyed by the record's outbox seq, so a commit
    # appends to the right-hand edge of each B-tree (few dirty pages, no page splits in the
    # middle) instead of scattering rows by a random UUID.
    """CREATE TABLE sale (
        seq INTEGER PRIMARY KEY, sale_id TEXT NOT NULL UNIQUE,
        receipt_no TEXT NOT NULL UNIQUE, business_date TEXT NOT NULL,
        cashier_id TEXT NOT NULL, shift_id TEXT NOT NULL, member_id TEXT, member_tier TEXT,
        gross_fen INTEGER NOT NULL, discount_fen INTEGER NOT NULL, total_fen INTEGER NOT NULL,
        change_fen INTEGER NOT NULL, points_earned INTEGER NOT NULL,
        points_redeemed INTEGER NOT NULL, coupon_codes TEXT NOT NULL,
        device_time TEXT NOT NULL, clock_synced INTEGER NOT NULL, recorded_at TEXT NOT NULL)""",
    # A line's discounts are a JSON list of {kind, label, amount_fen} on the line itself:
    # they are read and returned with their line, and SQLite's json_each reaches them for reports.
    """CREATE TABLE sale_line (
        seq INTEGER NOT NULL REFERENCES sale (seq), line_no INTEGER NOT NULL,
        sku TEXT NOT NULL, barcode TEXT NOT NULL, name_zh TEXT NOT NULL, name_en TEXT NOT NULL,
        category TEXT NOT NULL, quantity INTEGER NOT NULL, weight_g INTEGER,
        unit_price_fen INTEGER NOT NULL, gross_fen INTEGER NOT NULL, discounts TEXT NOT NULL,
        net_fen INTEGER NOT NULL, tax_rate_bp INTEGER NOT NULL, returnable INTEGER NOT NULL,
        price_overridden INTEGER NOT NULL,
        PRIMARY KEY (seq, line_no)) WITHOUT ROWID""",
    """CREATE TABLE sale_tender (
        seq INTEGER NOT NULL REFERENCES sale (seq), idx INTEGER NOT NULL,
        kind TEXT NOT NULL, amount_fen INTEGER NOT NULL, tendered_fen INTEGER NOT NULL,
        approval_code TEXT NOT NULL, reference TEXT NOT NULL,
        PRIMARY KEY (seq, idx)) WITHOUT ROWID""",
    # No foreign key to sale: a return may be against a sale rung up at another till.
    """CREATE TABLE sale_return (
        seq INTEGER PRIMARY KEY, return_id TEXT NOT NULL UNIQUE,
        receipt_no TEXT NOT NULL UNIQUE, business_date TEXT NOT NULL,
        original_sale_id TEXT, original_receipt_no TEXT,
        cashier_id TEXT NOT NULL, shift_id TEXT NOT NULL, member_id TEXT,
        refund_fen INTEGER NOT NULL, authorised_by TEXT, reason TEXT NOT NULL,
        device_time TEXT NOT NULL, clock_synced INTEGER NOT NULL, recorded_at TEXT NOT NULL)""",
    "CREATE INDEX sale_return_original_idx ON sale_return (original_sale_id)",
    """CREATE TABLE return_line (
        seq INTEGER NOT NULL REFERENCES sale_return (seq), idx INTEGER NOT NULL,
        original_line_no INTEGER NOT NULL, sku TEXT NOT NULL, quantity INTEGER NOT NULL,
        weight_g INTEGER, refund_fen INTEGER NOT NULL,
        PRIMARY KEY (seq, idx)) WITHOUT ROWID""",
    """CREATE TABLE return_refund (
        seq INTEGER NOT NULL REFERENCES sale_return (seq), idx INTEGER NOT NULL,
        kind TEXT NOT NULL, amount_fen INTEGER NOT NULL, tendered_fen INTEGER NOT NULL,
        approval_code TEXT NOT NULL, reference TEXT NOT NULL,
        PRIMARY KEY (seq, idx)) WITHOUT ROWID""",
    # Points: signed deltas, never a balance; seq is the event (sale, return) that wrote them.
    """CREATE TABLE points_ledger (
        seq INTEGER NOT NULL, idx INTEGER NOT NULL, member_id TEXT NOT NULL,
        delta INTEGER NOT NULL, reason TEXT NOT NULL, origin_sale_id TEXT NOT NULL,
        origin_return_id TEXT, device_time TEXT NOT NULL,
        PRIMARY KEY (seq, idx)) WITHOUT ROWID""",
    # The queue to the cloud; seq comes from counter 'seq' so it never has gaps.
    """CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, type TEXT NOT NULL,
        device_time TEXT NOT NULL, clock_synced INTEGER NOT NULL, body TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE member_registration (
        member_id TEXT PRIMARY KEY, phone TEXT NOT NULL, name TEXT NOT NULL,
        gender TEXT NOT NULL, birthday TEXT, registered_by TEXT NOT NULL,
        device_time TEXT NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE suspended_sale (
        suspend_id TEXT PRIMARY KEY, cashier_id TEXT NOT NULL, shift_id TEXT NOT NULL,
        label TEXT NOT NULL, payload TEXT NOT NULL, suspended_at TEXT NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE coupon (
        code TEXT PRIMARY KEY, kind TEXT NOT NULL, value INTEGER NOT NULL,
        min_spend_fen INTEGER NOT NULL, member_id TEXT, valid_from TEXT, valid_until TEXT,
        redeemed_sale_id TEXT, redeemed_at TEXT) WITHOUT ROWID""",
    """CREATE TABLE shift (
        shift_id TEXT PRIMARY KEY, opened_by TEXT NOT NULL, float_fen INTEGER NOT NULL,
        opened_at TEXT NOT NULL, closed_by TEXT, closed_at TEXT, counted_cash_fen INTEGER,
        z_report TEXT) WITHOUT ROWID""",
    """CREATE TABLE cash_movement (
        movement_id TEXT PRIMARY KEY, shift_id TEXT NOT NULL REFERENCES shift (shift_id),
        amount_fen INTEGER NOT NULL, reason TEXT NOT NULL, staff_id TEXT NOT NULL,
        device_time TEXT NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE audit_log (
        audit_id TEXT PRIMARY KEY, action TEXT NOT NULL, staff_id TEXT NOT NULL,
        manager_id TEXT, detail TEXT NOT NULL, device_time TEXT NOT NULL,
        seq INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE feedback (
        feedback_id TEXT PRIMARY KEY, sale_id TEXT NOT NULL REFERENCES sale (sale_id),
        rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5), comment TEXT NOT NULL,
        device_time TEXT NOT NULL, seq INTEGER NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE staff (
        staff_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,
        pin_hash TEXT NOT NULL, failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT, updated_at TEXT NOT NULL) WITHOUT ROWID""",
)


def up(migrator: Any, db: Any) -> None:
    """Create the version-1 schema."""
    for statement in STATEMENTS:
        db.execute_sql(statement)
