"""Magstripe card readers: serial over a real pty (with and without LRC) and keyboard wedge."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.drivers.card_reader import CardReaderConfig, SerialCardReader, WedgeCardReader
from device.drivers.errors import ConfigError
from device.drivers.events import CardEvent, CardReadFailed
from device.drivers.keymap import text_to_keys
from device.drivers.sim.evdev_sim import RecordedDevice, load_recording
from device.drivers.sim.magstripe_sim import MagstripeSim
from tests.device.drivers.input_helpers import Collector, fast_backoff

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "evdev"


@pytest.fixture(params=[False, True], ids=["plain", "lrc"])
def rig(request: pytest.FixtureRequest) -> Iterator[tuple[MagstripeSim, Collector]]:
    with_lrc = request.param
    with MagstripeSim(with_lrc=with_lrc) as sim:
        out = Collector()
        cfg = CardReaderConfig(port=sim.path, with_lrc=with_lrc)
        reader = SerialCardReader(cfg, out, backoff=fast_backoff())
        reader.start()
        out.status("connected")
        yield sim, out  # type: ignore[misc]
        reader.stop()


def test_bad_swipe_gives_a_clear_error_then_a_good_swipe_works(rig) -> None:
    sim, out = rig
    sim.swipe_raw(";6012345678901234=4912")  # lifted off the stripe half way
    failed = out.of(CardReadFailed)
    assert failed == CardReadFailed(
        "card read failed: track 2 end sentinel missing — swipe again", "card reader"
    )
    sim.swipe("6012345678901234", "LI/WEI")
    card = out.of(CardEvent)
    assert card.kind == "magstripe" and card.card_id == "6012345678901234"
    assert card.name == "LI/WEI" and card.expiry == "4912"


def test_serial_reader_checks_the_lrc_it_is_sent() -> None:
    """ISO/IEC 7811-2: ';12?' has LRC '7' (0xB^0x1^0x2^0xF); a reader sending '8' misread."""
    with MagstripeSim(with_lrc=True) as sim:
        out = Collector()
        reader = SerialCardReader(
            CardReaderConfig(port=sim.path, with_lrc=True), out, backoff=fast_backoff()
        )
        reader.start()
        try:
            out.status("connected")
            sim.swipe_raw(";12?8")
            assert "track 2 LRC check failed" in out.of(CardReadFailed).reason
            sim.swipe_raw(";12?7")
            assert out.of(CardEvent).card_id == "12"
        finally:
            reader.stop()


def test_a_reader_ending_each_track_with_cr_gives_one_card_event_per_swipe() -> None:
    """Readers set to send CR after every track: track 1 and track 2 of one swipe arrive as
    two lines, and are one card; a card with track 1 only is read once the line is quiet."""
    with MagstripeSim(cr_per_track=True) as sim:
        out = Collector()
        reader = SerialCardReader(CardReaderConfig(port=sim.path), out, backoff=fast_backoff())
        reader.start()
        try:
            out.status("connected")
            sim.swipe("6012345678901234", "LI/WEI")
            card = out.of(CardEvent)
            assert (card.card_id, card.name) == ("6012345678901234", "LI/WEI")
            assert card.track1 is not None and card.track2 is not None
            sim.swipe_raw("%B8800123456^ZHAO/LEI^4912?")  # a card with track 1 only
            assert out.of(CardEvent).card_id == "8800123456"
            extra = [e for e in out.drain(0.3) if isinstance(e, CardEvent | CardReadFailed)]
            assert extra == []
        finally:
            reader.stop()


def test_line_noise_does_not_lose_the_next_swipe(rig) -> None:
    sim, out = rig
    sim.send(b"\x00\x00\xfe")
    sim.swipe("8800123456")
    assert out.of(CardEvent).card_id == "8800123456"
    assert out.status("connected", "unprintable").name == "card reader"


def test_wedge_reader_decodes_a_recorded_swipe() -> None:
    dev = RecordedDevice("stripe reader")
    out = Collector()
    cfg = CardReaderConfig(kind="wedge", usb_id="0801:0001")
    reader = WedgeCardReader(cfg, out, source=dev, backoff=fast_backoff())
    reader.start()
    try:
        out.status("connected")
        dev.push(load_recording(FIXTURES / "us_magstripe_swipe.json"), batch=16)
        card = out.of(CardEvent)
        assert (card.card_id, card.name, card.expiry) == ("6012345678901234", "LI/WEI", "4912")
        dev.unplug()
        out.status("error", "unplugged")
        dev.replug()
        out.status("connected")
        # Self-test: the technician swipes; even a bad swipe proves the reader reads.
        bad_swipe = text_to_keys(";6012345678901234=49\r")  # no end sentinel
        threading.Timer(0.05, dev.push, args=(bad_swipe,)).start()
        assert reader.self_test(3).message == "card reader self-test passed: swipe read"
        assert "end sentinel missing" in out.of(CardReadFailed).reason
    finally:
        reader.stop()


def test_self_test_reports_no_swipe_in_time(rig) -> None:
    _, out = rig
    # The reader under test belongs to the fixture; a fresh one on a missing port fails clearly.
    reader = SerialCardReader(CardReaderConfig(port="/nonexistent/ttyUSB9"), out)
    reader.start()
    try:
        result = reader.self_test(0.3)
        assert result.message == (
            "card reader self-test failed: card reader not found on /nonexistent/ttyUSB9"
        )
    finally:
        reader.stop()


def test_config_rejects_a_bad_usb_id() -> None:
    with pytest.raises(ConfigError, match="vvvv:pppp"):
        CardReaderConfig(kind="wedge", usb_id="0801")


def test_unplug_and_replug_then_swipes_are_read_again(rig) -> None:
    sim, out = rig
    sim.unplug()
    assert "disconnected" in out.status("error").message
    sim.replug()
    out.status("connected")
    sim.swipe("8800123456", "WANG/FANG")
    card = out.of(CardEvent)
    assert card.card_id == "8800123456" and card.name == "WANG/FANG"
