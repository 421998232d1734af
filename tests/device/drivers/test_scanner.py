"""Barcode scanner drivers over a real pty (serial) and recorded evdev streams (wedge)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.drivers.errors import ConfigError, DeviceStatus
from device.drivers.events import ScanEvent
from device.drivers.scanner import (
    ScanAssembler,
    ScannerConfig,
    SerialScanner,
    WedgeScanner,
    scans_from_keys,
)
from device.drivers.sim.evdev_sim import RecordedDevice, load_recording
from device.drivers.sim.scanner_sim import ScannerSim
from tests.device.drivers.input_helpers import Collector, fast_backoff

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "evdev"


@pytest.fixture
def sim() -> Iterator[ScannerSim]:
    with ScannerSim() as s:
        yield s  # type: ignore[misc]


@pytest.fixture
def serial_scanner(sim: ScannerSim) -> Iterator[tuple[SerialScanner, Collector]]:
    out = Collector()
    scanner = SerialScanner(ScannerConfig(port=sim.path), out, backoff=fast_backoff())
    scanner.start()
    out.status("connected")
    yield scanner, out
    scanner.stop()


def test_scan_arrives_with_aim_prefix_untouched(serial_scanner, sim) -> None:
    _, out = serial_scanner
    sim.scan("5901234123457", aim="]E0")
    assert out.of(ScanEvent) == ScanEvent("]E05901234123457", "scanner")


def test_scan_split_across_reads_is_joined_and_crlf_counts_once(serial_scanner, sim) -> None:
    _, out = serial_scanner
    sim.send_raw(b"]E0590123")
    assert sim.wait_read(30)  # the driver reads (and must keep) the first half before the rest
    sim.send_raw(b"4123457\r\n")
    sim.send_raw(b"MEM:000123\r\n")
    texts = [out.of(ScanEvent).text for _ in range(2)]
    texts += [e.text for e in out.drain() if isinstance(e, ScanEvent)]
    assert texts == ["]E05901234123457", "MEM:000123"]


def test_line_noise_between_scans_is_dropped_and_reported(serial_scanner, sim) -> None:
    _, out = serial_scanner
    sim.send_raw(b"96385074\r\x00\xff\x1b\x07")
    sim.scan("12345670")
    status = out.status("connected", "dropped 4 unprintable")
    assert "serial line" in status.message
    texts = [out.of(ScanEvent).text for _ in range(2)]
    texts += [e.text for e in out.drain() if isinstance(e, ScanEvent)]
    assert texts == ["96385074", "12345670"]


def test_overlong_junk_without_suffix_is_discarded_then_scanning_works(serial_scanner, sim) -> None:
    scanner, out = serial_scanner
    sim.send_raw(b"A" * 600)
    out.status("connected", "discarded more than 512 bytes received without a CR/Tab suffix")
    sim.scan("96385074")  # glued to the junk's tail: thrown away with it
    sim.scan("4006381333931")
    texts = [out.of(ScanEvent).text]
    texts += [e.text for e in out.drain() if isinstance(e, ScanEvent)]
    assert texts == ["4006381333931"]
    assert scanner.status.state == "connected"


def test_missing_port_is_reported_in_a_technicians_words(tmp_path: Path) -> None:
    out = Collector()
    port = str(tmp_path / "ttyACM0")
    scanner = SerialScanner(ScannerConfig(port=port), out, backoff=fast_backoff())
    scanner.start()
    try:
        assert out.status("error").message == f"scanner not found on {port}"
        assert (
            scanner.self_test(0.1).message
            == f"scanner self-test failed: scanner not found on {port}"
        )
    finally:
        scanner.stop()


def test_unplug_then_replug_reconnects_and_scans_again(serial_scanner, sim) -> None:
    _scanner, out = serial_scanner
    sim.scan("111")
    assert out.of(ScanEvent).text == "111"
    sim.unplug()  # the device node goes away with it, as a USB adapter's does
    out.status("error", "disconnected")
    out.status("error", "not found")
    sim.replug()
    out.status("connected")
    sim.scan("222")
    assert out.of(ScanEvent).text == "222"


def test_self_test_passes_when_a_code_is_scanned(serial_scanner, sim) -> None:
    scanner, _ = serial_scanner
    import threading

    threading.Timer(0.1, sim.scan, args=("9780201379624",)).start()
    result = scanner.self_test(3.0)
    assert result == DeviceStatus("scanner", "connected", "scanner self-test passed: scan received")


def test_wedge_scanner_reads_recorded_devices_and_survives_replug() -> None:
    dev = RecordedDevice("wedge scanner")
    out = Collector()
    cfg = ScannerConfig(kind="wedge", usb_id="05e0:1200", layout="de")
    scanner = WedgeScanner(cfg, out, source=dev, backoff=fast_backoff())
    scanner.start()
    try:
        out.status("connected")
        dev.push(load_recording(FIXTURES / "de_member_qr_tab.json"), batch=7)
        assert out.of(ScanEvent) == ScanEvent("]Q1MEM-Zy@7", "scanner")
        dev.unplug()
        out.status("error", "unplugged")
        dev.replug()
        out.status("connected")
        assert dev.opens == 2
        dev.push(load_recording(FIXTURES / "us_keypad_tab.json"))
        assert out.of(ScanEvent).text == "4006381333931"
    finally:
        scanner.stop()


def test_wedge_decoding_of_two_scans_in_one_recording() -> None:
    data = json.loads((FIXTURES / "us_two_scans_mixed.json").read_text())
    scans, state, problems = scans_from_keys([tuple(e) for e in data["events"]], "us")
    assert scans == ["AB-12/?", "7.5"] and problems == [] and state.pending == ""


def test_config_is_checked_when_read() -> None:
    with pytest.raises(ConfigError, match="vvvv:pppp"):
        ScannerConfig(kind="wedge", usb_id="scanner")
    with pytest.raises(ConfigError, match="unknown keyboard layout 'xx'"):
        ScannerConfig(kind="wedge", usb_id="05e0:1200", layout="xx")
    with pytest.raises(ConfigError, match="kind"):
        ScannerConfig(kind="bluetooth")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=5))
def test_assembler_never_raises_and_split_points_do_not_matter(
    data: bytes, cuts: list[int]
) -> None:
    whole = ScanAssembler(64).feed(data)[0]
    pieces = ScanAssembler(64)
    got: list[str] = []
    prev = 0
    for cut in [*sorted(min(c, len(data)) for c in cuts), len(data)]:
        got += pieces.feed(data[prev:cut])[0]
        prev = cut
    assert got == whole
    for scan in whole:
        assert scan and len(scan) <= 64
        assert all(0x20 <= ord(c) <= 0x7E or c == "\x1d" for c in scan)


def test_configuration_picks_the_driver(tmp_path: Path) -> None:
    from device.drivers.scanner import make_scanner

    wedge = make_scanner(ScannerConfig(kind="wedge", usb_id="05e0:1200"), Collector())
    serial = make_scanner(ScannerConfig(port=str(tmp_path / "tty")), Collector())
    assert isinstance(wedge, WedgeScanner) and isinstance(serial, SerialScanner)


def test_tab_suffix_ends_a_scan_like_cr(serial_scanner, sim) -> None:
    """A scanner set to the Tab suffix (0x09) is read the same as one set to CR (0x0D)."""
    _, out = serial_scanner
    sim.send_raw(b"]Q1MEM:000123\t]E04006381333931\t")
    texts = [out.of(ScanEvent).text for _ in range(2)]
    assert texts == ["]Q1MEM:000123", "]E04006381333931"]


def test_wedge_scanner_honours_max_len() -> None:
    """Typed text longer than the configured max_len without Enter/Tab is junk; the code typed
    next is glued to the junk's tail and thrown away with it (as on the serial line), and
    the one after reads normally."""
    from device.drivers.keymap import text_to_keys

    dev = RecordedDevice("wedge scanner")
    out = Collector()
    cfg = ScannerConfig(kind="wedge", usb_id="05e0:1200", max_len=16)
    scanner = WedgeScanner(cfg, out, source=dev, backoff=fast_backoff())
    scanner.start()
    try:
        out.status("connected")
        dev.push(text_to_keys("A" * 20))
        out.status("connected", "discarded")
        dev.push(text_to_keys("123\r"))
        dev.push(text_to_keys("456\r"))
        assert out.of(ScanEvent).text == "456"
    finally:
        scanner.stop()
