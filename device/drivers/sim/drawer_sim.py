"""A cash drawer on gpiozero mock pins: the relay pulse pops it open, the switch pin follows."""

from __future__ import annotations

import threading
from typing import Any


class DrawerSim:
    """Watches the relay pin; on a pulse drives the switch pin to "open". close() shuts it.

    With the default wiring (switch to ground, pull-up) "open" is the pin driven low.
    `jammed` makes the drawer ignore kicks (a stuck lock or an unplugged drawer cable).
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

    def stop(self) -> None:
        """Stop watching the relay."""
        self._stop.set()
        self._thread.join(timeout=1)

    def _watch(self) -> None:
        was_on = False
        while not self._stop.wait(0.002):
            on = bool(self._relay.state)
            if on and not was_on:
                self.kicks += 1
                if not self.jammed:
                    self.open()
            was_on = on
