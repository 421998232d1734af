"""Headless terminal: JSON commands on stdin, one JSON view summary per command on stdout.

Used by the crash tests and the benchmarks to drive a real terminal process without a screen.
Each input line is an object: {"event": "Login", "args": {"staff_id": "2001", "pin": "1234"}}
feeds a checkout event; {"scan": "6900000000012"} and {"swipe": "6200000001"} go through the
simulated scanner and card reader as bytes; {"wait": "printed", "count": 2} waits until the
simulated printer has cut that many receipts; {"view": true} just answers. The first line
written is {"ready": seconds since start}. With POS_HEADLESS_SCREEN=1 the cashier screen runs
too (drawn off-terminal), so the process is the whole terminal.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from device.checkout import events as ev
from device.checkout.records import TenderKind
from device.runtime import Dismiss, PrintUnprinted, Runtime, View


def build_event(name: str, args: dict[str, Any]) -> object:
    """A checkout event (or runtime request) from its class name and JSON arguments."""
    if name == "PrintUnprinted":
        return PrintUnprinted(str(args["sale_id"]))
    if name == "Dismiss":
        return Dismiss()
    cls = getattr(ev, name, None)
    if cls is None or not isinstance(cls, type):
        raise ValueError(f"unknown event {name!r}")
    fields = dict(args)
    if "manager" in fields:
        fields["manager"] = ev.ManagerCreds(**fields["manager"])
    if "kind" in fields and name == "AddTender":
        fields["kind"] = TenderKind(fields["kind"])
    if name == "ReturnLines":
        fields["lines"] = tuple(ev.ReturnItem(**item) for item in fields["lines"])
    return cls(**fields)


def summary(view: View, printed: int) -> dict[str, Any]:
    """What the cashier would see, as JSON."""
    notice = view.notice
    state = view.state
    return {
        "phase": state.phase.value,
        "notice_key": notice.key if notice else "",
        "notice": notice.text if notice else "",
        "lines": len(state.cart.active_lines()) if state.cart else 0,
        "due_fen": view.due_fen,
        "total_fen": view.priced.total_fen if view.priced else 0,
        "shift": state.shift.shift_id if state.shift else None,
        "suspended": len(state.suspended),
        "unprinted": [[u.sale_id, u.receipt_no] for u in view.unprinted],
        "lost_sale": view.lost_sale,
        "last_receipt_no": view.last_receipt_no,
        "printed": printed,
    }


def run_headless(runtime: Runtime, hw: Any, started: float, screen: Any = None) -> int:
    """Serve stdin until it ends.

    With ``screen`` (a CashierApp) the cashier screen also runs, drawn off-terminal, so a
    benchmark measures the whole terminal process; the commands are then read on a thread.
    """
    runtime.store.close()  # this thread's connection; the runtime thread opens its own
    if screen is None:
        runtime.start()
        return _serve(runtime, hw, started)
    runtime.on_view = screen.push_view
    runtime.start()

    def serve() -> None:
        try:
            _serve(runtime, hw, started)
        finally:
            screen.call_from_thread(screen.exit, 0)

    threading.Thread(target=serve, name="headless-stdin", daemon=True).start()
    screen.run(headless=True)
    return 0


def _serve(runtime: Runtime, hw: Any, started: float) -> int:
    out = sys.stdout
    out.write(json.dumps({"ready": round(time.monotonic() - started, 4)}) + "\n")
    out.flush()
    counter = getattr(hw, "jobs_printed", None)

    def printed() -> int:
        return counter[0] if counter is not None else 0

    for raw in sys.stdin:
        raw = raw.strip()
        if not raw:
            continue
        try:
            command = json.loads(raw)
            if "scan" in command:
                before = runtime.view.scans
                hw.scanner_sim.scan(str(command["scan"]))
                _wait(lambda b=before: runtime.view.scans > b)
            elif "swipe" in command:
                before = runtime.view.scans
                hw.card_sim.swipe(str(command["swipe"]))
                _wait(lambda b=before: runtime.view.scans > b)
            elif "event" in command:
                runtime.submit(build_event(command["event"], command.get("args", {})))
            elif command.get("wait") == "printed":
                want = int(command.get("count", 1))
                _wait(lambda w=want: printed() >= w, timeout=float(command.get("timeout", 20)))
            view = runtime.call(lambda: runtime.view)
            out.write(json.dumps(summary(view, printed()), ensure_ascii=False) + "\n")
        except (ValueError, TypeError, KeyError) as err:
            out.write(json.dumps({"error": str(err)}) + "\n")
        out.flush()
    return 0


def _wait(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False
