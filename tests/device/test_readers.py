"""A real till's scanner and card reader, built from [devices] by real_hardware.

Each configured kind reaches `emit` through the driver the config names: the USB wedge scanner
and stripe reader through python-evdev reading a stand-in /dev/input (tests.device.evdev_kernel),
the PN532 through its simulator on a pseudo-terminal. A part that is configured but cannot be
opened, or that nothing drives, is an error status the cashier sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from device.config import DevicesSection, PrinterSection, TerminalConfig
from device.drivers.events import CardEvent, ScanEvent
from device.drivers.keymap import text_to_keys
from device.drivers.sim.evdev_sim import load_recording
from device.drivers.sim.pn532_sim import Pn532Sim
from device.wiring import RealHardware, real_hardware
from tests.device.drivers.input_helpers import Collector
from tests.device.evdev_kernel import FakeInput, Node
from tests.device.harness import terminal_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "evdev"


def _hardware(tmp_path: Path, out: Collector, devices: DevicesSection) -> RealHardware:
    cfg: TerminalConfig = terminal_config(tmp_path)
    cfg.printer = PrinterSection(kind="file", path=str(tmp_path / "printer.bin"))
    cfg.devices = devices
    return real_hardware(cfg, out, tmp_path / "state")


@pytest.fixture
def out() -> Collector:
    return Collector()


@pytest.fixture
def started() -> Iterator[list[object]]:
    """Drivers a test started; each is stopped afterwards."""
    parts: list[object] = []
    yield parts
    for part in parts:
        part.stop()  # type: ignore[attr-defined]


def test_evdev_scanner_is_the_usb_wedge_scanner_found_by_its_id(
    tmp_path: Path, kernel: FakeInput, out: Collector, started: list[object]
) -> None:
    kernel.add(Node("/dev/input/event0", 0x046D, 0xC31C, [30]))  # the technician's keyboard
    node = kernel.add(Node("/dev/input/event5", 0x05E0, 0x1200, [28, 30]))
    hw = _hardware(tmp_path, out, DevicesSection(scanner="evdev", scanner_usb_id="05e0:1200",
                                                 scanner_layout="de"))  # fmt: skip
    started.append(hw.scanner)
    hw.scanner.start()
    out.status("connected", "scanner ready on /dev/input/event5 (USB 05e0:1200)")
    assert node.grabbed  # its keys reach only the till, not the screen
    kernel.push(node, load_recording(FIXTURES / "de_member_qr_tab.json"))
    assert out.of(ScanEvent) == ScanEvent("]Q1MEM-Zy@7", "scanner")


def test_an_unplugged_usb_scanner_is_an_error_the_cashier_sees(
    tmp_path: Path, kernel: FakeInput, out: Collector, started: list[object]
) -> None:
    hw = _hardware(tmp_path, out, DevicesSection(scanner="evdev", scanner_usb_id="05e0:1200"))
    started.append(hw.scanner)
    hw.scanner.start()
    out.status("error", "scanner not found (USB 05e0:1200)")
    node = kernel.add(Node("/dev/input/event6", 0x05E0, 0x1200, [28]))  # plugged in
    out.status("connected", "scanner ready on /dev/input/event6")
    kernel.push(node, text_to_keys("6901234567892\r"))
    assert out.of(ScanEvent).text == "6901234567892"


def test_evdev_card_reader_is_the_usb_stripe_reader(
    tmp_path: Path, kernel: FakeInput, out: Collector, started: list[object]
) -> None:
    node = kernel.add(Node("/dev/input/event2", 0x0801, 0x0001, [28]))
    hw = _hardware(tmp_path, out, DevicesSection(card_reader="evdev",
                                                 card_reader_usb_id="0801:0001"))  # fmt: skip
    started.append(hw.card_reader)
    hw.card_reader.start()
    out.status("connected", "card reader ready on /dev/input/event2")
    kernel.push(node, load_recording(FIXTURES / "us_magstripe_swipe.json"))
    card = out.of(CardEvent)
    assert (card.kind, card.card_id, card.source) == ("magstripe", "6012345678901234",
                                                      "card reader")  # fmt: skip


def test_pn532_card_reader_reads_nfc_cards_on_its_uart(
    tmp_path: Path, out: Collector, started: list[object]
) -> None:
    with Pn532Sim() as sim:
        hw = _hardware(tmp_path, out, DevicesSection(card_reader="pn532",
                                                     card_reader_path=sim.path))  # fmt: skip
        started.append(hw.card_reader)
        hw.card_reader.start()
        out.status("connected", f"card reader ready on {sim.path} (PN532 firmware 1.6)")
        sim.present(bytes.fromhex("DEADBEEF"))
        card = out.of(CardEvent)
        assert (card.kind, card.card_id, card.source) == ("nfc", "DEADBEEF", "card reader")
        hw.card_reader.stop()


def test_a_reader_nothing_drives_is_an_error_the_cashier_sees(
    tmp_path: Path, out: Collector
) -> None:
    hw = _hardware(tmp_path, out, DevicesSection(scanner="serial", scanner_path="/dev/null"))
    assert hw.card_reader is None
    hw.start()
    try:
        status = out.status("error", "no card reader")
    finally:
        hw.stop()
    assert status.name == "card reader"
    assert 'devices.card_reader = "simulated" drives nothing' in status.message
    assert "scanner" not in hw.absent
