"""`self-test` on real hardware lists every part: one configured but missing is a FAIL line.

The USB scanner is looked for through python-evdev in a stand-in /dev/input
(tests.device.evdev_kernel) where it is not plugged in; the printer is a file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from device.config import DevicesSection, PrinterSection
from device.wiring import real_hardware
from provisioning import selftest
from tests.device.evdev_kernel import kernel  # noqa: F401  (the fixture)
from tests.device.harness import terminal_config


class _Idle:
    """A technician who does nothing that is asked."""

    def ask(self, what: str) -> None:
        pass


@pytest.mark.usefixtures("kernel")
def test_an_unplugged_scanner_and_an_undriven_card_reader_are_fail_lines(tmp_path: Path) -> None:
    cfg = terminal_config(tmp_path)
    cfg.printer = PrinterSection(kind="file", path=str(tmp_path / "printer.bin"))
    cfg.devices = DevicesSection(scanner="evdev", scanner_usb_id="05e0:1200")
    inputs = selftest.Inputs()
    hw = real_hardware(cfg, inputs.emit, tmp_path / "state")
    lines: list[str] = []
    report = selftest.run(cfg, hw, inputs, _Idle(), timeout=1, say=lines.append)
    checks = {c.name: c for c in report.checks}
    assert not report.passed
    assert not checks["scanner"].ok
    assert checks["scanner"].detail == "nothing read within 1 s: scanner not found (USB 05e0:1200)"
    assert not checks["card reader"].ok
    assert checks["card reader"].detail.startswith(
        'no card reader: devices.card_reader = "simulated" drives nothing'
    )
    table = lines[0].splitlines()
    assert any(row.startswith("scanner ") and " FAIL " in row for row in table)
    assert any(row.startswith("card reader ") and " FAIL " in row for row in table)
