"""Cash drawer on gpiozero's MockFactory: relay pulse, open switch, left-open alarm, self-test."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from device.drivers.drawer import (
    CashDrawer,
    DrawerConfig,
    DrawerMonitor,
    FunctionSensor,
    GpioDrawerKicker,
    GpioDrawerSwitch,
)
from device.drivers.errors import ConfigError, DeviceStatus, DrawerError
from device.drivers.events import DrawerAlarm, DrawerEvent
from device.drivers.sim.drawer_sim import DrawerSim
from tests.device.drivers.input_helpers import Collector

RELAY, SWITCH = 17, 27


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


def cfg(**kw: object) -> DrawerConfig:
    return DrawerConfig(relay_pin=RELAY, switch_pin=SWITCH, pulse_ms=50, bounce_s=0.001, **kw)


# A scheduler stall on a busy machine can only lengthen a pulse; a second is far beyond any
# solenoid's needs and still catches a driver that sleeps in the wrong unit (seconds for ms).
STALL_ALLOWANCE_S = 1.0


def test_kick_pulses_the_relay_once_and_releases_it(factory: MockFactory) -> None:
    """The relay is held for the configured 50 ms (or a scheduler stall longer), then released.

    A MockPin state's timestamp is the time since the pin's previous change, so the
    release's timestamp is how long the relay was held; time.sleep on the monotonic clock
    guarantees at least the intent, and load only adds to it.
    """
    kicker = GpioDrawerKicker(cfg(), pin_factory=factory)
    kicker.kick()
    states = factory.pin(RELAY).states
    assert [s.state for s in states] == [False, True, False]
    held_s = states[2].timestamp
    assert 0.050 <= held_s < 0.050 + STALL_ALLOWANCE_S


def test_the_simulated_drawer_counts_every_pulse_however_short(factory: MockFactory) -> None:
    """Three back-to-back pulses far shorter than its polling still open it three times."""
    sim = DrawerSim(factory, RELAY, SWITCH)
    relay = factory.pin(RELAY)
    relay.function = "output"
    try:
        assert not sim.is_open
        for _ in range(3):
            relay.state = True
            relay.state = False
        assert sim.wait_idle(10)
        assert sim.kicks == 3 and sim.is_open
        sim.close()
        assert not sim.is_open
        sim.jammed = True
        relay.state = True
        relay.state = False
        assert sim.wait_idle(10)
        assert sim.kicks == 4 and not sim.is_open
    finally:
        sim.stop()


def test_active_low_relay_idles_high(factory: MockFactory) -> None:
    kicker = GpioDrawerKicker(cfg(relay_active_high=False), pin_factory=factory)
    kicker.kick()
    assert [s.state for s in factory.pin(RELAY).states][-2:] == [False, True]


def test_switch_reads_open_when_pulled_low(factory: MockFactory) -> None:
    switch = GpioDrawerSwitch(cfg(), pin_factory=factory)
    pin = factory.pin(SWITCH)
    pin.drive_high()
    assert switch.is_open() is False
    pin.drive_low()
    assert switch.is_open() is True


def test_drawer_left_open_raises_one_alarm_per_opening(factory: MockFactory) -> None:
    clock = FakeClock()
    out = Collector()
    switch = GpioDrawerSwitch(cfg(), pin_factory=factory)
    pin = factory.pin(SWITCH)
    pin.drive_high()
    monitor = DrawerMonitor(switch, out, alarm_after_s=30, poll_s=0.005, clock=clock)
    monitor.start()
    try:
        out.status("connected")
        pin.drive_low()
        assert out.of(DrawerEvent) == DrawerEvent(open=True)
        clock.advance(29)
        assert [e for e in out.drain(0.1) if isinstance(e, DrawerAlarm)] == []
        clock.advance(2)
        alarm = out.of(DrawerAlarm)
        assert 31 <= alarm.open_s < 32
        clock.advance(60)
        assert [e for e in out.drain(0.1) if isinstance(e, DrawerAlarm)] == []
        pin.drive_high()
        assert out.of(DrawerEvent) == DrawerEvent(open=False)
        pin.drive_low()  # opened again: a fresh alarm timer
        assert out.of(DrawerEvent) == DrawerEvent(open=True)
        clock.advance(30)
        assert out.of(DrawerAlarm).open_s == pytest.approx(30, abs=0.5)
    finally:
        monitor.stop()


def test_a_failing_sensor_is_reported_and_polling_goes_on() -> None:
    out = Collector()
    answers = iter([DrawerError("printer did not answer DLE EOT 1"), False, True])

    def printer_dle_eot_1() -> bool:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monitor = DrawerMonitor(FunctionSensor(printer_dle_eot_1), out)
    for _ in range(3):
        monitor.poll_once()
    assert out.drain(0.05) == [
        DeviceStatus("drawer", "error", "drawer sensor: printer did not answer DLE EOT 1"),
        DeviceStatus("drawer", "connected", "drawer sensor ok"),
        DrawerEvent(open=True),
    ]


def test_self_test_kicks_and_sees_the_switch_change(factory: MockFactory) -> None:
    sim = DrawerSim(factory, RELAY, SWITCH)
    out = Collector()
    kicker = GpioDrawerKicker(cfg(), pin_factory=factory)
    monitor = DrawerMonitor(GpioDrawerSwitch(cfg(), pin_factory=factory), out, poll_s=0.005)
    monitor.start()
    try:
        drawer = CashDrawer(kicker, monitor)
        result = drawer.self_test(timeout=30)
        assert result == DeviceStatus(
            "drawer", "connected", "drawer self-test passed: drawer opened"
        )
        assert sim.kicks == 1
        sim.close()
        assert monitor.wait_for(False, 30)
        sim.jammed = True
        result = drawer.self_test(timeout=0.3)
        assert result.state == "error" and "switch never showed open" in result.message
    finally:
        monitor.stop()
        sim.stop()


def test_config_bounds() -> None:
    with pytest.raises(ConfigError, match="pulse_ms 5"):
        DrawerConfig(pulse_ms=5)
    with pytest.raises(ConfigError, match="relay_pin is not set"):
        GpioDrawerKicker(DrawerConfig(), pin_factory=MockFactory())


def test_drawer_on_the_printer_port_kicks_senses_and_alarms(tmp_path) -> None:
    """Drawer wired to the printer: kick by ESC p, open switch by DLE EOT 1 (printer driver),
    over the printer simulator's pty."""
    from device.drivers.drawer import FunctionKicker
    from device.drivers.sim.printer_sim import PrinterSimulator
    from tests.device.drivers.printer_helpers import running

    clock = FakeClock()
    out = Collector()
    with PrinterSimulator() as sim, running(sim, str(tmp_path / "spool")) as printer:
        monitor = DrawerMonitor(
            FunctionSensor(printer.drawer_open), out, alarm_after_s=30, poll_s=0.02, clock=clock
        )
        monitor.start()
        try:
            drawer = CashDrawer(FunctionKicker(printer.kick_drawer), monitor)
            assert drawer.self_test(timeout=30).message == "drawer self-test passed: drawer opened"
            assert out.of(DrawerEvent) == DrawerEvent(open=True)
            clock.advance(31)
            assert out.of(DrawerAlarm).open_s >= 30
            sim.close_drawer()
            assert out.of(DrawerEvent) == DrawerEvent(open=False)
        finally:
            monitor.stop()


def test_configuration_picks_relay_and_switch_pins(factory: MockFactory) -> None:
    """relay_pin and switch_pin in the config choose the GPIO relay and GPIO switch."""
    from device.drivers.drawer import make_drawer

    sim = DrawerSim(factory, RELAY, SWITCH)
    out = Collector()
    drawer = make_drawer(cfg(poll_s=0.01), out, pin_factory=factory)
    assert drawer.monitor is not None
    drawer.monitor.start()
    try:
        drawer.open()
        assert out.of(DrawerEvent) == DrawerEvent(open=True)
        assert sim.kicks == 1
        assert drawer.status.state == "connected"
    finally:
        drawer.monitor.stop()
        sim.stop()


def test_configuration_without_pins_uses_the_printer_port() -> None:
    """No relay pin: kicks go to the printer (ESC p); no switch pin: DLE EOT 1 is read."""
    from device.drivers.drawer import make_drawer

    class Port:
        kicks = 0
        open = False

        def kick_drawer(self) -> None:
            self.kicks += 1
            self.open = True

        def drawer_open(self) -> bool:
            return self.open

    port, out = Port(), Collector()
    drawer = make_drawer(DrawerConfig(), out, printer=port)
    drawer.open()
    assert port.kicks == 1
    assert drawer.monitor is not None
    drawer.monitor.poll_once()
    assert out.of(DrawerEvent) == DrawerEvent(open=True)
    with pytest.raises(ConfigError, match="needs relay_pin, or a printer"):
        make_drawer(DrawerConfig(), out)


def test_a_failed_kick_shows_in_the_status_until_a_kick_works(factory: MockFactory) -> None:
    class Flaky:
        fail = True

        def kick(self) -> None:
            if self.fail:
                raise DrawerError("drawer relay failed: no 24 V on the drawer port")

    kicker = Flaky()
    drawer = CashDrawer(kicker, None)
    assert drawer.status == DeviceStatus(
        "drawer", "connected", "drawer ready (no open switch fitted)"
    )
    with pytest.raises(DrawerError):
        drawer.open()
    assert drawer.status.state == "error"
    assert "no 24 V on the drawer port" in drawer.status.message
    kicker.fail = False
    drawer.open()
    assert drawer.status.ok
