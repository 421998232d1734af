"""Store figures: lookups, durable sale commits against a raw fsync'd commit, snapshot loads,
and the outbox ACK with a week of acknowledged events kept against deleting on ACK."""

# The data are generated deterministically. Files go under var/bench/ in the repository, so the
# raw commit and the sale commit are measured on the same disk, interleaved in the same run.

from __future__ import annotations

import datetime as dt
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks._stats import percentile
from device.checkout.money import apply_bp
from device.checkout.records import (
    Discount,
    PointsDelta,
    PointsReason,
    Product,
    SaleLine,
    SaleRecord,
    TenderKind,
    TenderLine,
    Tier,
)
from device.store import outbox
from device.store.db import DbOptions, open_database
from device.store.serialize import iso_utc
from device.store.store import Store, StoreConfig

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "var" / "bench"
T0 = dt.datetime(2026, 11, 23, 2, 0, tzinfo=dt.UTC)


def _cell(cell: list[dt.datetime]) -> dt.datetime:
    """The time a test clock holds (moved by the caller between calls)."""
    return cell[0]


def _phone(i: int) -> str:
    return f"1{3 + i % 7}{(i * 7919 + 12345) % 10**9:09d}"  # a bijection: all distinct


def _card(i: int) -> str:
    return f"{(i * 104_729 + 7) % 10**10:010d}"


def members(n: int) -> list[dict[str, Any]]:
    """n members as the cloud's snapshot sends them; one in five holds a second (NFC) card."""
    tiers = ("regular", "regular", "regular", "silver", "gold")
    out = []
    for i in range(n):
        cards = [_card(i)] if i % 5 else [_card(i), f"NFC{i:09d}"]
        out.append(
            {
                "member_id": f"M{i:09d}", "phone": _phone(i), "name": f"会员{i % 9973}",
                "tier": tiers[i % 5], "points_balance": i % 20_000,
                "cumulative_spend_fen": (i * 37) % 900_000,
                "birthday": f"19{60 + i % 40}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "opt_out_sms": i % 11 == 0, "member_code": f"QR{(i * 15_485_863) % 10**10:010d}",
                "cards": cards,
            }
        )  # fmt: skip
    return out


def products(n: int) -> list[dict[str, Any]]:
    """n products with 2-3 barcodes each."""
    cats = ("produce", "dairy", "bakery", "drinks", "household", "snacks")
    return [
        {
            "sku": f"SKU{i:07d}",
            "name_zh": f"商品{i}",
            "name_en": f"Item {i}",
            "category": cats[i % 6],
            "price_fen": 100 + (i * 97) % 20_000,
            "tax_rate_bp": 1300,
            "sold_by_weight": i % 13 == 0,
            "returnable": i % 17 != 0,
            "tier_discount": True,
            "barcodes": [f"690{i:09d}{k}" for k in range(2 + i % 2)],
        }
        for i in range(n)
    ]


def _sale(rng: random.Random, catalogue: list[Product], member_id: str) -> SaleRecord:
    """A 10-line silver-member sale with a 10% tier discount, 100 points redeemed, points earned."""
    sid = str(uuid.uuid4())
    lines = []
    for no, product in enumerate(rng.sample(catalogue, 10), start=1):
        qty = rng.randint(1, 3)
        gross = product.price_fen * qty
        off = apply_bp(gross, 1000)
        lines.append(
            SaleLine(
                line_no=no, sku=product.sku, barcode=product.barcodes[0], name_zh=product.name_zh,
                name_en=product.name_en, category=product.category, quantity=qty, weight_g=None,
                unit_price_fen=product.price_fen, gross_fen=gross,
                discounts=(Discount("tier", "silver 10%", off),), net_fen=gross - off,
                tax_rate_bp=product.tax_rate_bp, returnable=product.returnable,
            )
        )  # fmt: skip
    gross = sum(x.gross_fen for x in lines)
    total = sum(x.net_fen for x in lines)
    points_value = min(1000, total)
    cash = total - points_value
    earned = cash // 1000
    return SaleRecord(
        sale_id=sid, cashier_id="C01", shift_id="SH1", member_id=member_id,
        member_tier=Tier.SILVER, lines=tuple(lines), gross_fen=gross, discount_fen=gross - total,
        total_fen=total,
        tenders=(TenderLine(TenderKind.POINTS, points_value, reference="100"),
                 TenderLine(TenderKind.CARD, cash, approval_code=f"A{rng.randrange(10**6):06d}")),
        change_fen=0, points_earned=earned, points_redeemed=100,
        points=(PointsDelta(member_id, earned, PointsReason.EARN, sid),
                PointsDelta(member_id, -100, PointsReason.REDEEM, sid)),
        device_time=T0, clock_synced=True,
    )  # fmt: skip


class _FixedClock:
    def now(self) -> dt.datetime:
        return T0

    def synced(self) -> bool:
        return True


def _raw_commit(conn: sqlite3.Connection, i: int) -> float:
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t (v) VALUES (?)", (f"row {i}",))
    conn.execute("COMMIT")
    return time.perf_counter() - start


def _lookups(store: Store, n_members: int, n_products: int, rounds: int) -> dict[str, float]:
    rng = random.Random(7)
    member_keys = [rng.randrange(n_members) for _ in range(rounds)]
    by_card, by_phone = store.members.by_card, store.members.by_phone
    for i in member_keys[:2000]:  # warm the page cache the way a running till has it
        by_card(_card(i))
        by_phone(_phone(i))
    samples = []
    clock = time.perf_counter_ns
    for k, i in enumerate(member_keys):
        if k % 2:
            key = _phone(i)
            start = clock()
            found = by_phone(key)
        else:
            key = _card(i)
            start = clock()
            found = by_card(key)
        samples.append((clock() - start) / 1000)
        assert found is not None, key
    codes = [f"690{rng.randrange(n_products):09d}{rng.randrange(2)}" for _ in range(rounds)]
    by_barcode = store.catalogue.by_barcode
    for code in codes[:2000]:
        by_barcode(code)
    barcode_samples = []
    for code in codes:
        start = clock()
        found_product = by_barcode(code)
        barcode_samples.append((clock() - start) / 1000)
        assert found_product is not None, code
    return {
        "store.member_lookup_p99_us": percentile(samples, 99),
        "store.barcode_lookup_p99_us": percentile(barcode_samples, 99),
    }


def _commits(store: Store, workdir: Path, n_members: int, sales: int) -> dict[str, float]:
    rng = random.Random(11)
    catalogue = [store.catalogue.by_sku(f"SKU{rng.randrange(20_000):07d}") for _ in range(400)]
    pool = [p for p in catalogue if p is not None]
    records = [_sale(rng, pool, f"M{rng.randrange(n_members):09d}") for _ in range(sales)]
    raw = sqlite3.connect(workdir / "raw.db", isolation_level=None)
    raw.execute("PRAGMA journal_mode = wal")
    raw.execute("PRAGMA synchronous = full")
    raw.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    for i in range(50):
        _raw_commit(raw, i)
        store.record_sale(_sale(rng, pool, "M000000001"))
    raw_samples, sale_samples = [], []
    for i, record in enumerate(records):  # interleaved, so both see the same disk and load
        raw_samples.append(_raw_commit(raw, i))
        start = time.perf_counter()
        store.record_sale(record)
        sale_samples.append(time.perf_counter() - start)
    raw.close()
    # Pages each commit appends to the WAL (after the timed loop: counting them checkpoints).
    # Once the WAL is fully checkpointed, the next commit starts it afresh, so the frame count
    # after that commit is exactly what the commit wrote.
    conn = store.db.conn()
    frames = []
    for _ in range(50):
        busy, logged, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        store.record_sale(_sale(rng, pool, f"M{rng.randrange(n_members):09d}"))
        if busy == 0 and done == logged:
            frames.append(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])
    raw_p50 = percentile(raw_samples, 50) * 1000
    sale_p50 = percentile(sale_samples, 50) * 1000
    return {
        "checkout.sale_commit_p50_ms": sale_p50,
        "checkout.sale_commit_p99_ms": percentile(sale_samples, 99) * 1000,
        "store.raw_fsync_commit_p50_ms": raw_p50,
        "checkout.sale_commit_vs_raw_ratio": sale_p50 / raw_p50,
        "store.sale_commit_wal_pages_p50": percentile(frames, 50),
    }


def _acks(workdir: Path) -> dict[str, float]:
    """An ACK on a till whose outbox keeps a week of acknowledged events (pruning the ones that
    age out as it goes) against deleting on ACK (no window): 2,000 events a day, ACKs of 50,
    timed over the eighth day, when each ACK prunes about what it acknowledges."""
    per_day, days, batch = 2000, 8, 50
    step = dt.timedelta(days=1) / per_day
    figures: dict[str, float] = {}
    for label, window in (("", outbox.DEFAULT_RESEND_WINDOW), ("_no_window", dt.timedelta(0))):
        now = [T0]
        db = open_database(workdir / f"acks{label}.db", create=True,
                           options=DbOptions(check="none", durable=False))  # fmt: skip
        box = outbox.Outbox(db, window, now=partial(_cell, now))
        with db.write() as conn:
            for i in range(per_day * days):
                stamp = iso_utc(T0 + step * i)
                outbox.emit(conn, "audit", stamp, True, {"n": i}, stamp)
        samples, depth = [], []
        for last in range(batch, per_day * days + 1, batch):
            now[0] = T0 + step * last  # the ACK comes as the batch's last event is recorded
            start = time.perf_counter()
            box.ack(last)
            if last > per_day * (days - 1):
                samples.append(time.perf_counter() - start)
                start = time.perf_counter()
                box.depth()
                depth.append(time.perf_counter() - start)
        figures[f"store.outbox_ack_p50_ms{label}"] = percentile(samples, 50) * 1000
        figures[f"store.outbox_depth_p50_us{label}"] = percentile(depth, 50) * 1e6
        figures[f"store.outbox_rows_kept{label}"] = float(
            db.query("SELECT count(*) FROM outbox")[0][0]
        )
        db.close()
    figures["store.outbox_ack_vs_no_window_ratio"] = (
        figures["store.outbox_ack_p50_ms"] / figures["store.outbox_ack_p50_ms_no_window"]
    )
    return figures


def run(quick: bool) -> dict[str, float]:
    """All store figures; quick mode uses 100,000 members and 20,000 products."""
    n_members = 100_000 if quick else 1_000_000
    n_products = 20_000 if quick else 100_000
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="store-", dir=BENCH_DIR))
    try:
        config = StoreConfig(terminal_id="S001-T01", db=DbOptions(check="none"))
        store = Store.open(workdir / "terminal.db", config, create=True, clock=_FixedClock())
        conn = store.db.conn()
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        empty_pages = conn.execute("PRAGMA page_count").fetchone()[0]
        snapshot = members(n_members)
        start = time.perf_counter()
        store.load_member_snapshot(snapshot, version=1)
        load_s = time.perf_counter() - start
        del snapshot
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        member_pages = conn.execute("PRAGMA page_count").fetchone()[0] - empty_pages
        mb_per_million = member_pages * page_size / 1e6 * (1_000_000 / n_members)
        store.load_catalogue_snapshot(products(n_products), version=1)
        store.close()
        # What a boot costs: opening with the default integrity check (PRAGMA quick_check).
        start = time.perf_counter()
        store = Store.open(
            workdir / "terminal.db", StoreConfig(terminal_id="S001-T01"), clock=_FixedClock()
        )
        open_s = time.perf_counter() - start
        figures = {
            "store.member_snapshot_load_s": load_s,
            "store.db_mb_per_million_members": mb_per_million,
            "store.open_with_quick_check_s": open_s,
        }
        figures.update(_lookups(store, n_members, n_products, 20_000 if quick else 100_000))
        figures.update(_commits(store, workdir, n_members, 300 if quick else 2000))
        figures.update(_acks(workdir))
        store.close()
        return figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    for name, value in run(quick=True).items():
        print(f"{name:40s} {value:12.3f}")
