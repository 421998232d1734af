"""The cashier screen: a full-screen Textual app driven entirely from the keypad (or keyboard).

The PC keyboard stands in for the programmed USB POS keypad and sends the same logical keys
(device.drivers.keypad): F1 void, F2 qty, F3 subtotal, F4 cash, F5 card, F6 mobile, F7 points,
F8 coupon, F9 member, F10 return, F11 no sale, F12 menu, Esc/Backspace clear, digits, dot and
Enter; letters work too for terminals that eat F-keys (see KEYBOARD). Nothing needs a mouse.
Demo keys drive the simulated scanner, card reader and drawer.

Threading: the runtime calls ``push_view`` from its own thread; the view is handed to the
app's event loop with call_soon_threadsafe and the newest one wins, so the runtime never waits
for the screen. When the screen's terminal goes away (device.ui.terminal) the screen ends as on
Ctrl+Q.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.driver import Driver
from textual.widgets import DataTable, Input, Static

from device.checkout.state import Phase
from device.i18n import render
from device.runtime import View
from device.ui import panels
from device.ui.keypad import KeypadController, UiAction
from device.ui.terminal import TillDriver

log = logging.getLogger(__name__)

# PC keyboard -> logical keypad key (Textual key names).
KEYBOARD: dict[str, str] = {
    "f1": "VOID", "f2": "QTY", "f3": "SUBTOTAL", "f4": "CASH", "f5": "CARD", "f6": "MOBILE",
    "f7": "POINTS", "f8": "COUPON", "f9": "MEMBER", "f10": "RETURN", "f11": "NOSALE",
    "f12": "FUNC", "enter": "ENTER", "escape": "CLEAR", "backspace": "CLEAR", "up": "UP",
    "down": "DOWN", "full_stop": ".", "asterisk": "QTY", "plus": "SUBTOTAL", "slash": "FUNC",
    "question_mark": "HELP",
    # letters for terminals that keep F-keys for themselves
    "v": "VOID", "x": "QTY", "t": "SUBTOTAL", "c": "CASH", "b": "CARD", "w": "MOBILE",
    "p": "POINTS", "o": "COUPON", "m": "MEMBER", "r": "RETURN", "n": "NOSALE", "f": "FUNC",
    "h": "HELP",
}  # fmt: skip


class Demo(Protocol):
    """The simulated peripherals' hands, for the demo keys."""

    def scan(self, code: str) -> None:
        """Type a code into the simulated scanner."""
        ...

    def scan_random(self, weighed: bool = False) -> str:
        """Scan a random demo product (or a scale label); returns the code."""
        ...

    def swipe_random(self) -> str:
        """Swipe a random demo member card; returns the card number."""
        ...

    def close_drawer(self) -> None:
        """Push the drawer shut."""
        ...


class CashierApp(App[int]):
    """The till's screen; ``submit`` sends items to the runtime."""

    AUTO_FOCUS = None  # keys go to the keypad controller; the scanner prompt takes focus on demand
    CSS = """
    Screen { layout: vertical; }
    #title { height: 1; background: $primary; color: $text; padding: 0 1; }
    #main { height: 1fr; }
    #lines { width: 2fr; }
    #side { width: 1fr; min-width: 30; padding: 0 1; }
    #member, #totals, #display, #extra { border: round $secondary; padding: 0 1; height: auto; }
    #overlay { width: 2fr; height: 1fr; padding: 0 1; border: none; background: $boost; }
    .hidden { display: none; }
    #display { color: $success; }
    #login { height: 1fr; content-align: center middle; text-style: bold; }
    #notice { height: 2; padding: 0 1; }
    #prompt { height: auto; padding: 0 1; background: $boost; text-style: bold; }
    #keys, #demo { height: auto; padding: 0 1; color: $text-muted; }
    #receipt { height: 1; padding: 0 1; color: $accent; }
    #status { height: 1; background: $panel; padding: 0 1; }
    #scanner { display: none; }
    #scanner.open { display: block; }
    """

    def __init__(
        self,
        submit: Callable[[object], None],
        receipt_prefix: str,
        title_text: str = "",
        demo: Demo | None = None,
        language: str = "zh",
    ) -> None:
        super().__init__()
        self.submit = submit
        self.demo = demo
        self.lang = language
        self.title_text = title_text
        self.keypad = KeypadController(receipt_prefix=receipt_prefix)
        self.view: View | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: View | None = None
        self._lock = threading.Lock()
        self.on_ready: Callable[[], None] | None = None
        self._panel = ""  # "", "help", "report"
        self._seen_report: Any = None
        self._columns_lang = ""
        self._gone = ""  # why the terminal went away, once it has

    def get_driver_class(self) -> type[Driver]:
        """Textual's Linux driver, made to notice its terminal going away (device.ui.terminal)."""
        return TillDriver if os.name == "posix" else super().get_driver_class()

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="title")
        with Horizontal(id="main"):
            yield DataTable(id="lines", cursor_type="none", zebra_stripes=True)
            # The menu, help, a report or a return's refund take the sale table's place, so
            # they fit an 80x24 terminal.
            yield Static("", id="overlay", classes="hidden")
            with Vertical(id="side"):
                yield Static("", id="totals")
                yield Static("", id="member")
                yield Static("", id="display")
                yield Static("", id="extra")
        yield Static("", id="notice")
        yield Static("", id="prompt")
        yield Static("", id="receipt")
        yield Static("", id="keys")
        yield Static("", id="demo")
        yield Input(placeholder="barcode", id="scanner")
        yield Static("", id="status")

    def on_mount(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self._gone:  # it went before there was a loop to tell
            self.exit()
            return
        table = self.query_one("#lines", DataTable)
        table.can_focus = False
        self.set_focus(None)
        table.add_columns(*panels.table_headers(self.lang))
        self._columns_lang = self.lang
        self._drain()
        self.refresh_screen()

    # -- from the runtime thread ------------------------------------------------------------

    def push_view(self, view: View) -> None:
        """Called by the runtime on its own thread: show this view soon, never block."""
        with self._lock:
            first = self._pending is None
            self._pending = view
        loop = self._loop
        if loop is not None and first and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the screen closed meanwhile
                loop.call_soon_threadsafe(self._drain)

    def exit_threadsafe(self) -> bool:
        """End the screen soon, from a signal handler or another thread; False if it is not
        running (not mounted yet, or already closed)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(self.exit)
        except RuntimeError:  # closed meanwhile
            return False
        return True

    def terminal_gone(self, reason: str) -> None:
        """From the driver's thread: the terminal went away (end of input, an input or output
        error, a hangup with no SIGHUP to the till); end the screen as Ctrl+Q does."""
        self._gone = reason  # before looking for the loop: on_mount looks the other way round
        log.info("terminal gone (%s): stopping", reason)
        self.exit_threadsafe()

    def press_threadsafe(self, key: str) -> None:
        """A hardware keypad key from the runtime thread."""
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self.press, key)

    def _drain(self) -> None:
        with self._lock:
            view, self._pending = self._pending, None
        if view is not None and self.is_running:
            self.apply_view(view)

    def apply_view(self, view: View) -> None:
        """Show a view (UI thread)."""
        self.view = view
        self.keypad.on_view(view)
        if view.report is not None and view.report is not self._seen_report:
            self._seen_report = view.report
            self._panel = "report"
        self.refresh_screen()
        if self.on_ready is not None and view.state.phase is Phase.LOGGED_OUT:
            ready, self.on_ready = self.on_ready, None
            self.call_after_refresh(ready)

    # -- keys -------------------------------------------------------------------------------

    async def on_key(self, event: events.Key) -> None:
        scanner = self.query_one("#scanner", Input)
        if scanner.has_focus:
            if event.key == "escape":
                self._close_scanner()
                event.stop()
            return
        event.stop()
        event.prevent_default()
        if self._demo_key(event.key):
            return
        if self.view is not None and self.keypad.wants_text(self.view):
            self._text_key(event)
            return
        key = KEYBOARD.get(event.key)
        if key is None and event.character and event.character in "0123456789":
            key = event.character
        if key is None:
            return
        self.press(key)

    def _text_key(self, event: events.Key) -> None:
        """A complaint or a note is being typed: letters are text, Enter and Esc still act."""
        assert self.view is not None
        if event.key in ("enter", "escape"):
            self.press(KEYBOARD[event.key])
            return
        if event.key == "backspace":
            self.keypad.backspace(self.view)
        elif event.character and event.character.isprintable():
            self.keypad.type_text(event.character, self.view)
        self.refresh_screen()

    def press(self, key: str) -> None:
        """One logical keypad key (also what a hardware keypad's KeyEvent arrives as)."""
        if self.view is None:
            return
        if self._panel:
            self._panel = ""
            if key in ("CLEAR", "ENTER", "HELP"):
                self.refresh_screen()
                return
        for item in self.keypad.press(key, self.view):
            if isinstance(item, UiAction):
                self._ui_action(item)
            else:
                self.submit(item)
        self.refresh_screen()

    def _ui_action(self, action: UiAction) -> None:
        SCREEN_ACTIONS[action.name](self)

    def _switch_language(self) -> None:
        self.lang = "en" if self.lang == "zh" else "zh"

    def _show_help(self) -> None:
        self._panel = "help"

    def _demo_key(self, key: str) -> bool:
        if key in ("ctrl+q", "ctrl+c"):
            self.exit(0)
            return True
        demo = self.demo
        if demo is None or key not in ("ctrl+s", "ctrl+w", "ctrl+k", "ctrl+d", "ctrl+t"):
            return False
        if key == "ctrl+s":
            demo.scan_random(False)
        elif key == "ctrl+w":
            demo.scan_random(True)
        elif key == "ctrl+k":
            demo.swipe_random()
        elif key == "ctrl+d":
            demo.close_drawer()
        else:
            scanner = self.query_one("#scanner", Input)
            scanner.add_class("open")
            scanner.value = ""
            scanner.focus()
        return True

    def on_input_submitted(self, message: Input.Submitted) -> None:
        code = message.value.strip()
        self._close_scanner()
        if code and self.demo is not None:
            self.demo.scan(code)

    def _close_scanner(self) -> None:
        scanner = self.query_one("#scanner", Input)
        scanner.remove_class("open")
        scanner.blur()

    # -- drawing ----------------------------------------------------------------------------

    def refresh_screen(self) -> None:
        """Redraw every panel from the current view."""
        view, lang = self.view, self.lang
        self.query_one("#keys", Static).update(render("label.keys", lang))
        if self.demo is not None:
            self.query_one("#demo", Static).update(render("label.demo_keys", lang))
        if view is None:
            return
        phase = view.state.phase
        title = panels.escape(f"{self.title_text}   [{panels.phase_name(phase, lang)}]")
        self.query_one("#title", Static).update(title)
        self._table(view, lang)
        self.query_one("#member", Static).update(panels.member_panel(view, lang))
        self.query_one("#totals", Static).update(panels.totals_panel(view, lang))
        line1, line2 = panels.display_lines(view.display, lang)
        # On a short terminal the mirror of the customer display gives way while paying.
        self.query_one("#display", Static).set_class(
            self.size.height < 30 and phase is Phase.TENDERING, "hidden"
        )
        self.query_one("#display", Static).update(
            f"{render('label.customer', lang)}\n{panels.escape(line1)}\n{panels.escape(line2)}"
        )
        overlay = self._overlay(view, lang)
        self.query_one("#overlay", Static).update(overlay)
        self.query_one("#overlay", Static).set_class(not overlay, "hidden")
        self.query_one("#lines", DataTable).set_class(bool(overlay), "hidden")
        extra = panels.suspended_line(view, lang)
        self.query_one("#extra", Static).update(extra)
        self.query_one("#extra", Static).set_class(not extra, "hidden")
        self.query_one("#notice", Static).update(
            panels.notice_line(view, lang, self.keypad.error, self.keypad.error_params)
        )
        key, params = self.keypad.prompt(view)
        if params.get("action"):
            params["action"] = render(f"action.{params['action']}", lang)
        entry = self.keypad.shown_entry(view)
        self.query_one("#prompt", Static).update(
            f"{panels.escape(render(key, lang, **params))}: {entry}▌"
        )
        self.query_one("#receipt", Static).update(panels.receipt_line(view, lang))
        self.query_one("#status", Static).update(panels.status_bar(view, lang))

    def _overlay(self, view: View, lang: str) -> str:
        mode = self.keypad.current_mode(view)
        if mode in ("menu", "menu2"):
            return panels.menu_panel(lang, 1 if mode == "menu" else 2)
        if mode in ("return_confirm", "return_reason") and self.keypad.preview is not None:
            return panels.return_preview(view, self.keypad.preview, lang)
        if self._panel == "help":
            return render("label.help", lang)
        if self._panel == "report":
            return panels.report_panel(view, lang)
        return ""

    def _table(self, view: View, lang: str) -> None:
        table = self.query_one("#lines", DataTable)
        if self._columns_lang != lang:
            table.clear(columns=True)
            table.add_columns(*panels.table_headers(lang))
            self._columns_lang = lang
        table.clear()
        if view.state.phase is Phase.RETURNING and view.state.returning is not None:
            receipt = view.state.returning.receipt_no
            table.add_row("", render("label.return_receipt", lang, receipt=receipt), "", "", "")
            rows = panels.return_rows(view, lang)
        elif view.state.phase is Phase.LOGGED_OUT:
            rows = []
            table.add_row("", render("prompt.staff", lang), "", "", "")
        else:
            side = max(30, self.size.width // 3)  # the side column's width (see CSS)
            rows = panels.line_rows(view, lang, self.size.width - side)
        for row in rows:
            table.add_row(*row)
        if rows:
            table.move_cursor(row=table.row_count - 1)


#: What the screen does for each of the keypad's UI_ACTIONS.
SCREEN_ACTIONS: Mapping[str, Callable[[CashierApp], None]] = MappingProxyType(
    {"language": CashierApp._switch_language, "help": CashierApp._show_help}
)
