"""The runtime on a real store and simulated hardware: order, idempotency, full disk, restart."""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from device.checkout import commands as cmd
from device.checkout import events as ev
from device.checkout.records import TenderKind
from device.checkout.state import Phase
from device.config import BrokerSection, TerminalConfig
from device.runtime import PrintUnprinted
from device.store.db import DbOptions
from device.store.staff import PinPolicy
from device.wiring import open_store, start_sync
from protocol import codec, topics
from provisioning import demo_data
from tests.broker import Broker
from tests.device.drivers.printer_helpers import member_receipt
from tests.device.harness import Terminal, seeded_store, start_terminal, terminal_config

WATER = demo_data.products()[0]["barcodes"][0]  # 农夫山泉 550ml, ¥2.00
COLA = demo_data.products()[2]["barcodes"][0]  # 可口可乐 330ml, ¥3.50


@pytest.fixture
def term(tmp_path: Path) -> Terminal:
    t = start_terminal(tmp_path)
    yield t
    t.stop()


def _cash_sale(t: Terminal, *codes: str) -> str:
    for code in codes:
        t.scan(code)
    view = t.send(ev.Subtotal())
    view = t.send(ev.AddTender(TenderKind.CASH, view.due_fen))
    assert view.state.phase is Phase.FEEDBACK, view.notice
    return view.state.last_sale_id or ""


class _OrderProbe:
    """Wraps the real drawer kicker and notes what was already true when the drawer opened."""

    def __init__(self, t: Terminal) -> None:
        self.t = t
        self.inner = t.hw.drawer.kicker
        self.seen: list[tuple[int, list[str]]] = []

    def kick(self) -> None:
        sales = self.t.store.db.query("SELECT count(*) FROM sale")[0][0]
        spool = self.t.hw.printer.spool
        jobs = [
            spool.state(cid)
            for entries in self.t.runtime.log.printed_refs().values()
            for cid, _status in entries
        ]
        self.seen.append((sales, jobs))
        self.inner.kick()


def test_a_cash_sale_is_committed_before_printing_and_printed_before_the_drawer_opens(
    term: Terminal,
) -> None:
    term.login_and_open()
    probe = _OrderProbe(term)
    term.hw.drawer.kicker = probe
    kicks = term.hw.drawer_sim.kicks
    sale_id = _cash_sale(term, WATER, COLA)
    assert term.runtime.wait_drawer()
    # At the kick the sale row existed and its receipt job was already in the spool.
    assert len(probe.seen) == 1
    sales, jobs = probe.seen[0]
    assert sales == 1 and len(jobs) == 1 and jobs[0] in ("pending", "done")
    assert term.hw.drawer_sim.kicks == kicks + 1
    term.wait(lambda v: len(term.printed()) == 1, timeout=20)
    receipt = term.printed()[0]
    receipt_no = term.view.last_receipt_no
    assert receipt.qr_codes == [receipt_no]
    # The total, printed double-size, with the full-width ￥ every GB printer has.
    assert "￥5.50" in "".join(receipt.text().split())
    assert term.store.journal.sale(sale_id)[1] == receipt_no


def test_the_same_print_and_drawer_commands_run_once(term: Terminal) -> None:
    term.login_and_open()
    kicks_before = term.hw.drawer_sim.kicks
    sale_id = _cash_sale(term, WATER)
    term.wait(lambda v: len(term.printed()) == 1, timeout=20)
    assert term.runtime.wait_drawer()
    kicks = term.hw.drawer_sim.kicks
    assert kicks == kicks_before + 1
    again = [cmd.PrintReceipt("replayed-print", sale_id), cmd.OpenDrawer("replayed-kick", "sale")]
    for _ in range(2):  # the same command ids fed twice, as a replay after a crash would
        term.runtime.call(lambda: term.runtime._print(again[0], {}))
        term.runtime.call(lambda: term.runtime._kick(again[1]))
    term.hw.printer.wait_printed("replayed-print", 20)
    assert term.runtime.wait_drawer()
    assert len(term.printed()) == 2  # the original and one copy, not two copies
    assert term.hw.drawer_sim.kicks == kicks + 1


def test_a_full_database_keeps_the_sale_open_and_prints_nothing(tmp_path: Path) -> None:
    cfg = terminal_config(tmp_path)
    store = seeded_store(cfg)
    store.db.conn().execute("VACUUM")  # no free pages left from loading the snapshots
    pages = store.db.conn().execute("PRAGMA page_count").fetchone()[0]
    store.close()
    db = DbOptions(max_pages=pages + 2, headroom_pages=0, headroom_bytes=0)
    t = start_terminal(tmp_path, cfg=cfg, db=db)
    try:
        t.login_and_open()
        for _ in range(30):  # a big sale: more rows than the file may grow by
            t.scan(WATER)
            t.scan(COLA)
        view = t.send(ev.Subtotal())
        due = view.due_fen
        assert t.runtime.wait_drawer()
        kicks = t.hw.drawer_sim.kicks
        view = t.send(ev.AddTender(TenderKind.CASH, due))
        assert view.notice is not None and view.notice.key == "runtime.store_full"
        assert view.state.phase is Phase.TENDERING and view.state.cart is not None
        assert len(view.state.cart.active_lines()) == 60 and view.due_fen == due
        assert t.runtime.wait_drawer()
        assert t.hw.drawer_sim.kicks == kicks and t.printed() == []
        assert t.store.db.query("SELECT count(*) FROM sale")[0][0] == 0
        # Space is freed: the same payment now completes the very same sale.
        t.runtime.call(lambda: t.store.db.conn().execute("PRAGMA max_page_count = 1000000"))
        view = t.send(ev.AddTender(TenderKind.CASH, due))
        assert view.state.phase is Phase.FEEDBACK
        t.wait(lambda v: len(t.printed()) == 1, timeout=20)
    finally:
        t.stop()


def test_restart_rebuilds_the_shift_and_offers_unprinted_receipts(tmp_path: Path) -> None:
    t = start_terminal(tmp_path)
    t.login_and_open()
    _cash_sale(t, WATER)
    t.wait(lambda v: len(t.printed()) == 1, timeout=20)
    t.send(ev.SkipFeedback())
    t.scan(COLA)  # a sale in progress when the power goes
    shift_id = t.view.state.shift.shift_id
    t.stop()
    t = start_terminal(tmp_path)
    try:
        view = t.view
        assert view.lost_sale and view.notice.key == "runtime.sale_lost"
        assert view.state.shift is not None and view.state.shift.shift_id == shift_id
        assert view.state.shift.sales_count == 1
        assert view.unprinted == ()  # the one committed sale did print
        assert view.state.phase is Phase.LOGGED_OUT and view.state.cart is None
    finally:
        t.stop()


def test_a_committed_sale_whose_receipt_never_spooled_is_offered_once(tmp_path: Path) -> None:
    t = start_terminal(tmp_path)
    t.login_and_open()
    sale_id = _cash_sale(t, WATER, COLA)
    t.wait(lambda v: len(t.printed()) == 1, timeout=20)
    t.stop()
    # The state a crash between the commit and the print leaves: a sale in the journal whose
    # receipt never reached the spool (the SIGKILL test in tests/faults does it for real).
    store = open_store(terminal_config(tmp_path), pin_policy=PinPolicy.for_tests())
    sale = replace(store.journal.sale(sale_id)[0], sale_id=str(uuid.uuid4()))
    receipt_no = store.record_sale(sale).receipt_no
    store.close()
    t = start_terminal(tmp_path)
    try:
        view = t.view
        assert [u.receipt_no for u in view.unprinted] == [receipt_no] and not view.lost_sale
        assert (
            view.notice.key == "runtime.unprinted" and view.notice.params["receipt"] == receipt_no
        )
        t.send(PrintUnprinted(sale.sale_id))
        t.send(PrintUnprinted(sale.sale_id))  # pressed twice
        # A marker job queued after both presses were handled: once it is out, anything they
        # sent to the printer is out too.
        assert t.hw.printer.print_receipt(member_receipt(receipt_no="MARKER"), "marker")
        assert t.hw.printer.wait_printed("marker", 30)
        printed = [r for r in t.printed() if r.qr_codes != ["MARKER"]]
        assert len(printed) == 1
        assert printed[0].qr_codes == [receipt_no]
        assert "REPRINT" not in printed[0].text()
        assert t.view.unprinted == ()
    finally:
        t.stop()
    t = start_terminal(tmp_path)  # and after another restart nothing is offered again
    try:
        assert t.view.unprinted == ()
    finally:
        t.stop()


def test_printer_out_of_paper_shows_and_the_sale_still_completes(term: Terminal) -> None:
    term.login_and_open()
    term.hw.printer_sim.run_out_of_paper()
    sale_id = _cash_sale(term, WATER)  # the sale is recorded and paid regardless
    assert term.store.journal.sale(sale_id) is not None
    view = term.wait(lambda v: v.paper == "paper_out", timeout=20)
    assert view.devices["printer"].state != "connected"
    assert term.printed() == []
    term.hw.printer_sim.refill()  # a new roll: the spooled receipt comes out, once
    term.wait(lambda v: len(term.printed()) == 1 and v.paper == "ok", timeout=30)
    assert term.printed()[0].qr_codes == [term.view.last_receipt_no]


def test_an_unplugged_scanner_is_reported_and_typing_the_barcode_still_sells(
    term: Terminal,
) -> None:
    term.login_and_open()
    term.hw.scanner_sim.unplug()
    view = term.wait(lambda v: "scanner" in v.devices and not v.devices["scanner"].ok, timeout=20)
    assert view.notice is not None and view.notice.level == "warning"
    view = term.send(ev.Scan(WATER, "keypad"))
    assert view.priced is not None and view.priced.total_fen == 200


def test_a_sale_that_crosses_the_silver_threshold_upgrades_the_member_at_once(
    term: Terminal,
) -> None:
    ((member_id, phone, spend),) = term.store.db.query(
        "SELECT member_id, phone, cumulative_spend_fen FROM member WHERE tier = 'regular' "
        "ORDER BY cumulative_spend_fen DESC LIMIT 1"
    )
    wine = next(p for p in demo_data.products() if p["name_en"] == "Changyu red wine 750ml")
    needed = 200_000 - spend  # silver at 2,000 yuan of spend
    assert needed > 0
    term.login_and_open()
    term.send(ev.IdentifyMember("phone", phone))
    count = needed // int(wine["price_fen"]) + 1
    term.scan(str(wine["barcodes"][0]))
    if count > 1:
        term.send(ev.SetQuantity(count))
    view = term.send(ev.Subtotal())
    view = term.send(ev.AddTender(TenderKind.CASH, view.due_fen))
    assert view.state.phase is Phase.FEEDBACK, view.notice
    member = term.runtime.call(lambda: term.store.members.by_id(member_id))
    assert member.tier.value == "silver"
    assert member.cumulative_spend_fen == spend + view.state.shift.by_tender[0][1]


def _damage_pages_only_the_full_check_reads(cfg: TerminalConfig) -> None:
    """Seed the store, then spoil pages of a table nothing reads at start."""
    seeded_store(cfg).close()
    path = Path(cfg.store.db_path)
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")  # the new table's pages go at the end of the file
    first = conn.execute("PRAGMA page_count").fetchone()[0] + 1
    conn.execute("CREATE TABLE filler (x TEXT)")  # a table nothing at start reads
    conn.executemany("INSERT INTO filler VALUES (?)", [("x" * 500,) for _ in range(400)])
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    last = conn.execute("PRAGMA page_count").fetchone()[0]
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as fh:
        for number in range(first + 1, last + 1):
            fh.seek((number - 1) * page)
            fh.write(b"\xff" * 64)


def test_damage_found_after_start_is_shown_and_nothing_more_is_recorded(tmp_path: Path) -> None:
    cfg = terminal_config(tmp_path)
    _damage_pages_only_the_full_check_reads(cfg)
    t = start_terminal(tmp_path, cfg=cfg, db=DbOptions(check="background"))
    try:
        view = t.wait(lambda v: v.notice is not None and v.notice.key == "runtime.store")
        assert view.notice is not None and view.notice.level == "error"
        assert "corrupt" in view.notice.text and "restore from backup" in view.notice.text
        view = t.send(ev.Login("2001", "1234"))  # signing in writes too: refused, clearly
        assert view.state.phase is Phase.LOGGED_OUT and view.state.shift is None
        assert view.notice is not None and view.notice.level == "error"
        assert "corrupt" in view.notice.text and "restore from backup" in view.notice.text
        assert t.store.db.query("SELECT count(*) FROM sale") == [(0,)]
    finally:
        t.stop()


def test_damage_found_after_start_goes_into_the_retained_status(
    tmp_path: Path, broker: Broker
) -> None:
    """HQ sees a damaged till without anyone at it: the retained status names the damage."""
    section = BrokerSection(host=broker.host, port=broker.port, username="S001-T01",
                            password=broker.password("S001-T01"))  # fmt: skip
    cfg = terminal_config(tmp_path, section)
    _damage_pages_only_the_full_check_reads(cfg)
    hq = broker.client("hq")
    status_topic = topics.status_topic("S001", "S001-T01")
    hq.subscribe(status_topic)
    t = start_terminal(tmp_path, cfg=cfg, db=DbOptions(check="background"))
    sync = start_sync(cfg, t.runtime.paper_state, t.runtime.store_problem)
    t.runtime.sync = sync
    try:
        got = hq.wait_for(
            lambda m: "corrupt" in codec.decode_status(m.payload).last_problem, timeout=60
        )
        problem = codec.decode_status(got[-1].payload).last_problem
        assert str(Path(cfg.store.db_path).resolve()) in problem
        assert "restore from backup" in problem
    finally:
        sync.stop()
        t.stop()
    late = broker.client("hq")  # a dashboard connecting later is told too (retained)
    late.subscribe(status_topic)
    [retained] = late.wait_for(lambda m: m.retain, timeout=30)
    assert "corrupt" in codec.decode_status(retained.payload).last_problem


def test_a_note_and_a_receipt_complaint_from_the_till_are_outbox_events(term: Terminal) -> None:
    term.login_and_open()
    sale_id = _cash_sale(term, WATER)
    term.send(ev.SkipFeedback())
    ((receipt,),) = term.store.db.query("SELECT receipt_no FROM sale WHERE sale_id = ?", (sale_id,))
    view = term.send(ev.FileComplaint("water bottle leaked", receipt=receipt))
    assert view.notice is not None and view.notice.key == "complaint.recorded", view.notice
    view = term.send(ev.AddMemberNote("call when the 5 kg rice is back", member_id="M0001"))
    assert view.notice is not None and view.notice.key == "member.note", view.notice
    kinds = [(e.type, e.body) for e in term.store.outbox_pending()]
    complaint = next(json.loads(b) for t, b in kinds if t == "complaint")
    note = next(json.loads(b) for t, b in kinds if t == "member_note")
    assert (complaint["sale_id"], complaint["member_id"], complaint["staff_id"]) == (
        sale_id, None, "2001",
    )  # fmt: skip
    assert (note["member_id"], note["staff_id"], note["role"], note["text"]) == (
        "M0001", "2001", "cashier", "call when the 5 kg rice is back",
    )  # fmt: skip
    assert term.store.db.query("SELECT sale_id, text, status FROM complaint") == [
        (sale_id, "water bottle leaked", "open")
    ]
