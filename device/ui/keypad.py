"""The keypad controller: logical keys in, checkout events out (pure, no screen, no threads).

A POS keypad has digits, 00, a dot, ENTER, CLEAR and function keys (see device.drivers.keypad
for the names). Digits build an entry line; ENTER or a function key acts on it in the current
context: in a sale ENTER scans the typed barcode, "3 QTY" sets the last line's quantity,
"2 VOID" voids line 2; when paying "50 CASH" takes 50 yuan cash and CASH alone the exact
amount due. Prompts that need more than one entry (login id then PIN, a manager's id and PIN
for an override, an approval code for a card) are modes. When the till answers that a manager
PIN is needed, the controller asks for it and sends the same event again with the credentials.

``press`` returns what to send to the runtime (checkout events, runtime requests) and UI
actions (language, help); ``prompt`` and ``error`` say what the screen should ask and
what went wrong, as message keys of the till's catalogue (device.i18n).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from device.checkout import events as ev
from device.checkout import notes
from device.checkout.errors import CheckoutError
from device.checkout.money import format_fen, parse_yuan
from device.checkout.records import TenderKind
from device.checkout.returns import (
    ReturnPlan,
    ReturnRequestLine,
    preview_return,
    remaining_units,
)
from device.checkout.state import Phase
from device.checkout.tenders import TENDER_NAMES
from device.runtime import Dismiss, PrintUnprinted, View

DIGITS = frozenset("0123456789")
TENDER_KEYS = {
    "CASH": TenderKind.CASH,
    "CARD": TenderKind.CARD,
    "MOBILE": TenderKind.MOBILE,
    "COUPON": TenderKind.COUPON,
}
# FUNC menu: digit -> (action, label key shown on screen)
MENU: tuple[tuple[str, str, str], ...] = (
    ("1", "suspend", "menu.suspend"),
    ("2", "recall", "menu.recall"),
    ("3", "x_report", "menu.x"),
    ("4", "close_shift", "menu.z"),
    ("5", "cash_in", "menu.cash_in"),
    ("6", "cash_out", "menu.cash_out"),
    ("7", "register", "menu.register"),
    ("8", "reprint", "menu.reprint"),
    ("9", "language", "menu.language"),
    ("0", "logout", "menu.logout"),
    (".", "cancel_sale", "menu.cancel_sale"),
    ("00", "discount", "menu.discount"),
)
# FUNC twice: the manager's page (1-3 and 5 ask for a manager PIN when a cashier uses them),
# and the member follow-up a cashier or sales guide does on their own login.
MENU2: tuple[tuple[str, str, str], ...] = (
    ("1", "price", "menu.price"),
    ("2", "line_discount", "menu.line_discount"),
    ("3", "void_sale", "menu.void_sale"),
    ("4", "lookup", "menu.lookup"),
    ("5", "item_sku", "menu.item_return"),
    ("6", "complaint_receipt", "menu.complaint"),
    ("7", "note_text", "menu.note"),
)
# Modes that take free text (typed on the keyboard; the keypad's keys are digits only).
TEXT_MODES = frozenset({"complaint_text", "note_text"})
TEXT_MAX_CHARS = notes.TEXT_MAX_CHARS
_SHOWN_TEXT = 40  # the end of a long text is shown, so the prompt keeps to one line
_MODE_PROMPTS: Mapping[str, str] = MappingProxyType({
    "staff": "prompt.staff", "pin": "prompt.pin", "float": "prompt.float",
    "sale": "prompt.sale", "tender": "prompt.tender", "member": "prompt.member",
    "register": "prompt.register", "qty": "prompt.qty", "void": "prompt.void",
    "return": "prompt.return", "return_lines": "prompt.return_lines",
    "manager_id": "prompt.manager_id", "manager_pin": "prompt.manager_pin",
    "count": "prompt.count", "cash_in": "prompt.cash_in", "cash_out": "prompt.cash_out",
    "recall": "prompt.recall", "feedback": "prompt.feedback", "menu": "prompt.menu",
    "reprint": "prompt.reprint", "approval": "prompt.approval", "discount": "prompt.discount",
    "menu2": "prompt.menu", "price": "prompt.price", "line_discount": "prompt.line_discount",
    "void_sale": "prompt.void_sale", "lookup": "prompt.member",
    "new_pin": "prompt.new_pin", "confirm_pin": "prompt.confirm_pin",
    "item_sku": "prompt.item_sku", "item_qty": "prompt.item_qty",
    "item_price": "prompt.item_price", "return_confirm": "prompt.return_confirm",
    "return_reason": "prompt.return_reason", "complaint_receipt": "prompt.complaint_receipt",
    "complaint_text": "prompt.complaint_text", "note_text": "prompt.note_text",
})  # fmt: skip
# The reasons a cashier picks for a return (digit -> the reason recorded and sent to HQ).
RETURN_REASONS: Mapping[str, str] = MappingProxyType(
    {"1": "faulty", "2": "wrong_item", "3": "changed_mind", "4": "other"}
)
# Modes that keep what earlier prompts collected (``pending``) when they are entered.
_KEEPS_PENDING = frozenset({"manager_id", "manager_pin", "pin", "approval", "new_pin",
                            "confirm_pin", "item_qty", "item_price", "return_confirm",
                            "return_reason", "complaint_text"})  # fmt: skip
_SECRET_MODES = frozenset({"pin", "manager_pin", "new_pin", "confirm_pin"})
_SIGN_IN_MODES = ("manager_id", "manager_pin", "pin", "staff", "new_pin", "confirm_pin")


# What only the screen does. There is no "quit": a till signs out (FUNC 0) and is stopped by
# its service manager; Ctrl+Q on a keyboard is the screen's own key (device.ui.app).
UI_ACTIONS = frozenset({"language", "help"})


@dataclass(frozen=True, slots=True)
class UiAction:
    """Something only the screen does: one of UI_ACTIONS."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in UI_ACTIONS:
            raise ValueError(f"no screen action {self.name!r} (known: {sorted(UI_ACTIONS)})")


@dataclass
class KeypadController:
    """Turns logical keys into events; one per screen, used only from the UI thread."""

    receipt_prefix: str  # e.g. "S001-T01": a typed 202611240007 becomes S001-T01-20261124-0007
    entry: str = ""
    mode: str = ""  # "" = the default mode of the current phase
    error: str = ""
    error_params: dict[str, str] = field(default_factory=dict)
    preview: ReturnPlan | None = None  # what a return being confirmed will refund
    pending: dict[str, Any] = field(default_factory=dict)
    last_sent: object | None = None
    _seen_notice: object | None = None
    _phase: Phase | None = None

    # -- what the screen shows ------------------------------------------------------------

    def current_mode(self, view: View) -> str:
        """The explicit mode, or the default one for the phase."""
        return self.mode or _default_mode(view.state.phase)

    def prompt(self, view: View) -> tuple[str, dict[str, str]]:
        """The prompt's text key and parameters."""
        if view.state.asking is not None:
            return "prompt.asking", {}
        mode = self.current_mode(view)
        action = str(self.pending.get("action", ""))
        params = {"staff": str(self.pending.get("staff_id", "")), "action": action}
        picks: dict[int, ev.ReturnItem] = self.pending.get("picks", {})
        if mode == "return_lines" and picks:
            params["picked"] = ", ".join(
                f"{no}" if item.weight_g is None and item.quantity == 1 else
                f"{no}×{item.weight_g}g" if item.weight_g is not None else
                f"{no}×{item.quantity}"
                for no, item in picks.items()
            )  # fmt: skip
            return "prompt.return_picked", params
        if mode == "return_confirm" and self.preview is not None:
            params["amount"] = format_fen(self.preview.refund_fen)
        return _MODE_PROMPTS.get(mode, "prompt.sale"), params

    def shown_entry(self, view: View) -> str:
        """The entry line as displayed (PINs as stars)."""
        if self.current_mode(view) in _SECRET_MODES:
            return "*" * len(self.entry)
        if len(self.entry) > _SHOWN_TEXT:
            return "…" + self.entry[-(_SHOWN_TEXT - 1) :]
        return self.entry

    def wants_text(self, view: View) -> bool:
        """Whether the prompt takes free text (letters are text, not function keys)."""
        return view.state.asking is None and self.current_mode(view) in TEXT_MODES

    def type_text(self, chars: str, view: View) -> None:
        """Characters typed into a text prompt, up to the longest text the till records."""
        if self.wants_text(view):
            self.error, self.error_params = "", {}
            self.entry = (self.entry + chars)[:TEXT_MAX_CHARS]

    def backspace(self, view: View) -> None:
        """Take back the last character typed into a text prompt."""
        if self.wants_text(view):
            self.entry = self.entry[:-1]

    # -- input ----------------------------------------------------------------------------

    def on_view(self, view: View) -> None:
        """Watch the till's answers: a manager-PIN refusal opens the manager prompt."""
        phase = view.state.phase
        if phase is not self._phase:
            # A new phase has its own default prompt (a scanned receipt opens the return, ...),
            # but the first scan moving an idle till to selling keeps the same prompt: the
            # cashier may already be typing the next code, which must not be lost.
            same = self._phase is not None and _default_mode(self._phase) == _default_mode(phase)
            self._phase = phase
            if self.mode == "" and same:
                pass
            elif self.mode not in _SIGN_IN_MODES:
                self._set_mode("")
        notice = view.notice
        if notice is None or notice is self._seen_notice:
            return
        self._seen_notice = notice
        sent = self.last_sent
        if notice.key == "manager.pin_required" and sent is not None and hasattr(sent, "manager"):
            self.pending = {"event": sent, "action": type(sent).__name__}
            self._set_mode("manager_id")
        elif notice.key in ("login.wrong_pin", "login.locked", "login.failed"):
            self._set_mode("staff")
        elif notice.key == "login.set_pin" and "code" in self.pending:
            self.mode, self.entry = "new_pin", ""  # keeps pending: staff id and the code
        elif notice.key == "return.other_offline_capped":
            # HQ is unreachable and the policy allows it: return item by item against it.
            self._set_mode("item_sku")
            self.pending = {"receipt": notice.params.get("receipt", "")}
        elif view.state.phase is Phase.LOGGED_OUT and self.mode not in (*_SIGN_IN_MODES, ""):
            self._set_mode("")

    def press(self, key: str, view: View) -> list[object]:
        """Handle one logical key; returns the items to submit or act on."""
        self.error, self.error_params = "", {}
        if key in DIGITS or key in ("00", "."):
            return self._type(key, view)
        if key == "CLEAR":
            return self._clear(view)
        out = self._key(key, view)
        for item in out:
            if not isinstance(item, UiAction):
                self.last_sent = item
        return out

    def _type(self, key: str, view: View) -> list[object]:
        mode = self.current_mode(view)
        if mode == "feedback" and key in "12345" and not self.entry:
            self._set_mode("")
            return self._sent([ev.Feedback(int(key))])
        if mode == "menu":
            return self._menu(key, view)
        if mode == "menu2":
            return self._menu2(key, view)
        if len(self.entry) < 64:
            self.entry += key
        return []

    def _clear(self, view: View) -> list[object]:
        if self.entry:
            self.entry = ""
            return []
        mode = self.current_mode(view)
        if mode in ("return_confirm", "return_reason") or (
            mode == "return_lines" and self.pending.get("picks")
        ):
            # Back to picking the lines, from scratch; a second CLEAR leaves the return.
            self.preview = None
            self._set_mode("return_lines")
            return []
        self._set_mode("")
        if mode == "tender":
            # CLEAR on an empty entry takes back the last tender, or leaves payment.
            return self._sent([ev.CancelTender() if view.state.tenders else ev.BackToSale()])
        if mode == "return_lines":
            return self._sent([ev.CancelReturn()])
        return []

    def _sent(self, items: list[object]) -> list[object]:
        for item in items:
            if not isinstance(item, UiAction):
                self.last_sent = item
        return items

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self.entry = ""
        if mode not in _KEEPS_PENDING:
            self.pending = {}

    def _fail(self, key: str, **params: str) -> list[object]:
        self.error, self.error_params = key, dict(params)
        self.entry = ""
        return []

    def _key(self, key: str, view: View) -> list[object]:
        mode = self.current_mode(view)
        if key == "ENTER":
            return self._enter(mode, view)
        if key == "FUNC":
            self._set_mode({"menu": "menu2", "menu2": ""}.get(mode, "menu"))
            return []
        if key == "HELP":
            return [UiAction("help")]
        phase = view.state.phase
        if phase is Phase.TENDERING:
            return self._tender_key(key, view)
        if key == "SUBTOTAL":
            self._set_mode("")
            return [ev.Subtotal()]
        if key == "MEMBER":
            return self._member_key()
        if key == "QTY" and mode == "return_lines":
            return self._return_qty()
        if key == "QTY":
            if self.entry:
                return self._number(lambda n: ev.SetQuantity(n))
            self._set_mode("qty")
            return []
        if key == "VOID":
            if self.entry:
                return self._number(lambda n: ev.VoidLine(n))
            self._set_mode("void")
            return []
        if key == "RETURN":
            self._set_mode("return")
            return []
        if key == "NOSALE":
            self._set_mode("")
            return [ev.NoSale(reason="keypad")]
        if key in ("UP", "DOWN"):
            return []
        if key in TENDER_KEYS or key == "POINTS":
            # A payment key before payment is open: say which key opens it, not "invalid".
            return self._fail("ui.pay_first" if phase is Phase.SELLING else "scan.first")
        return self._fail("ui.unknown_key")

    def _member_key(self) -> list[object]:
        """Typed digits then MEMBER identify by phone; MEMBER alone asks for the phone."""
        if self.entry:
            phone, self.entry = self.entry, ""
            return [ev.IdentifyMember(by="phone", value=phone)]
        self._set_mode("member")
        return []

    def _number(self, make: Any) -> list[object]:
        text, self.entry = self.entry, ""
        if not text.isdigit():
            return self._fail("ui.bad_number")
        self._set_mode("")
        return [make(int(text))]

    def _amount(self) -> int | None:
        text, self.entry = self.entry, ""
        try:
            return parse_yuan(text)
        except ValueError:
            self.error = "ui.bad_amount"
            return None

    def _tender_key(self, key: str, view: View) -> list[object]:
        if key in TENDER_KEYS:
            amount = view.due_fen
            if self.entry:
                parsed = self._amount()
                if parsed is None:
                    return []
                amount = parsed
            kind = TENDER_KEYS[key]
            if kind in (TenderKind.CARD, TenderKind.MOBILE) and amount > view.due_fen:
                # Refused now, before the customer pays on the terminal and the code is typed.
                return self._fail(
                    "error.tender",
                    reason_key="{tender} {handed} is more than the {due} still due",
                    tender=TENDER_NAMES[kind],
                    handed=format_fen(amount),
                    due=format_fen(view.due_fen),
                )
            if kind in (TenderKind.CARD, TenderKind.MOBILE, TenderKind.COUPON):
                self.pending = {"kind": kind, "amount": amount}
                self.mode, self.entry = "approval", ""
                return []
            return [ev.AddTender(kind, amount)]
        if key == "POINTS":
            return self._number(lambda n: ev.RedeemPoints(n))
        if key == "VOID":
            return [ev.CancelTender()]
        if key == "MEMBER":
            if view.state.tenders:
                return self._fail("tender.must_cancel")
            # Nothing paid yet: the member can still change (the core allows it).
            return self._member_key()
        return self._fail("ui.unknown_key")

    def _enter(self, mode: str, view: View) -> list[object]:
        text, self.entry = self.entry, ""
        if not text and mode in ("staff", "sale", "float") and (view.unprinted or view.lost_sale):
            if view.lost_sale:
                return [Dismiss()]
            return [PrintUnprinted(view.unprinted[0].sale_id)]
        handler = getattr(self, f"_enter_{mode}", None)
        if handler is None:
            return []
        result: list[object] = handler(text, view)
        return self._sent(result)

    # -- ENTER per mode (text is the entry that was typed) --------------------------------

    def _enter_staff(self, text: str, view: View) -> list[object]:
        if not text:
            return self._fail("ui.need_pin")
        self.pending = {"staff_id": text}
        self.mode = "pin"
        return []

    def _enter_pin(self, text: str, view: View) -> list[object]:
        staff_id = str(self.pending.get("staff_id", ""))
        self._set_mode("")
        # Kept in case the till answers "first sign-in": the text was a one-time code.
        self.pending = {"staff_id": staff_id, "code": text}
        return [ev.Login(staff_id, text)]

    def _enter_new_pin(self, text: str, view: View) -> list[object]:
        self.pending["new_pin"] = text
        self.mode, self.entry = "confirm_pin", ""
        return []

    def _enter_confirm_pin(self, text: str, view: View) -> list[object]:
        staff_id, code = str(self.pending.get("staff_id", "")), str(self.pending.get("code", ""))
        if text != self.pending.get("new_pin"):
            self.pending.pop("new_pin", None)
            self.mode = "new_pin"
            return self._fail("ui.pin_mismatch")
        self._set_mode("")
        return [ev.Login(staff_id, code, new_pin=text)]

    def _enter_float(self, text: str, view: View) -> list[object]:
        self.entry = text
        amount = self._amount()
        return [] if amount is None else [ev.OpenShift(amount)]

    def _enter_sale(self, text: str, view: View) -> list[object]:
        return [ev.Scan(text, "keypad")] if text else []

    def _enter_member(self, text: str, view: View) -> list[object]:
        self._set_mode("")
        return [ev.IdentifyMember(by="phone", value=text)] if text else []

    def _enter_register(self, text: str, view: View) -> list[object]:
        self._set_mode("")
        return [ev.RegisterMember(phone=text)] if text else []

    def _enter_qty(self, text: str, view: View) -> list[object]:
        self.entry = text
        return self._number(lambda n: ev.SetQuantity(n))

    def _enter_void(self, text: str, view: View) -> list[object]:
        self.entry = text
        return self._number(lambda n: ev.VoidLine(n))

    def _enter_tender(self, text: str, view: View) -> list[object]:
        # ENTER alone when paying: cash for the exact amount due.
        if not text:
            return [ev.AddTender(TenderKind.CASH, view.due_fen)]
        self.entry = text
        amount = self._amount()
        return [] if amount is None else [ev.AddTender(TenderKind.CASH, amount)]

    def _enter_approval(self, text: str, view: View) -> list[object]:
        kind, amount = self.pending.get("kind"), self.pending.get("amount")
        self._set_mode("")
        if not text or kind is None:
            return self._fail("ui.bad_number")
        if kind is TenderKind.COUPON:
            return [ev.AddTender(kind, int(amount or 0), reference=text)]
        return [ev.AddTender(kind, int(amount or 0), approval_code=text)]

    def _enter_return(self, text: str, view: View) -> list[object]:
        self._set_mode("")
        if not text:
            return []
        return [ev.StartReturn(self.expand_receipt(text))]

    # -- a return against a receipt: pick lines (n QTY for part of one), see, confirm, why ----

    def _return_qty(self) -> list[object]:
        """ "n QTY" in a return: the next line picked gives back only n (grams if weighed)."""
        text, self.entry = self.entry, ""
        if not text.isdigit() or int(text) < 1:
            return self._fail("ui.bad_number")
        self.pending["qty"] = int(text)
        return []

    def _enter_return_lines(self, text: str, view: View) -> list[object]:
        session = view.state.returning
        if session is None:
            return []
        left = remaining_units(session.sale, session.earlier)
        picks: dict[int, ev.ReturnItem] = dict(self.pending.get("picks", {}))
        if text:
            qty = self.pending.pop("qty", None)
            if not text.isdigit() or int(text) not in left:
                return self._fail("return.no_line", line=text)
            no = int(text)
            if left[no] <= 0:
                return self._fail("return.line_done", line=text)
            weighed = any(line.line_no == no and line.weight_g is not None
                          for line in session.sale.lines)  # fmt: skip
            if weighed:
                picks[no] = ev.ReturnItem(no, 1, qty)  # None: all grams left
            else:
                picks[no] = ev.ReturnItem(no, qty if qty is not None else left[no])
            self.pending["picks"] = picks
            return []
        if not picks:  # ENTER alone: everything that may still come back
            picks = {
                line.line_no: ev.ReturnItem(line.line_no, 1, None)
                if line.weight_g is not None
                else ev.ReturnItem(line.line_no, left[line.line_no])
                for line in session.sale.lines
                if line.returnable and left[line.line_no] > 0
            }
        if not picks:
            return self._fail("return.nothing")
        try:
            request = [ReturnRequestLine(i.line_no, i.quantity, i.weight_g) for i in picks.values()]
            preview = preview_return(session.sale, session.earlier, request)
        except CheckoutError as err:
            self.pending.pop("picks", None)
            return self._fail("error.return", reason=str(err), reason_key=err.msgid, **err.params)
        self.preview = preview
        self.mode, self.entry = "return_confirm", ""
        self.pending = {"picks": picks}
        return []

    def _enter_return_confirm(self, text: str, view: View) -> list[object]:
        self.mode, self.entry = "return_reason", ""
        return []

    def _enter_return_reason(self, text: str, view: View) -> list[object]:
        reason = RETURN_REASONS.get(text)
        if reason is None:
            self.mode = "return_reason"
            return self._fail("return.pick_reason")
        item = self.pending.get("item")
        picks: dict[int, ev.ReturnItem] = self.pending.get("picks", {})
        self.preview = None
        self._set_mode("")
        if isinstance(item, ev.NoReceiptReturn):
            return [dataclasses.replace(item, reason=reason)]
        return [ev.ReturnLines(tuple(picks.values()), reason=reason)]

    def _enter_manager_id(self, text: str, view: View) -> list[object]:
        if not text:
            self._set_mode("")
            return []
        self.pending["manager_id"] = text
        self.mode = "manager_pin"
        return []

    def _enter_manager_pin(self, text: str, view: View) -> list[object]:
        event = self.pending.get("event")
        creds = ev.ManagerCreds(str(self.pending.get("manager_id", "")), text)
        self._set_mode("")
        if event is None:
            return []
        return [dataclasses.replace(event, manager=creds)]

    def _enter_count(self, text: str, view: View) -> list[object]:
        self.entry = text
        amount = self._amount()
        self._set_mode("")
        return [] if amount is None else [ev.CloseShift(amount)]

    def _enter_cash_in(self, text: str, view: View) -> list[object]:
        self.entry = text
        amount = self._amount()
        self._set_mode("")
        return [] if amount is None else [ev.CashIn(amount, "cash in at the till")]

    def _enter_cash_out(self, text: str, view: View) -> list[object]:
        self.entry = text
        amount = self._amount()
        self._set_mode("")
        return [] if amount is None else [ev.CashOut(amount, "cash out at the till")]

    def _enter_recall(self, text: str, view: View) -> list[object]:
        held = view.state.suspended
        self._set_mode("")
        index = int(text) if text.isdigit() else 1
        if not held or not 1 <= index <= len(held):
            return self._fail("suspend.empty")
        return [ev.Recall(held[index - 1].suspend_id)]

    def _enter_reprint(self, text: str, view: View) -> list[object]:
        self._set_mode("")
        receipt = self.expand_receipt(text) if text else view.last_receipt_no
        return [ev.Reprint(receipt)] if receipt else []

    def _enter_discount(self, text: str, view: View) -> list[object]:
        # "10" is 10 % off the whole sale; parse_yuan's two decimals are exactly basis points.
        self.entry = text
        bp = self._amount()
        self._set_mode("")
        return [] if bp is None else [ev.DiscountSale(percent_bp=bp)]

    def _enter_feedback(self, text: str, view: View) -> list[object]:
        self._set_mode("")
        return [ev.SkipFeedback()]

    def _enter_menu(self, text: str, view: View) -> list[object]:
        self._set_mode("")
        return []

    # -- the FUNC menu ----------------------------------------------------------------------

    def _menu(self, key: str, view: View) -> list[object]:
        action = next((a for k, a, _ in MENU if k == key), None)
        self._set_mode("")
        simple: dict[str, object] = {
            "suspend": ev.Suspend(),
            "x_report": ev.XReport(),
            "logout": ev.Logout(),
            "cancel_sale": ev.CancelSale(),
        }
        if action in simple:
            return self._sent([simple[action]])
        if action == "language":
            return [UiAction("language")]
        if action == "recall" and len(view.state.suspended) == 1:
            return self._sent([ev.Recall(view.state.suspended[0].suspend_id)])
        modes = {"recall": "recall", "close_shift": "count", "cash_in": "cash_in",
                 "cash_out": "cash_out", "register": "register", "reprint": "reprint",
                 "discount": "discount"}  # fmt: skip
        if action in modes:
            self._set_mode(modes[action])
            return []
        return self._fail("ui.unknown_key")

    def _menu2(self, key: str, view: View) -> list[object]:
        action = next((a for k, a, _ in MENU2 if k == key), None)
        self._set_mode("")
        if action is None:
            return self._fail("ui.unknown_key")
        if action in ("price", "line_discount") and _last_line(view) is None:
            return self._fail("scan.first")
        self._set_mode(action)
        return []

    def _enter_price(self, text: str, view: View) -> list[object]:
        line_no = _last_line(view)
        self.entry = text
        price = self._amount()
        self._set_mode("")
        if price is None or line_no is None:
            return []
        return [ev.OverridePrice(line_no, price)]

    def _enter_line_discount(self, text: str, view: View) -> list[object]:
        line_no = _last_line(view)
        self.entry = text
        bp = self._amount()
        self._set_mode("")
        if bp is None or line_no is None:
            return []
        return [ev.DiscountLine(line_no, percent_bp=bp)]

    def _enter_item_sku(self, text: str, view: View) -> list[object]:
        if not text:
            self._set_mode("")
            return []
        self.pending["sku"] = text
        self._set_mode("item_qty")
        return []

    def _enter_item_qty(self, text: str, view: View) -> list[object]:
        if not text.isdigit() or int(text) < 1:
            return self._fail("ui.bad_number")
        self.pending["quantity"] = int(text)
        self._set_mode("item_price")
        return []

    def _enter_item_price(self, text: str, view: View) -> list[object]:
        self.entry = text
        price = self._amount()
        if price is None:
            return []
        sku, quantity = str(self.pending.get("sku", "")), int(self.pending.get("quantity", 1))
        receipt = str(self.pending.get("receipt", ""))
        # The reason is asked next, as for a return against a receipt.
        self.pending = {"item": ev.NoReceiptReturn(sku, quantity, price, receipt=receipt)}
        self.mode, self.entry = "return_reason", ""
        return []

    def _enter_void_sale(self, text: str, view: View) -> list[object]:
        self._set_mode("")
        receipt = self.expand_receipt(text) if text else view.last_receipt_no
        return [ev.VoidSale(receipt)] if receipt else []

    # -- a complaint (against the member, or a receipt) and a note on the member ------------

    def _enter_complaint_receipt(self, text: str, view: View) -> list[object]:
        # ENTER alone: the complaint is the current member's, with no receipt.
        receipt = self.expand_receipt(text) if text else ""
        self._set_mode("complaint_text")
        self.pending = {"receipt": receipt}
        return []

    def _enter_complaint_text(self, text: str, view: View) -> list[object]:
        if not text.strip():
            return self._fail("complaint.empty")
        receipt = str(self.pending.get("receipt", ""))
        self._set_mode("")
        return [ev.FileComplaint(text, receipt=receipt)]

    def _enter_note_text(self, text: str, view: View) -> list[object]:
        if not text.strip():
            return self._fail("member.note_empty")
        self._set_mode("")
        return [ev.AddMemberNote(text)]

    def _enter_lookup(self, text: str, view: View) -> list[object]:
        self._set_mode("")
        return [ev.LookupMember(by="phone", value=text)] if text else []

    def expand_receipt(self, text: str) -> str:
        """A receipt number as typed: 12 digits (date + counter) get this till's prefix."""
        if text.isdigit() and len(text) >= 12:
            return f"{self.receipt_prefix}-{text[:8]}-{text[8:]}"
        return text


def _last_line(view: View) -> int | None:
    cart = view.state.cart
    active = cart.active_lines() if cart is not None else ()
    return active[-1].line_no if active else None


def _default_mode(phase: Phase) -> str:
    return {
        Phase.LOGGED_OUT: "staff",
        Phase.NO_SHIFT: "float",
        Phase.TENDERING: "tender",
        Phase.RETURNING: "return_lines",
        Phase.FEEDBACK: "feedback",
    }.get(phase, "sale")
