"""The reconnecting reader thread: backoff, de-duplicated status, survival of decoder bugs."""

from __future__ import annotations

from device.drivers.errors import DeviceStatus
from device.drivers.link import Backoff, ReaderThread, Reporter
from device.drivers.sim.evdev_sim import RecordedDevice
from tests.device.drivers.input_helpers import Collector, fast_backoff


def test_backoff_doubles_to_the_cap_and_resets() -> None:
    b = Backoff(initial=0.1, cap=0.5)
    assert [b.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    b.reset()
    assert b.next() == 0.1


def test_reporter_emits_only_changes() -> None:
    out = Collector()
    rep = Reporter("scanner", out)
    for _ in range(3):
        rep.report("error", "scanner not found on /dev/ttyACM0")
    rep.report("connected", "scanner ready")
    assert out.drain(0.05) == [
        DeviceStatus("scanner", "error", "scanner not found on /dev/ttyACM0"),
        DeviceStatus("scanner", "connected", "scanner ready"),
    ]


def test_reporter_survives_a_broken_consumer() -> None:
    def broken(_: object) -> None:
        raise RuntimeError("queue closed")

    rep = Reporter("scanner", broken)
    rep.report("error", "x")
    assert rep.status.message == "x"


def test_a_decoder_exception_is_reported_and_reading_continues() -> None:
    dev = RecordedDevice("pad")
    out = Collector()
    got: list[object] = []

    def handle(chunk: list[tuple[int, int, int]]) -> None:
        if chunk == [(9, 9, 9)]:
            raise ValueError("bad chunk")
        got.append(chunk)
        out(("chunk", chunk))

    reader = ReaderThread("keypad", dev, handle, Reporter("keypad", out), fast_backoff())
    reader.start()
    try:
        out.status("connected")
        dev.push([(9, 9, 9)])
        status = out.status("error", "could not decode input")
        assert status.message == "keypad: could not decode input (bad chunk)"
        dev.push([(1, 2, 1)])
        assert out.wait_for(lambda x: isinstance(x, tuple)) == ("chunk", [(1, 2, 1)])
        assert out.status("connected").message == "keypad ready on sim:pad"
    finally:
        reader.stop()
