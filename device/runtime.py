"""The one loop that owns the checkout: driver and UI events in, commands out in a fixed order.

Driver threads and the UI only put items on ``inbox``. The runtime thread takes them one at a
time, turns driver events into checkout events, calls ``Machine.step`` and executes the
returned commands in this order: store commits, then printing, then the drawer, then the
displays and the cashier's messages. If the first commit fails (storage full) the till stays
in the state it was in before the event, so the open sale is kept and nothing is lost; nothing
is printed or kicked for it.

Print and drawer commands are remembered by id in the command log (device.recovery) before
they run, so running the same command twice prints once and kicks once; print jobs go to the
printer's persistent spool under the command id. At start the runtime rebuilds the open shift
and the suspended sales from the store, offers a print for any sale committed today whose
receipt never reached the spool, and tells the cashier when a sale was open at the crash.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from device import recovery
from device.checkout import commands as cmd
from device.checkout import events as ev
from device.checkout.config import CheckoutConfig
from device.checkout.machine import Machine
from device.checkout.pricing import PricedCart, price_cart
from device.checkout.records import ShiftReport
from device.checkout.state import Phase, State
from device.checkout.tenders import remaining_due
from device.drivers.display import showable
from device.drivers.errors import DeviceStatus, DriverError
from device.drivers.events import (
    CardEvent,
    CardReadFailed,
    DrawerAlarm,
    DrawerEvent,
    KeyEvent,
    ScanEvent,
)
from device.i18n import english, render
from device.receipts import report_receipt, return_receipt, sale_receipt
from device.rules import RulesInForce
from device.store.errors import DatabaseFull, StoreError
from device.store.store import Store
from protocol.problems import Said

log = logging.getLogger(__name__)

TICK_S = 1.0
_RECEIPT_RE = re.compile(r"^[A-Za-z0-9]+(-[A-Za-z0-9]+)+-\d{8}-\d{4,}$")
_RECORDS = (
    cmd.RecordSale, cmd.RecordReturn, cmd.RecordMember, cmd.RecordTierChange,
    cmd.RecordMemberNote, cmd.RecordComplaint, cmd.RecordCashMovement, cmd.RecordShiftOpen,
    cmd.RecordShiftClose,
    cmd.RecordAudit, cmd.RecordFeedback, cmd.SuspendSale, cmd.DeleteSuspended,
)  # fmt: skip
_PRINTS = (cmd.PrintReceipt, cmd.PrintReturnReceipt, cmd.PrintReport)
_TO_HQ = (cmd.AskHq, cmd.TellHq)
_HQ_ANSWERS = (ev.HqCouponGranted, ev.HqReceiptFound, ev.HqClaimGranted, ev.HqRefused,
               ev.HqUnreachable)  # fmt: skip


def rank(command: cmd.Command) -> int:
    """Execution order: commit, print, drawer, displays and messages, questions to HQ."""
    if isinstance(command, _RECORDS):
        return 0
    if isinstance(command, _PRINTS):
        return 1
    if isinstance(command, cmd.OpenDrawer):
        return 2
    if isinstance(command, _TO_HQ):
        return 4
    return 3


@dataclass(frozen=True, slots=True)
class Notice:
    """A message for the cashier: a key the screen renders in its language, plus English."""

    level: str
    key: str
    text: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PrintUnprinted:
    """The cashier accepted the offer to print a committed sale's missing receipt."""

    sale_id: str


@dataclass(frozen=True, slots=True)
class Dismiss:
    """The cashier read the start-up notices."""


@dataclass(frozen=True, slots=True)
class ReceiptSaved:
    """The simulated printer wrote a receipt's picture and text (path without extension)."""

    job_id: str
    path: str


@dataclass(frozen=True, slots=True)
class DrawerFailed:
    """The drawer thread could not kick the drawer."""

    reason: str


@dataclass(frozen=True, slots=True)
class StoreDamaged:
    """The store's background integrity check found the file damaged; no more sales."""

    message: str


@dataclass(frozen=True, slots=True)
class Call:
    """Run a function on the runtime thread (tests and tools read the store this way)."""

    fn: Callable[[], Any]
    done: threading.Event
    result: list[Any]


@dataclass(frozen=True, slots=True)
class View:
    """Everything the screens show, as one immutable snapshot from the runtime thread."""

    state: State
    priced: PricedCart | None = None
    due_fen: int = 0
    notice: Notice | None = None
    devices: Mapping[str, DeviceStatus] = field(default_factory=dict)
    online: bool = False
    sync_enabled: bool = False
    unsynced: int = 0
    # Why sync stopped for good (a store file restored from a backup or copied): selling goes
    # on, but the cashier should call support ("" when sync is fine).
    sync_halted: str = ""
    paper: str = "unknown"
    last_receipt_no: str = ""
    last_receipt_path: str = ""
    unprinted: tuple[recovery.Unprinted, ...] = ()
    lost_sale: bool = False
    display: cmd.ShowOnDisplay | None = None  # the customer display's lines, as keys
    report: ShiftReport | None = None
    events_done: int = 0
    scans: int = 0  # scanner and card events handled, so callers can wait for theirs


@dataclass
class Peripherals:
    """The output devices the runtime drives; any may be missing (shown, never fatal)."""

    printer: Any = None  # device.drivers.printer.PrinterDriver
    drawer: Any = None  # device.drivers.drawer.CashDrawer
    display: Any = None  # device.drivers.display.PoleDisplay
    receipt_header: tuple[str, ...] = ()
    receipt_width: int = 48
    buzzer: Any = None  # device.drivers.ioboard.BoardBuzzer: beep("error" | "alarm" | ...)


class Runtime:
    """Owns the machine's State; every method except submit/call/stop runs on its thread."""

    def __init__(
        self,
        machine: Machine,
        store: Store,
        config: CheckoutConfig,
        command_log: recovery.CommandLog,
        peripherals: Peripherals | None = None,
        sync: Any = None,
        on_view: Callable[[View], None] | None = None,
        on_key: Callable[[str], None] | None = None,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self.machine = machine
        self.store = store
        self.heartbeat = time.monotonic()
        self.config = config
        self.log = command_log
        self.dev = peripherals or Peripherals()
        self.sync = sync
        self.on_view = on_view
        self.on_key = on_key
        self._fault = fault or (lambda _point: None)
        self.inbox: queue.Queue[object] = queue.Queue()
        self.state = machine.initial_state()
        self.view = View(state=self.state)
        self._notice: Notice | None = None
        self._devices: dict[str, DeviceStatus] = {}
        self._unprinted: list[recovery.Unprinted] = []
        self._lost_sale = False
        self._store_problem = ""
        self._display: cmd.ShowOnDisplay | None = None
        self._last_receipt = ("", "")
        self._report: ShiftReport | None = None
        self._job_receipts: dict[str, str] = {}
        self._sale_marker = False
        self._events = 0
        self._scans = 0
        self._unsynced = 0
        self._drawer_jobs: queue.Queue[str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._last_tick = 0.0
        # HQ's rules, taken from the store between sales (device.rules).
        self.rules = RulesInForce(store.db, config)
        self._rules_problem = ""

    # -- any thread ---------------------------------------------------------------------

    def submit(self, item: object) -> None:
        """Queue a driver event, a checkout event or a runtime request (thread-safe)."""
        self.inbox.put(item)

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn`` on the runtime thread after everything queued before it; return its value."""
        done = threading.Event()
        result: list[Any] = []
        self.inbox.put(Call(fn, done, result))
        if not done.wait(timeout):
            raise TimeoutError("the runtime did not answer")
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]

    def start(self, timeout: float = 30.0) -> None:
        """Start the loop thread; returns once the state is rebuilt from the store."""
        self._thread = threading.Thread(target=self._run, name="runtime", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the runtime did not start")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop after the items already queued."""
        self._stop.set()
        self.inbox.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.wait_drawer(timeout)

    # -- runtime thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._between_sales()
            self.restore()
            self._count_unsynced()
            self._publish()
            # The whole-file check runs beside the till once it is up (see DbOptions.check).
            self.store.db.verify_in_background(lambda message: self.submit(StoreDamaged(message)))
        finally:
            self._ready.set()
        while not self._stop.is_set():
            self.heartbeat = time.monotonic()  # the systemd watchdog pings only while this moves
            try:
                item = self.inbox.get(timeout=TICK_S)
            except queue.Empty:
                item = None
            if item is not None:
                self.handle(item)
            if time.monotonic() - self._last_tick >= TICK_S:
                self._tick()
            self._publish()
        self.store.close()

    def restore(self) -> None:
        """Rebuild the till after a start: open shift, suspended sales, unprinted, lost sale."""
        shift = recovery.open_shift(self.store)
        suspended, problems = recovery.suspended_sales(self.store, self.config.cart_limits)
        phase = Phase.LOGGED_OUT
        self.state = replace(self.machine.initial_state(), shift=shift, suspended=suspended,
                             phase=phase)  # fmt: skip
        day = self.store.business_date(self.store.clock.now())
        spool_state = self._spool_state
        self._unprinted = recovery.unprinted_sales(self.store, self.log, spool_state, day)
        opened = self.log.marker("open_sale")
        if opened is not None:
            later = self.store.db.query("SELECT 1 FROM sale WHERE recorded_at >= ? LIMIT 1",
                                        (opened,))  # fmt: skip
            self._lost_sale = not later
            self.log.set_marker("open_sale", None)
        for problem in problems:
            self._say("warning", "runtime.suspended_bad", problem=problem)
        if self._lost_sale:
            self._say("warning", "runtime.sale_lost")
        elif self._unprinted:
            self._say("warning", "runtime.unprinted", receipt=self._unprinted[0].receipt_no)

    def _spool_state(self, job_id: str) -> str:
        printer = self.dev.printer
        return "unknown" if printer is None else str(printer.spool.state(job_id))

    def handle(self, item: object) -> None:
        """Handle one inbox item (public so tests can drive the loop synchronously)."""
        if not isinstance(item, Call):
            self._events += 1
        try:
            self._between_sales()
            self._dispatch(item)
        except Exception as err:  # one bad item must never stop the till
            log.exception("runtime failed on %r", item)
            self._say("error", "runtime.internal", reason=f"{type(err).__name__}: {err}")

    def _dispatch(self, item: object) -> None:
        if isinstance(item, Call):
            try:
                item.result.append(item.fn())
            except BaseException as err:
                item.result.append(err)
            item.done.set()
        elif isinstance(item, ScanEvent):
            self._scans += 1
            text = item.text.strip()
            if _RECEIPT_RE.match(text):
                text = f"R:{text}"  # the receipt's QR holds the bare number
            self.step(ev.Scan(text, "scanner"))
        elif isinstance(item, CardEvent):
            self._scans += 1
            self.step(ev.IdentifyMember(by="card", value=item.card_id))
        elif isinstance(item, CardReadFailed):
            self._scans += 1
            self._say("warning", "runtime.card_failed", reason=item.reason)
        elif isinstance(item, DrawerEvent):
            self.step(ev.DrawerOpened() if item.open else ev.DrawerClosed())
        elif isinstance(item, DrawerAlarm):
            self.step(ev.Tick())
        elif isinstance(item, KeyEvent):
            if self.on_key is not None:
                self.on_key(item.key)
        elif isinstance(item, DeviceStatus):
            self._devices[item.name] = item
            if not item.ok:
                self._say("warning", "runtime.device", device=item.name, reason=item.message)
        elif isinstance(item, PrintUnprinted):
            self._print_unprinted(item.sale_id)
        elif isinstance(item, Dismiss):
            self._lost_sale = False
            self._notice = None
        elif isinstance(item, DrawerFailed):
            self._say("error", "runtime.drawer_failed", reason=item.reason)
        elif isinstance(item, StoreDamaged):
            log.error("store damaged: %s", item.message)
            self._store_problem = item.message
            self._say("error", "runtime.store", reason=item.message)
            if self.sync is not None:
                self.sync.wake()  # HQ hears of it with the next status, not the next sale
        elif isinstance(item, ReceiptSaved):
            receipt_no = self._job_receipts.pop(item.job_id, "")
            if receipt_no and item.path:
                self._last_receipt = (receipt_no, item.path)
        else:
            self.step(item)  # type: ignore[arg-type]  # a checkout event from the UI

    def step(self, event: ev.Event) -> None:
        """Feed one checkout event and execute its commands in the fixed order."""
        if isinstance(event, ev.Subtotal):
            try:
                self.store.check_headroom()
            except DatabaseFull as err:
                self._say("error", "runtime.store_full", reason=str(err))
                return
            except StoreError as err:  # damaged file found by the background check
                self._say("error", "runtime.store", reason=str(err))
                return
        before = self.state
        new, commands = self.machine.step(before, event)
        ordered = sorted(commands, key=rank)
        # A tier upgrade is written in the sale's own transaction (the store takes it along).
        recorded: dict[str, Any] = {
            "tiers": {c.sale_id: c.new_tier for c in ordered if isinstance(c, cmd.RecordTierChange)}
        }
        committed = False
        for command in (c for c in ordered if rank(c) == 0):
            try:
                self._record(command, recorded)
            except StoreError as err:
                if not committed:
                    # Nothing is committed: stay where we were, so the sale is still open.
                    # An answer from HQ still closes its question (asked again, or lapsing).
                    answered = before.asking is not None and isinstance(event, _HQ_ANSWERS)
                    self.state = replace(before, asking=None) if answered else before
                    key = "runtime.store_full" if isinstance(err, DatabaseFull) else "runtime.store"
                    self._say("error", key, reason=str(err))
                    return
                log.error("store failed after the first commit: %s", err)
                self._say("warning", "runtime.store", reason=str(err))
            committed = True
        self.state = new
        self._mark_sale()
        if committed:
            self._count_unsynced()
            if any(isinstance(c, cmd.RecordSale) for c in ordered):
                self._fault("after_commit")  # crash tests: a sale committed, nothing printed
            if self.sync is not None:
                self.sync.wake()
        for command in ordered:
            r = rank(command)
            if r == 1:
                self._print(command, recorded)
            elif r == 2:
                self._kick(command)  # type: ignore[arg-type]
            elif r == 3:
                self._show(command)
            elif isinstance(command, _TO_HQ):
                self._to_hq(command)

    def _to_hq(self, command: cmd.AskHq | cmd.TellHq) -> None:
        """Hand a question to the sync layer; its answer comes back through the inbox.

        Never waits: the sync thread publishes, and answers with an Hq* event (a timeout
        included). Without sync the answer is at once: HQ is unreachable.
        """
        ask = getattr(self.sync, "ask", None)
        if isinstance(command, cmd.AskHq):
            if ask is None:
                self.submit(ev.HqUnreachable(command.request_id, "offline"))
            else:
                ask(command.request_id, command.query, command.timeout_s, self.submit)
        elif ask is not None:
            ask(command.request_id, command.query, 0.0, None)  # no answer wanted

    def _between_sales(self) -> None:
        """Put HQ's newest rules in force, only while no sale, return or tender is open."""
        state = self.state
        if state.cart is not None or state.returning is not None or state.tenders:
            return
        try:
            config = self.rules.refresh()
        except StoreError as err:  # the store is reported by the sale that needs it
            log.warning("rules not checked: %s", err)
            return
        if config is not None:
            self.config = config
            self.machine.reconfigure(config)
        problem = self.rules.problem
        if problem and problem != self._rules_problem:
            self._say("warning", "runtime.rules", reason=problem)
        self._rules_problem = problem

    def _mark_sale(self) -> None:
        open_now = self.state.cart is not None and not self.state.cart.is_empty()
        if open_now != self._sale_marker:
            stamp = dt.datetime.now(dt.UTC).isoformat() if open_now else None
            self.log.set_marker("open_sale", stamp.replace("+00:00", "Z") if stamp else None)
            self._sale_marker = open_now

    # -- commands -------------------------------------------------------------------------

    def _record(self, command: cmd.Command, recorded: dict[str, Any]) -> None:
        s = self.store
        if isinstance(command, cmd.RecordSale):
            result = s.record_sale(command.sale, recorded["tiers"].get(command.sale.sale_id))
            recorded[command.sale.sale_id] = result.receipt_no
            self._last_receipt = (result.receipt_no, "")
        elif isinstance(command, cmd.RecordReturn):
            result = s.record_return(command.ret)
            recorded[command.ret.return_id] = (command.ret, result.receipt_no)
        elif isinstance(command, cmd.RecordMember):
            s.facts.record_member_registration(
                command.member, command.registered_by, command.device_time, gender=command.gender
            )
        elif isinstance(command, cmd.RecordTierChange):
            pass  # recorded with its sale, above
        elif isinstance(command, cmd.RecordMemberNote):
            s.facts.record_member_note(
                command.command_id, command.member_id, command.staff_id, command.role,
                command.note, command.device_time,
            )  # fmt: skip
        elif isinstance(command, cmd.RecordComplaint):
            s.facts.record_complaint(
                command.command_id, command.staff_id, command.text, command.device_time,
                member_id=command.member_id, sale_id=command.sale_id,
            )  # fmt: skip
        elif isinstance(command, cmd.RecordCashMovement):
            s.facts.record_cash_movement(command.movement)
        elif isinstance(command, cmd.RecordShiftOpen):
            s.facts.record_shift_open(
                command.shift_id, command.staff_id, command.float_fen, command.device_time
            )
        elif isinstance(command, cmd.RecordShiftClose):
            s.facts.record_shift_close(command.report, command.staff_id, command.device_time)
        elif isinstance(command, cmd.RecordAudit):
            s.facts.record_audit(command.entry)
        elif isinstance(command, cmd.RecordFeedback):
            s.facts.record_feedback(
                command.command_id, command.sale_id, command.rating, command.device_time
            )
        elif isinstance(command, cmd.SuspendSale):
            staff = self.state.staff
            shift = self.state.shift
            label = f"{len(command.snapshot.get('lines', []))} items"
            s.facts.suspend(
                command.suspend_id,
                staff.staff_id if staff else "",
                shift.shift_id if shift else "",
                label,
                command.snapshot,
            )
        elif isinstance(command, cmd.DeleteSuspended):
            s.facts.recall(command.suspend_id)

    def _print(self, command: cmd.Command, recorded: dict[str, Any]) -> None:
        if isinstance(command, cmd.PrintReport):
            self._report = command.report  # shown on screen as well as printed
        printer = self.dev.printer
        if printer is None:
            self._say("warning", "runtime.no_printer")
            return
        cid = command.command_id
        ref = getattr(command, "sale_id", "") or getattr(command, "return_id", "") or "report"
        kind = "print_receipt" if isinstance(command, cmd.PrintReceipt) else "print_other"
        # Seen before: only a crash between logging and spooling leaves it unspooled.
        if not self.log.begin(cid, kind, ref) and (
            self.log.status(cid) == "done" or printer.spool.state(cid) != "unknown"
        ):
            return
        try:
            receipt, receipt_no = self._receipt(command, recorded)
            self._job_receipts[cid] = receipt_no
            printer.print_receipt(receipt, job_id=cid)
        except (DriverError, StoreError, KeyError, LookupError) as err:
            self._say("error", "runtime.print_failed", reason=str(err))
            return
        self.log.done(cid)

    def _receipt(self, command: cmd.Command, recorded: dict[str, Any]) -> tuple[Any, str]:
        common: dict[str, Any] = {
            "header": self.dev.receipt_header,
            "language": self.config.language,
            "width": self.dev.receipt_width,
            "timezone": self.config.timezone,
        }
        if isinstance(command, cmd.PrintReceipt):
            found = self.store.journal.sale(command.sale_id)
            if found is None:
                raise LookupError(f"sale {command.sale_id} is not in the journal")
            sale, receipt_no = found
            phone, balance = "", None
            if sale.member_id:
                member = self.store.members.by_id(sale.member_id)
                if member is not None:
                    phone = member.phone
                    # the commit already put this sale's points on the member's row
                    balance = member.points_balance
            listed = {
                line.sku: product.price_fen
                for line in sale.lines
                if line.price_overridden
                and (product := self.store.catalogue.by_sku(line.sku)) is not None
            }
            receipt = sale_receipt(
                sale, receipt_no, cashier=self._staff_name(sale.cashier_id), member_phone=phone,
                points_balance=balance, reprint=command.reprint, list_prices=listed, **common,
            )  # fmt: skip
            return receipt, receipt_no
        if isinstance(command, cmd.PrintReturnReceipt):
            ret, receipt_no = recorded[command.return_id]
            return self._return_receipt(ret, receipt_no, common), receipt_no
        assert isinstance(command, cmd.PrintReport)
        staff = self.state.staff
        name = staff.name if staff else ""
        now = self.store.clock.now()
        receipt = report_receipt(command.report, cashier=name, now=now, **common)
        return receipt, receipt.receipt_no

    def _return_receipt(self, ret: Any, receipt_no: str, common: dict[str, Any]) -> Any:
        """The refund slip, with the original sale's names and prices, the member and points."""
        original = self.store.journal.sale(ret.original_sale_id) if ret.original_sale_id else None
        sold = {line.line_no: line for line in original[0].lines} if original else {}
        products = {
            line.sku: product
            for line in ret.lines
            if line.original_line_no not in sold
            and (product := self.store.catalogue.by_sku(line.sku)) is not None
        }
        phone, balance = "", None
        if ret.member_id:
            member = self.store.members.by_id(ret.member_id)
            if member is not None:
                phone, balance = member.phone, member.points_balance
        return return_receipt(
            ret, receipt_no, cashier=self._staff_name(ret.cashier_id), sold=sold,
            products=products, member_phone=phone, points_balance=balance, **common,
        )  # fmt: skip

    def _staff_name(self, staff_id: str) -> str:
        staff = self.store.staff.get(staff_id)
        return f"{staff_id} {staff.name}" if staff else staff_id

    def _print_unprinted(self, sale_id: str) -> None:
        wanted = [u for u in self._unprinted if u.sale_id == sale_id]
        if not wanted:
            return
        # A fixed id: pressing Enter twice, or a crash right after, still prints once.
        self._print(cmd.PrintReceipt(f"recover:{sale_id}", sale_id), {})
        self._unprinted = [u for u in self._unprinted if u.sale_id != sale_id]
        self._say("info", "runtime.reprinted", receipt=wanted[0].receipt_no)

    def _kick(self, command: cmd.OpenDrawer) -> None:
        drawer = self.dev.drawer
        if drawer is None:
            self._say("warning", "runtime.no_drawer")
            return
        if not self.log.begin(command.command_id, "drawer", command.reason):
            return  # kicked before (or maybe kicked before a crash): never twice
        # The solenoid pulse takes ~200 ms; the drawer thread gives it, so the loop (and the
        # next scan) never waits for it. Kicks still start in command order, after the print.
        if self._drawer_jobs is None:
            self._drawer_jobs = queue.Queue()
            threading.Thread(target=self._drawer_loop, name="drawer-kick", daemon=True).start()
        self._drawer_jobs.put(command.command_id)

    def _drawer_loop(self) -> None:
        jobs = self._drawer_jobs
        assert jobs is not None
        while True:
            command_id = jobs.get()
            try:
                self.dev.drawer.open()
            except DriverError as err:
                self.submit(DrawerFailed(str(err)))
            self.log.done(command_id)
            jobs.task_done()

    def wait_drawer(self, timeout: float = 5.0) -> bool:
        """Wait until every kick handed to the drawer thread has been given (tests, shutdown)."""
        jobs = self._drawer_jobs
        deadline = time.monotonic() + timeout
        while jobs is not None and jobs.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)
        return jobs is None or not jobs.unfinished_tasks

    def _show(self, command: cmd.Command) -> None:
        if isinstance(command, cmd.Notify):
            params = dict(command.params)
            self._notice = Notice(
                command.level, command.message_key, english(command.message_key, **params), params
            )
        elif isinstance(command, cmd.ShowOnDisplay):
            self._display = command
            display = self.dev.display
            if display is not None:
                self._to_pole(display, command)
        elif isinstance(command, cmd.SoundAlarm):
            self._say("warning", "drawer.alarm")
            self._beep("alarm")
        if isinstance(command, cmd.Notify) and command.level == "error":
            self._beep("error")  # a refused scan or key: the cashier may not be looking

    def _to_pole(self, display: Any, shown: cmd.ShowOnDisplay) -> None:
        """The customer display in the till's language; English where its code page can't."""
        lang, params = self.config.language, shown.params
        line1, line2 = render(shown.line1, lang, **params), render(shown.line2, lang, **params)
        en1, en2 = render(shown.line1, "en", **params), render(shown.line2, "en", **params)
        encoding = getattr(getattr(display, "config", None), "encoding", "")
        if encoding and not showable(line2, encoding):
            line2 = en2
        ascii_name = "".join(ch for ch in en1 if ch.isascii()).strip()
        display.show_line(line1, line2, fallback_name=ascii_name or "*")

    def _say(self, level: str, key: str, **params: str) -> None:
        self._notice = Notice(level, key, english(key, **params), dict(params))
        if level == "error":
            self._beep("error")

    def _beep(self, pattern: str) -> None:
        buzzer = self.dev.buzzer
        if buzzer is None:
            return
        try:
            buzzer.beep(pattern)
        except Exception as err:  # a silent buzzer never stops a sale
            log.warning("buzzer: %s", err)

    # -- view -----------------------------------------------------------------------------

    def _tick(self) -> None:
        self._last_tick = time.monotonic()
        self._count_unsynced()
        self.step(ev.Tick())

    def _publish(self) -> None:
        state = self.state
        priced = None
        due = 0
        if state.cart is not None and not state.cart.is_empty():
            priced = price_cart(state.cart, self.config.pricing)
            due = remaining_due(priced.total_fen, state.tenders)
        online, unsynced, enabled = False, self._unsynced, self.sync is not None
        halted = ""
        if self.sync is not None:
            stats = self.sync.stats()
            online = bool(stats.connected)
            halted = str(getattr(stats, "halted", "") or "")
        self.view = View(
            state=state, priced=priced, due_fen=due, notice=self._notice,
            devices=dict(self._devices), online=online, sync_enabled=enabled, unsynced=unsynced,
            sync_halted=halted,
            paper=self.paper_state(), last_receipt_no=self._last_receipt[0],
            last_receipt_path=self._last_receipt[1], unprinted=tuple(self._unprinted),
            lost_sale=self._lost_sale, display=self._display, report=self._report,
            events_done=self._events, scans=self._scans,
        )  # fmt: skip
        if self.on_view is not None:
            try:
                self.on_view(self.view)
            except Exception:
                log.exception("view callback failed")

    def _count_unsynced(self) -> None:
        # A count over the outbox: done on the tick and after commits, not on every scan.
        try:
            self._unsynced = self.store.outbox_depth()
        except StoreError:
            self._unsynced = -1

    def store_problem(self) -> str:
        """What the store's background check found wrong with the file ("" when sound).

        Read from the sync thread for the retained status (a str is replaced whole); said with
        its message id, so HQ shows it in its page's language.
        """
        found = self._store_problem
        return Said("store.damaged", reason=found) if found else ""

    def paper_state(self) -> str:
        """The printer's paper as the status bar and the cloud status name it."""
        printer = self.dev.printer
        if printer is None:
            return "none"
        status = printer.status()
        state = printer.last_state
        if state is not None and (state.paper_out or state.paper_end_stop):
            return "paper_out"
        if status.state == "disconnected":
            return "offline"
        if status.state == "error":
            return "error"
        if state is not None and state.paper_near_end:
            return "paper_low"
        return "ok" if state is not None else "unknown"


class Ids:
    """The Ids port: random UUIDs."""

    def new_id(self) -> str:
        """A fresh UUID string."""
        return str(uuid.uuid4())
