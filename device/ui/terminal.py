"""The screen's terminal driver: it ends the screen when its terminal goes away, never spinning.

Textual's Linux driver reads its keys in a loop that ignores end of input: on a terminal that
has been hung up (its pty's other side closed, a vhangup with no SIGHUP reaching the till
because the terminal is not the till's controlling one, stdin at its end) every read returns
nothing at once and the loop turns at 100% of a core, for ever. An input error (EIO) ends it
with a traceback instead. Its writer thread dies on the first failed write, after which the
screen blocks on its full queue. This driver reads the keys itself, and on end of input, an
input error, or a hangup or error reported by poll() it tells the app (``TerminalWatcher``),
which stops the till as on Ctrl+Q. Writes to a terminal that has gone are dropped. A read that
ends inside a character (a Chinese name is three bytes a character) waits for the rest: the
parser takes an empty text for the end of input and would refuse every later key; bytes that
are no UTF-8 at all show as one mark each instead of ending the key loop.
"""

from __future__ import annotations

import os
import select
import threading
from codecs import getincrementaldecoder
from collections.abc import Callable
from typing import IO, Any, Protocol, runtime_checkable

from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

TICK_MS = 100  # as Textual's own loop: the parser's tick ends a lone Esc key
READ_BYTES = 4096
_READABLE = select.POLLIN | select.POLLPRI
# A hung-up terminal reports POLLHUP (and POLLIN): the read then says what is left.
_ENDED = select.POLLHUP | select.POLLERR
_UTF8 = getincrementaldecoder("utf-8")
#: What stands for bytes that are no UTF-8 (line noise): seen, and no key is lost around it.
_UNREADABLE = "replace"


@runtime_checkable
class TerminalWatcher(Protocol):
    """The app told, from a driver thread, that its terminal has gone."""

    def terminal_gone(self, reason: str) -> None:
        """The terminal has gone for ``reason``; called once, from a driver thread."""
        ...


class TerminalOutput:
    """The driver's output file: a write the terminal refuses is dropped, and reported once.

    Textual's writer thread would end on the exception, and every later write would then
    wait for its full queue: the screen could not even exit.
    """

    def __init__(self, file: IO[str], gone: Callable[[str], None]) -> None:
        self._file = file
        self._gone = gone
        self._dead = False

    def write(self, text: str) -> int:
        if not self._dead:
            try:
                self._file.write(text)
            except (OSError, ValueError) as err:
                self._failed(err)
        return len(text)

    def flush(self) -> None:
        if not self._dead:
            try:
                self._file.flush()
            except (OSError, ValueError) as err:
                self._failed(err)

    def fileno(self) -> int:
        return self._file.fileno()

    def isatty(self) -> bool:
        return self._file.isatty()

    def _failed(self, err: Exception) -> None:
        self._dead = True
        self._gone(f"output error: {_why(err)}")


def _why(err: Exception) -> str:
    errno = getattr(err, "errno", None)
    return os.strerror(errno) if errno else str(err) or type(err).__name__


class TillDriver(LinuxDriver):
    """Textual's Linux driver, ending the screen when its terminal goes away."""

    def __init__(self, app: Any, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._gone_lock = threading.Lock()
        self._gone_reason = ""
        self._file = TerminalOutput(self._file, self._terminal_gone)

    def _terminal_gone(self, reason: str) -> None:
        with self._gone_lock:
            if self._gone_reason:
                return
            self._gone_reason = reason
        if isinstance(self._app, TerminalWatcher):
            self._app.terminal_gone(reason)
        else:
            self._app.call_later(self._app.exit)

    def run_input_thread(self) -> None:
        """Read keys until the screen stops or the terminal goes away."""
        fd = self.fileno
        parser = XTermParser(self._debug)
        decode = _UTF8(errors=_UNREADABLE).decode
        poller = select.poll()
        poller.register(fd, _READABLE)
        try:
            while not self.exit_event.is_set():
                ready = poller.poll(TICK_MS)
                mask = ready[0][1] if ready else 0
                if mask & select.POLLNVAL:
                    self._terminal_gone("input closed")
                    return
                if mask & (_READABLE | _ENDED):
                    try:
                        data = os.read(fd, READ_BYTES)
                    except OSError as err:
                        self._terminal_gone(f"input error: {_why(err)}")
                        return
                    if not data:
                        self._terminal_gone("end of input")
                        return
                    text = decode(data)
                    if text:  # "" is half a character: the parser would take it for the end
                        for event in parser.feed(text):
                            self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)
        finally:
            try:
                for _ in parser.feed(""):
                    pass
            except (EOFError, ParseError):
                pass
