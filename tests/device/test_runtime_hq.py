"""The runtime and HQ's answers: never blocking, and a store that refuses the answer's commit."""

from __future__ import annotations

from pathlib import Path

from device.checkout import events as ev
from device.checkout.records import TenderKind
from device.checkout.state import Phase
from tests.device.harness import Terminal, start_terminal


def _shut_drawer(term: Terminal) -> None:
    assert term.runtime.wait_drawer(30) and term.hw.drawer_sim.wait_idle(30)
    term.hw.drawer_sim.close()
    term.wait(lambda v: not v.state.drawer_open)


def _sell(term: Terminal) -> str:
    row = term.store.db.row(
        "SELECT b.code FROM product AS p JOIN barcode AS b ON b.sku = p.sku "
        "WHERE p.sold_by_weight = 0 AND p.returnable = 1 ORDER BY p.price_fen DESC LIMIT 1"
    )
    assert row is not None
    term.scan(str(row[0]))
    view = term.send(ev.Subtotal())
    view = term.send(ev.AddTender(TenderKind.CASH, view.due_fen))
    term.send(ev.SkipFeedback())
    _shut_drawer(term)
    return view.last_receipt_no


def _refuse_writes(term: Terminal, refuse: bool) -> None:
    """SQLite itself refuses every write on the runtime's connection (a store gone read-only)."""
    term.store.db.conn().execute(f"PRAGMA query_only = {'ON' if refuse else 'OFF'}")


def test_without_sync_a_question_is_answered_at_once_and_a_full_store_keeps_the_return_open(
    tmp_path: Path,
) -> None:
    term = start_terminal(tmp_path, members=5)
    try:
        term.login_and_open()
        _shut_drawer(term)
        receipt = _sell(term)
        # A receipt from another till: no sync, so HQ is unreachable at once (no wait).
        term.send(ev.StartReturn("S002-T01-20261123-0007"))
        view = term.wait(lambda v: v.state.asking is None)
        assert view.notice is not None and view.notice.key == "return.other_offline"
        term.send(ev.StartReturn(receipt))
        assert term.view.state.phase is Phase.RETURNING
        term.runtime.call(lambda: _refuse_writes(term, True))
        term.send(ev.ReturnLines((ev.ReturnItem(1, 1),)))
        view = term.wait(lambda v: v.notice is not None and v.notice.level == "error")
        assert view.notice is not None and view.notice.key == "runtime.store", view.notice
        # The question is over (nothing hangs), the return is still open, nothing was written.
        assert view.state.asking is None and view.state.phase is Phase.RETURNING
        assert term.store.db.row("SELECT count(*) FROM sale_return")[0] == 0
        term.runtime.call(lambda: _refuse_writes(term, False))
        term.send(ev.ReturnLines((ev.ReturnItem(1, 1),)))
        view = term.wait(lambda v: v.state.phase is Phase.IDLE)
        assert view.notice is not None and view.notice.key == "return.offline_own"
        assert term.store.db.row("SELECT count(*) FROM sale_return")[0] == 1
    finally:
        term.stop()
