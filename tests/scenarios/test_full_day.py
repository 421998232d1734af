"""A full day at one till, driven through the cashier screen with a real broker and cloud ingest.

Open the shift, 50 sales (members, points, split tenders, weighed items), returns against
receipts, a no-sale override and a suspended sale, with the broker down for part of the day;
close the shift. Then the Z report, the terminal's journal and the cloud agree to the fen, and
every receipt came out of the (simulated) printer exactly once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from cloud.ingest.worker import IngestWorker
from cloud.mqtt import BrokerSettings as IngestBrokerSettings
from device.checkout import shifts
from device.checkout.state import Phase
from device.config import BrokerSection
from device.ui.app import CashierApp
from device.wiring import DemoHands, start_sync
from tests.broker import Broker
from tests.device.harness import Terminal, start_terminal, terminal_config
from tests.device.ui.keys import DEFAULT_TIMEOUT_S, press, until

SALES = 50


def shown(app: CashierApp, widget: str) -> str:
    return str(app.query_one(f"#{widget}", Static).render())


class Cashier:
    """Hands on the keypad, eyes on the screen."""

    def __init__(self, app: CashierApp, pilot: Any, term: Terminal) -> None:
        self.app, self.pilot, self.term = app, pilot, term
        self.points: dict[str, int] = {}

    async def keys(self, text: str) -> None:
        await press(self.app, self.pilot, text)

    async def until(self, check: Any, what: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        await until(self.pilot, check, what, timeout, lambda: f"notice {shown(self.app, 'notice')}")

    @property
    def view(self) -> Any:
        return self.app.view

    async def close_drawer(self) -> None:
        """Once the kick has landed and the till has seen the drawer open, push it shut."""
        term = self.term
        # Both block a thread, not the screen: the kicks given on the drawer thread, then the
        # simulated drawer acting on each pulse.
        assert await asyncio.to_thread(term.runtime.wait_drawer, DEFAULT_TIMEOUT_S)
        assert await asyncio.to_thread(term.hw.drawer_sim.wait_idle, DEFAULT_TIMEOUT_S)
        if not term.hw.drawer_sim.is_open:
            return  # nothing was paid in cash: the drawer never opened
        await self.until(lambda: self.view.state.drawer_open, "drawer seen open")
        await self.keys("ctrl+d")
        await self.until(lambda: not self.view.state.drawer_open, "drawer seen shut")

    async def manager(self) -> None:
        await self.until(lambda: "店长" in shown(self.app, "prompt"), "manager prompt")
        await self.keys("1 0 0 1 enter 8 8 8 8 enter")

    async def scan(self, key: str = "ctrl+s") -> None:
        before = self.term.runtime.view.scans
        await self.keys(key)
        await self.until(lambda: self.view is not None and self.view.scans > before, "scan shown")

    async def pay(self, i: int) -> None:
        await self.keys("f3")
        await self.until(lambda: self.view.state.phase is Phase.TENDERING, "subtotal")
        member = self.view.state.cart.member
        if member is not None and i % 4 == 2:
            before, due = self.view.notice, self.view.due_fen
            await self.keys("1 0 0 f7")  # 100 points = 10 yuan, or a refusal saying why
            await self.until(lambda: self.view.notice is not before, "points answered")
            if self.view.due_fen < due:
                key = "redeemed"
            else:
                assert self.view.notice.level == "error", self.view.notice
                key = self.view.notice.key
            self.points[key] = self.points.get(key, 0) + 1
        if i % 5 == 2 and self.view.due_fen > 200:
            due = self.view.due_fen
            await self.keys("1 f5 7 7 0 0 1 2 enter")  # split: 1 yuan by card
            await self.until(lambda: self.view.due_fen == due - 100, "card part")
        if i % 7 == 3:
            await self.keys("f6 4 4 1 2 0 9 enter")  # mobile QR for the rest
        elif i % 3 == 0:
            await self.keys("5 0 0 f4")  # cash with change
        else:
            await self.keys("f4")  # exact cash
        await self.until(lambda: self.view.state.phase is Phase.FEEDBACK, f"sale {i} paid")
        await self.close_drawer()
        if i % 2:
            await self.keys(str(1 + i % 5))  # the customer rates
        else:
            await self.keys("enter")
        await self.until(lambda: self.view.state.phase is Phase.IDLE, "feedback done")

    async def sale(self, i: int) -> str:
        for n in range(1 + i % 3):
            await self.scan("ctrl+w" if (i + n) % 6 == 5 else "ctrl+s")
        if i % 4 == 0:
            await self.keys("2 f2")  # two of the last item
        if i % 2 == 0:
            await self.scan("ctrl+k")  # member card
            await self.until(lambda: self.view.state.cart.member is not None, "member")
        await self.pay(i)
        return str(self.view.last_receipt_no)


async def full_day(app: CashierApp, pilot: Any, term: Terminal, broker: Broker) -> dict[str, Any]:
    c = Cashier(app, pilot, term)
    await c.until(lambda: app.view is not None, "first view")
    await c.keys("2 0 0 1 enter 1 2 3 4 enter")
    await c.until(lambda: app.view.state.phase is Phase.NO_SHIFT, "login")
    await c.keys("5 0 0 enter")
    await c.manager()
    await c.until(lambda: app.view.state.phase is Phase.IDLE, "shift open")
    await c.close_drawer()
    receipts: list[str] = []
    returns = 0
    offline_seen = False
    for i in range(SALES):
        if i == 15:
            broker.stop()
        if 15 < i < 30 and not offline_seen:
            await c.until(lambda: "离线" in shown(app, "status"), "offline shown", 20)
            offline_seen = True
        if i == 30:
            broker.start()
        if i == 10:  # a customer forgot something: park the sale, serve the next, recall
            await c.scan()
            await c.scan()
            await c.keys("f12 1")
            await c.until(lambda: len(app.view.state.suspended) == 1, "suspended")
            receipts.append(await c.sale(i))
            await c.keys("f12 2")
            await c.until(lambda: app.view.state.phase is Phase.SELLING, "recalled")
            await c.pay(i)
            receipts.append(str(app.view.last_receipt_no))
            continue
        if i == 20:  # no sale: the manager opens the drawer for change
            await c.keys("f11")
            await c.manager()
            await c.until(lambda: app.view.state.drawer_open, "drawer open")
            await c.close_drawer()
        if i in (25, 40):  # a return against an earlier receipt, all lines
            number = receipts[i // 5]
            digits = " ".join(number[-13:].replace("-", ""))
            await c.keys(f"f10 {digits} enter")
            await c.until(lambda: app.view.state.phase is Phase.RETURNING, "return opened")
            await c.keys("enter")  # all lines: the refund per tender is shown
            await c.until(lambda: app.keypad.preview is not None, "refund shown")
            await c.keys("enter 1 enter")  # confirmed; the reason: faulty
            await c.until(lambda: app.view.state.phase is Phase.IDLE, "refunded")
            await c.close_drawer()
            returns += 1
        receipts.append(await c.sale(i))
    shift = app.view.state.shift
    expected = shifts.expected_cash(shift)
    yuan = f"{expected // 100}.{expected % 100:02d}"
    await c.keys("f12 4 " + " ".join(yuan) + " enter")
    await c.manager()
    await c.until(lambda: app.view.state.phase is Phase.NO_SHIFT, "shift closed")
    return {"receipts": receipts, "returns": returns, "report": app.view.report,
            "points": c.points}  # fmt: skip


@pytest.mark.slow
def test_a_full_day_agrees_to_the_fen_everywhere(broker: Broker, tmp_path: Path) -> None:
    cloud_url = f"sqlite:///{tmp_path}/cloud.db"
    worker = IngestWorker(
        cloud_url,
        IngestBrokerSettings(host=broker.host, port=broker.port, username="ingest",
                             password=broker.password("ingest")),
        client_id="ingest-day",
    )  # fmt: skip
    worker.start()
    section = BrokerSection(host=broker.host, port=broker.port, username="S001-T01",
                            password=broker.password("S001-T01"))  # fmt: skip
    cfg = terminal_config(tmp_path, section)
    term = start_terminal(tmp_path, cfg=cfg)
    sync = start_sync(cfg, term.runtime.paper_state)
    term.runtime.sync = sync
    try:

        async def run() -> dict[str, Any]:
            app = CashierApp(
                term.runtime.submit, "S001-T01", "S001", DemoHands(term.hw, term.store)
            )
            term.runtime.on_view = app.push_view
            app.push_view(term.runtime.view)
            async with app.run_test(size=(140, 45)) as pilot:
                return await full_day(app, pilot, term, broker)

        day = asyncio.run(run())
        assert sync.wait(lambda s: s.connected and s.outbox_depth == 0, 60), sync.stats()
        deadline = time.monotonic() + 60
        while term.hw.printer.pending_jobs() and time.monotonic() < deadline:
            time.sleep(0.1)
        check_day(tmp_path, term, day)
    finally:
        sync.stop()
        term.stop()
        worker.stop()


def check_day(tmp_path: Path, term: Terminal, day: dict[str, Any]) -> None:
    report = day["report"]
    assert report is not None and report.kind == "Z"
    with sqlite3.connect(tmp_path / "terminal.db") as db:
        sales, sales_fen = db.execute("SELECT count(*), sum(total_fen) FROM sale").fetchone()
        returns, refund_fen = db.execute(
            "SELECT count(*), coalesce(sum(refund_fen), 0) FROM sale_return"
        ).fetchone()
        tender = dict(db.execute("SELECT kind, sum(amount_fen) FROM sale_tender GROUP BY kind"))
        for kind, amount in db.execute(
            "SELECT kind, sum(amount_fen) FROM return_refund GROUP BY kind"
        ):
            tender[kind] = tender.get(kind, 0) - amount
        receipt_nos = [r for (r,) in db.execute("SELECT receipt_no FROM sale")]
        return_nos = [r for (r,) in db.execute("SELECT receipt_no FROM sale_return")]
    assert sales == SALES + 1 and returns == day["returns"] == 2
    assert day["points"].get("redeemed", 0) >= 3, day["points"]
    # Z report against the journal
    assert report.sales_count == sales and report.returns_count == returns
    assert {k: v for k, v in report.by_tender.items() if v} == {
        k: v for k, v in tender.items() if v
    }
    assert report.counted_cash_fen == report.expected_cash_fen and report.difference_fen == 0
    # the cloud against the journal
    with sqlite3.connect(tmp_path / "cloud.db") as cloud:
        rows = dict(
            (kind, (n, fen))
            for kind, n, fen in cloud.execute(
                "SELECT type, count(*), sum(amount_fen) FROM events WHERE terminal_id = "
                "'S001-T01' GROUP BY type"
            )
        )
    assert rows["sale"] == (sales, sales_fen)
    assert rows["return"] == (returns, refund_fen)
    assert rows["shift_closed"][0] == 1
    # every sale and return receipt printed exactly once
    printed = Counter(code for r in term.printed() for code in r.qr_codes)
    assert all(printed[n] == 1 for n in receipt_nos), printed
    assert all(printed[n] == 1 for n in return_nos), printed
    assert set(printed) == set(receipt_nos) | set(return_nos)
    assert term.hw.printer_sim.incomplete_receipts == []
