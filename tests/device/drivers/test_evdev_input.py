"""EvdevSource device selection by VID:PID, grabbing and unplug handling.

python-evdev reads a stand-in /dev/input (tests.device.evdev_kernel): no /dev/input or
/dev/uinput exists in CI containers.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.drivers.errors import ConfigError, DeviceUnavailable
from device.drivers.evdev_input import EvdevSource, UsbId
from tests.device.evdev_kernel import FakeInput, Node


def test_picks_the_keyboard_node_of_the_configured_usb_id(kernel: FakeInput) -> None:
    kernel.add(Node("/dev/input/event0", 0x046D, 0xC31C, [30]))  # the technician's keyboard
    kernel.add(Node("/dev/input/event3", 0x05E0, 0x1200, []))  # scanner's non-key interface
    scanner = kernel.add(Node("/dev/input/event4", 0x05E0, 0x1200, [28, 30]))
    src = EvdevSource(UsbId.parse("05e0:1200"), "scanner")
    src.open()
    assert src.where == "/dev/input/event4 (USB 05e0:1200)"
    assert scanner.grabbed
    kernel.push(scanner, [(1, 30, 1), (0, 0, 0)])
    assert src.read_chunk(1.0) == [(1, 30, 1), (0, 0, 0)]
    assert src.read_chunk(0.01) is None
    src.close()
    assert not scanner.grabbed


def test_unplug_and_replug_on_a_new_event_node(kernel: FakeInput) -> None:
    first = kernel.add(Node("/dev/input/event4", 0x05E0, 0x1200, [28]))
    src = EvdevSource(UsbId.parse("05e0:1200"), "scanner")
    src.open()
    first.gone = True
    kernel.push(first, [])
    with pytest.raises(DeviceUnavailable, match="scanner was unplugged"):
        src.read_chunk(1.0)
    src.close()
    with pytest.raises(DeviceUnavailable, match=r"scanner not found \(USB 05e0:1200\)"):
        src.open()
    kernel.add(Node("/dev/input/event7", 0x05E0, 0x1200, [28]))
    src.open()
    assert src.where.startswith("/dev/input/event7")


def test_a_device_grabbed_by_another_program_is_explained(kernel: FakeInput) -> None:
    node = kernel.add(Node("/dev/input/event2", 0x1A86, 0xE026, [79]))
    node.busy = True
    src = EvdevSource(UsbId.parse("1a86:e026"), "keypad")
    with pytest.raises(DeviceUnavailable, match="keypad on /dev/input/event2 is in use"):
        src.open()


def test_usb_id_parsing() -> None:
    assert str(UsbId.parse(" 05E0:1200 ")) == "05e0:1200"
    for bad in ("05e0", "zz:12", "10000:1", "1:2:3"):
        with pytest.raises(ConfigError):
            UsbId.parse(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20))
def test_any_usb_id_text_parses_or_is_a_config_error(text: str) -> None:
    """Configuration text never raises anything but ConfigError; what parses prints back."""
    try:
        ident = UsbId.parse(text)
    except ConfigError:
        return
    assert UsbId.parse(str(ident)) == ident
