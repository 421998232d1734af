"""Versioned schema: a file written by version 1 of the software upgrades and keeps its data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
from pathlib import Path

from device.checkout.records import ReturnRecord, SaleRecord
from device.store.serialize import to_body
from device.store.store import Store
from tests.device.store.builders import T0, FakeClock, make_return, make_sale, store_config

DAY = "20261123"


def _bump(conn: sqlite3.Connection, name: str) -> int:
    conn.execute(
        "INSERT INTO counter (name, value) VALUES (?, 1) "
        "ON CONFLICT (name) DO UPDATE SET value = value + 1",
        (name,),
    )
    return int(conn.execute("SELECT value FROM counter WHERE name = ?", (name,)).fetchone()[0])


def _event(conn: sqlite3.Connection, seq: int, kind: str, record: object, receipt: str) -> None:
    body = json.dumps({**to_body(record), "receipt_no": receipt})
    conn.execute(
        "INSERT INTO outbox VALUES (?, ?, ?, ?, 1, ?, ?)",
        (seq, f"E{seq}", kind, "2026-11-23T02:00:00.000000+00:00", body, "x"),
    )


def _write_v1_sale(conn: sqlite3.Connection, sale: SaleRecord) -> str:
    """The rows version 1 of the software wrote for a sale: one table per part."""
    seq, receipt = _bump(conn, "seq"), f"S001-T01-{DAY}-{_bump(conn, 'receipt:' + DAY):04d}"
    conn.execute(
        "INSERT INTO sale VALUES (?, ?, ?, ?, 'C01', 'SH1', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
        (seq, sale.sale_id, receipt, DAY, sale.member_id,
         sale.member_tier.value if sale.member_tier else None,
         sale.gross_fen, sale.discount_fen, sale.total_fen, sale.change_fen, sale.points_earned,
         sale.points_redeemed, json.dumps(list(sale.coupon_codes)),
         "2026-11-23T02:00:00.000000+00:00", "x"),
    )  # fmt: skip
    for ln in sale.lines:
        discounts = json.dumps([dataclasses.asdict(d) for d in ln.discounts])
        conn.execute(
            "INSERT INTO sale_line VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, ln.line_no, ln.sku, ln.barcode, ln.name_zh, ln.name_en, ln.category,
             ln.quantity, ln.weight_g, ln.unit_price_fen, ln.gross_fen, discounts, ln.net_fen,
             ln.tax_rate_bp, int(ln.returnable), int(ln.price_overridden)),
        )  # fmt: skip
    for i, t in enumerate(sale.tenders):
        conn.execute(
            "INSERT INTO sale_tender VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, i, t.kind.value, t.amount_fen, t.tendered_fen, t.approval_code, t.reference),
        )
    for i, p in enumerate(sale.points):
        conn.execute(
            "INSERT INTO points_ledger VALUES (?, ?, ?, ?, ?, ?, NULL, 'x')",
            (seq, i, p.member_id, p.delta, p.reason.value, p.origin_sale_id),
        )
    _event(conn, seq, "sale", sale, receipt)
    return receipt


def _write_v1_return(conn: sqlite3.Connection, ret: ReturnRecord) -> str:
    seq, receipt = _bump(conn, "seq"), f"S001-T01-{DAY}-{_bump(conn, 'receipt:' + DAY):04d}"
    conn.execute(
        "INSERT INTO sale_return VALUES (?, ?, ?, ?, ?, ?, 'C01', 'SH1', ?, ?, NULL, ?, ?, 1, 'x')",
        (seq, ret.return_id, receipt, DAY, ret.original_sale_id, ret.original_receipt_no,
         ret.member_id, ret.refund_fen, ret.reason, "2026-11-23T03:00:00.000000+00:00"),
    )  # fmt: skip
    for i, ln in enumerate(ret.lines):
        conn.execute(
            "INSERT INTO return_line VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, i, ln.original_line_no, ln.sku, ln.quantity, ln.weight_g, ln.refund_fen),
        )
    for i, t in enumerate(ret.refunds):
        conn.execute(
            "INSERT INTO return_refund VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, i, t.kind.value, t.amount_fen, t.tendered_fen, t.approval_code, t.reference),
        )
    for i, p in enumerate(ret.points):
        conn.execute(
            "INSERT INTO points_ledger VALUES (?, ?, ?, ?, ?, ?, ?, 'x')",
            (seq, i, p.member_id, p.delta, p.reason.value, p.origin_sale_id, ret.return_id),
        )
    _event(conn, seq, "return", ret, receipt)
    return receipt


def test_a_version_1_file_upgrades_and_keeps_sales_returns_members(
    db_path: Path, clock: FakeClock
) -> None:
    old = Store.open(db_path, store_config(migrate_to="0001_initial"), create=True, clock=clock)
    assert old.db.schema_version() == 1
    assert "complaint" not in old.db.pw.get_tables()
    first = make_sale(10, redeem_blocks=1)
    odd = first.lines[1]
    odd = dataclasses.replace(odd, returnable=False, price_overridden=True, discounts=())
    odd = dataclasses.replace(odd, net_fen=odd.gross_fen)
    first = dataclasses.replace(first, lines=(first.lines[0], odd, *first.lines[2:]))
    second = make_sale(1, member_id=None, seed=5)
    with old.db.write() as conn:
        receipt = _write_v1_sale(conn, first)
        ret = make_return(first, receipt, (1, 3, 4, 5), when=T0 + dt.timedelta(hours=1))
        assert ret.points  # the return reverses earned points: a ledger row to carry over
        _write_v1_return(conn, ret)
        _write_v1_sale(conn, second)
        # The cloud acknowledged the first sale: its event is gone, so version 3 rebuilds the
        # sale's body from the old tables; the others keep the bodies their events carried.
        conn.execute("DELETE FROM outbox WHERE seq = 1")
        conn.execute("INSERT INTO counter VALUES ('acked', 1)")
        v1_bodies = [json.loads(b) for (b,) in conn.execute("SELECT body FROM outbox ORDER BY seq")]
        # A member as version 1 cached it (its columns then), with a card.
        conn.execute(
            "INSERT INTO member (member_id, phone, name, tier, points_balance, "
            "cumulative_spend_fen, birthday, opt_out_sms, member_code) "
            "VALUES ('M1', '13800001111', '', 'regular', 40, 100, NULL, 0, NULL)"
        )
        conn.execute("INSERT INTO member_card (card_id, member_id) VALUES ('CARD1', 'M1')")
    old.close()

    new = Store.open(db_path, store_config(), clock=clock)
    assert new.db.schema_version() == 7
    assert new.journal.sale_by_receipt(receipt) == (first, receipt)
    assert new.journal.sale(second.sale_id) == (second, f"S001-T01-{DAY}-0003")
    assert new.journal.returns_for_sale(first.sale_id) == [ret]
    q = new.db.query
    ledger = q(
        "SELECT seq, member_id, delta, reason, origin_sale_id FROM points_ledger ORDER BY seq, idx"
    )
    assert ledger == [
        (1, "M0001", first.points[0].delta, "earn", first.sale_id),
        (1, "M0001", -100, "redeem", first.sale_id),
        (2, "M0001", ret.points[0].delta, "return_reversal", first.sale_id),
        (2, "M0001", ret.points[1].delta, "return_refund", first.sale_id),
    ]
    # Past the ACK mark only the return counts: it takes back 12 earned points and gives back
    # 26 redeemed ones, a net gain, so nothing is held back from offline redemption.
    assert (ret.points[0].delta, ret.points[1].delta) == (-12, 26)
    # The member keeps what version 1 cached, and has never had the cloud's facts pushed.
    assert q("SELECT points_balance, rev, asof_prefix, returns_30d FROM member "
             "WHERE member_id = 'M1'") == [(40, 0, 0, 0)]  # fmt: skip
    tenders = q("SELECT seq, idx, kind, amount_fen FROM sale_tender ORDER BY seq, idx")
    assert tenders == [
        (1, 0, "points", 1000), (1, 1, "cash", first.total_fen - 1000),
        (3, 0, "cash", second.total_fen),
    ]  # fmt: skip
    flags = q(
        "SELECT line_no, returnable, price_overridden FROM sale_line WHERE seq = 1 AND line_no < 4"
    )
    assert flags == [(1, 1, 0), (2, 0, 1), (3, 1, 0)]
    member = new.members.by_card("CARD1")
    assert member is not None and member.phone == "13800001111"
    pending = new.outbox_pending()
    assert [(e.seq, e.type) for e in pending] == [(2, "return"), (3, "sale")]
    assert [json.loads(e.body) for e in pending] == v1_bodies
    indexes = {row[1] for row in q("PRAGMA index_list(sale_return)")}
    assert "sale_return_member_idx" in indexes
    assert "complaint" in new.db.pw.get_tables()
    recorded = new.record_sale(make_sale(1, seed=9))
    assert (recorded.seq, recorded.receipt_no) == (4, f"S001-T01-{DAY}-0004")
    new.close()
