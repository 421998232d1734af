"""Cash drawer: GPIO relay kick (or via the printer), open-switch sensing, left-open alarm.

Kicking: most drawers hang off the receipt printer's drawer port (ESC p, in the printer driver);
a drawer wired to the Pi is kicked by pulsing a relay through gpiozero's DigitalOutputDevice.
Any gpiozero pin factory works (lgpio on a Pi 5, RPi.GPIO on older Pis, MockFactory in tests);
it is passed in explicitly, never set globally.

Sensing: the open switch is read from a GPIO input (gpiozero Button, with debounce) or from the
printer's DLE EOT 1 status; both are a DrawerSensor (is_open() -> bool) that DrawerMonitor
polls. The monitor emits DrawerEvent on each change and one DrawerAlarm per opening when the
drawer stays open past `alarm_after_s`; its clock is injectable so tests need not wait.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from device.drivers.errors import ConfigError, DeviceStatus, DrawerError, DriverError
from device.drivers.events import DrawerAlarm, DrawerEvent, Emit
from device.drivers.link import Reporter

Clock = Callable[[], float]


class DrawerSensor(Protocol):
    """Anything that can tell whether the drawer is open (GPIO switch, printer DLE EOT 1)."""

    def is_open(self) -> bool:
        """True when the drawer is open; raise DriverError when the sensor cannot be read."""
        ...


class FunctionSensor:
    """Wraps a plain callable (e.g. the printer driver's DLE EOT 1 query) as a DrawerSensor."""

    def __init__(self, read_open: Callable[[], bool]) -> None:
        self._read_open = read_open

    def is_open(self) -> bool:
        """Ask the callable; its DriverError passes through to the monitor."""
        return bool(self._read_open())


class DrawerKicker(Protocol):
    """Anything that can pulse the drawer's solenoid (GPIO relay, printer ESC p)."""

    def kick(self) -> None:
        """Fire the solenoid once; raise DriverError when that is impossible."""
        ...


class FunctionKicker:
    """Wraps a plain callable (e.g. the printer driver's kick_drawer, ESC p) as a DrawerKicker."""

    def __init__(self, kick: Callable[[], None]) -> None:
        self._kick = kick

    def kick(self) -> None:
        """Call it; its DriverError passes through."""
        self._kick()


@dataclass(frozen=True)
class DrawerConfig:
    """GPIO wiring and timing; a pin of None means that part is not wired to the Pi."""

    relay_pin: int | str | None = None
    relay_active_high: bool = True
    pulse_ms: int = 200
    switch_pin: int | str | None = None
    switch_pull_up: bool = True
    open_when_pressed: bool = True  # switch closes (pin pulled to ground) when the drawer opens
    bounce_s: float = 0.02
    alarm_after_s: float = 30.0
    poll_s: float = 0.1

    def __post_init__(self) -> None:
        if not 20 <= self.pulse_ms <= 1000:
            raise ConfigError(f"drawer pulse_ms {self.pulse_ms} is outside 20..1000")
        if not 1 <= self.alarm_after_s <= 3600:
            raise ConfigError(f"drawer alarm_after_s {self.alarm_after_s} is outside 1..3600")
        if not 0.005 <= self.poll_s <= 2:
            raise ConfigError(f"drawer poll_s {self.poll_s} is outside 0.005..2")


class GpioDrawerKicker:
    """Pulses a relay on a GPIO pin for `pulse_ms` (24 V solenoids want 100-250 ms)."""

    def __init__(self, config: DrawerConfig, pin_factory: Any = None) -> None:
        from gpiozero import DigitalOutputDevice  # type: ignore[import-untyped]  # optional on machines without GPIO

        if config.relay_pin is None:
            raise ConfigError("drawer relay_pin is not set")
        try:
            self._relay = DigitalOutputDevice(
                config.relay_pin,
                active_high=config.relay_active_high,
                initial_value=False,
                pin_factory=pin_factory,
            )
        except Exception as exc:  # gpiozero raises its own families for bad/busy pins
            raise DrawerError(f"drawer relay on GPIO {config.relay_pin} unusable: {exc}") from exc
        self._pulse_s = config.pulse_ms / 1000
        self._lock = threading.Lock()

    def kick(self) -> None:
        """Energise the relay for the pulse, then always release it."""
        with self._lock:
            try:
                self._relay.on()
                time.sleep(self._pulse_s)
            except Exception as exc:
                raise DrawerError(f"drawer relay failed: {exc}") from exc
            finally:
                with contextlib.suppress(Exception):
                    self._relay.off()

    def close(self) -> None:
        """Release the GPIO pin."""
        self._relay.close()


class GpioDrawerSwitch:
    """The drawer's open switch on a GPIO input, debounced by gpiozero."""

    def __init__(self, config: DrawerConfig, pin_factory: Any = None) -> None:
        from gpiozero import Button

        if config.switch_pin is None:
            raise ConfigError("drawer switch_pin is not set")
        try:
            self._button = Button(
                config.switch_pin,
                pull_up=config.switch_pull_up,
                bounce_time=config.bounce_s,
                pin_factory=pin_factory,
            )
        except Exception as exc:
            raise DrawerError(f"drawer switch on GPIO {config.switch_pin} unusable: {exc}") from exc
        self._open_when_pressed = config.open_when_pressed

    def is_open(self) -> bool:
        """Read the switch now."""
        try:
            return bool(self._button.is_pressed) == self._open_when_pressed
        except Exception as exc:
            raise DrawerError(f"drawer switch could not be read: {exc}") from exc

    def close(self) -> None:
        """Release the GPIO pin."""
        self._button.close()


class DrawerMonitor:
    """Polls a DrawerSensor on a thread: DrawerEvent on change, DrawerAlarm when left open."""

    def __init__(
        self,
        sensor: DrawerSensor,
        emit: Emit,
        alarm_after_s: float = 30.0,
        poll_s: float = 0.1,
        clock: Clock = time.monotonic,
        name: str = "drawer",
    ) -> None:
        self._sensor = sensor
        self._emit = emit
        self.alarm_after_s = alarm_after_s
        self._poll_s = poll_s
        self._clock = clock
        self.reporter = Reporter(name, emit)
        self.is_open: bool | None = None
        self._opened_at = 0.0
        self._alarmed = False
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        """Read the sensor once and emit what changed; never raises."""
        try:
            now_open = self._sensor.is_open()
        except Exception as exc:
            self.reporter.report("error", f"drawer sensor: {exc}")
            return
        self.reporter.report("connected", "drawer sensor ok")
        now = self._clock()
        if now_open != self.is_open:
            first = self.is_open is None
            with self._changed:
                self.is_open = now_open
                self._changed.notify_all()
            self._opened_at, self._alarmed = now, False
            if not first or now_open:
                self._emit(DrawerEvent(open=now_open))
        elif now_open and not self._alarmed and now - self._opened_at >= self.alarm_after_s:
            self._alarmed = True
            self._emit(DrawerAlarm(open_s=now - self._opened_at))

    def wait_for(self, want_open: bool, timeout: float) -> bool:
        """Block until the monitor has seen the drawer in this state, or timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self.is_open == want_open, timeout)

    def start(self) -> None:
        """Start polling on a daemon thread."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="drawer-monitor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self._poll_s)


class CashDrawer:
    """The drawer as the runtime sees it: open() kicks, the monitor reports, self_test checks."""

    def __init__(
        self, kicker: DrawerKicker, monitor: DrawerMonitor | None, name: str = "drawer"
    ) -> None:
        self.kicker = kicker
        self.monitor = monitor
        self.name = name
        self._kick_problem = ""

    @property
    def status(self) -> DeviceStatus:
        """A failed last kick, else what the open-switch monitor reports."""
        if self._kick_problem:
            return DeviceStatus(self.name, "error", self._kick_problem)
        if self.monitor is not None:
            return self.monitor.reporter.status
        return DeviceStatus(self.name, "connected", "drawer ready (no open switch fitted)")

    def open(self) -> None:
        """Kick the drawer; raise DriverError (and show it in status) if the kick failed."""
        try:
            self.kicker.kick()
        except DriverError as exc:
            self._kick_problem = f"drawer could not be opened: {exc}"
            raise
        self._kick_problem = ""

    def self_test(self, timeout: float = 3.0) -> DeviceStatus:
        """Kick and watch the switch go open (the technician then closes the drawer)."""
        try:
            self.kicker.kick()
        except Exception as exc:
            return DeviceStatus(self.name, "error", f"drawer self-test failed: kick failed ({exc})")
        if self.monitor is None:
            return DeviceStatus(self.name, "connected", "drawer kicked; no open switch fitted")
        if self.monitor.wait_for(True, timeout):
            return DeviceStatus(self.name, "connected", "drawer self-test passed: drawer opened")
        return DeviceStatus(
            self.name,
            "error",
            "drawer self-test failed: kicked but the switch never showed open"
            " (check the drawer cable, the relay and the switch wiring)",
        )


class PrinterDrawerPort(Protocol):
    """The part of the printer driver a drawer on its drawer port needs."""

    def kick_drawer(self) -> None:
        """ESC p (or DLE DC4 fn=1 while the printer is stopped) with the configured pulse."""
        ...

    def drawer_open(self) -> bool:
        """DLE EOT 1 bit 2 (drawer kick-out connector pin 3), read as open or shut."""
        ...


def make_drawer(
    config: DrawerConfig,
    emit: Emit,
    printer: PrinterDrawerPort | None = None,
    pin_factory: Any = None,
) -> CashDrawer:
    """The drawer the configuration describes (its monitor not yet started).

    A relay_pin means the Pi kicks it through a GPIO relay, otherwise the printer's drawer
    port does; a switch_pin means the open switch is on a GPIO input, otherwise (with a
    printer) it is read through DLE EOT 1, and with neither there is no open switch.
    """
    if config.relay_pin is not None:
        kicker: DrawerKicker = GpioDrawerKicker(config, pin_factory)
    elif printer is not None:
        kicker = FunctionKicker(printer.kick_drawer)
    else:
        raise ConfigError("drawer needs relay_pin, or a printer whose drawer port kicks it")
    sensor: DrawerSensor | None = None
    poll_s = config.poll_s
    if config.switch_pin is not None:
        sensor = GpioDrawerSwitch(config, pin_factory)
    elif printer is not None:
        sensor = FunctionSensor(printer.drawer_open)
        poll_s = max(poll_s, 0.5)  # each poll is a DLE EOT round trip on the printer's line
    monitor = (
        DrawerMonitor(sensor, emit, config.alarm_after_s, poll_s) if sensor is not None else None
    )
    return CashDrawer(kicker, monitor)
