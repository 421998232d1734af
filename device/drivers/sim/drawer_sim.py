"""A cash drawer on gpiozero mock pins: the relay pulse pops it open, the switch pin follows."""

from __future__ import annotations

import threading
from typing import Any


class DrawerSim:
    """Watches the relay pin; on a pulse drives the switch pin to "open". close() shuts it.

    With the default wiring (switch to ground, pull-up) "open" is the pin driven low.
    `jammed` makes the drawer ignore kicks (a stuck lock or an unplugged drawer cable).
    Pulses are read from the mock pin's recorded state changes, not by sampling its level,
    so a kick is never missed however late this thread is scheduled on a busy machine.
    """

    def __init__(
        self, factory: Any, relay_pin: int | str, switch_pin: int | str, open_low: bool = True
    ) -> None:
        self._relay = factory.pin(relay_pin)
        self._switch = factory.pin(switch_pin)
        self._open_low = open_low
        self.jammed = False
        self.kicks = 0
        self._stop = threading.Event()
        self._acted = threading.Condition()
        self._history: list[Any] = self._relay.states
        self._seen = len(self._history)
        self.close()
        self._thread = threading.Thread(target=self._watch, name="drawer-sim", daemon=True)
        self._thread.start()

    def open(self) -> None:
        """The drawer is opened (by a kick, or by hand with the key)."""
        if self._open_low:
            self._switch.drive_low()
        else:
            self._switch.drive_high()

    def close(self) -> None:
        """The cashier pushes the drawer shut."""
        if self._open_low:
            self._switch.drive_high()
        else:
            self._switch.drive_low()

    @property
    def is_open(self) -> bool:
        """Whether the drawer stands open (the switch pin's level)."""
        return bool(self._switch.state) != self._open_low

    def wait_idle(self, timeout: float) -> bool:
        """Block until every relay pulse given so far has been acted on (or timeout)."""
        with self._acted:
            return self._acted.wait_for(self._caught_up, timeout)

    def _caught_up(self) -> bool:
        return self._relay.states is self._history and self._seen == len(self._history)

    def stop(self) -> None:
        """Stop watching the relay."""
        self._stop.set()
        self._thread.join(timeout=1)

    def _watch(self) -> None:
        while not self._stop.wait(0.002):
            history = self._relay.states
            if history is not self._history:  # the pin's record was cleared: start afresh
                self._history, self._seen = history, 1  # entry 0 is the level at clearing
            end = len(history)
            # Each entry is a change, so each "on" entry is one rising edge: one kick.
            pulses = sum(1 for change in history[self._seen : end] if change.state)
            for _ in range(pulses):
                self.kicks += 1
                if not self.jammed:
                    self.open()
            with self._acted:
                self._seen = end
                self._acted.notify_all()
