"""`python -m device` on real drivers (serial printer, scanner and pole display on ptys, drawer on
the printer's port): the composition root wires configured hardware, not only the simulators."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from device.config import ConfigError, DevicesSection, PrinterSection, dump_config, load_config
from device.drivers.sim.display_sim import DisplaySim
from device.drivers.sim.printer_sim import PrinterSimulator
from device.drivers.sim.scanner_sim import ScannerSim
from provisioning import demo_data
from tests.device.harness import seeded_store, start_terminal, terminal_config

ROOT = Path(__file__).resolve().parents[2]
WATER = str(demo_data.products()[0]["barcodes"][0])


def _until(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.05)


def test_configured_serial_devices_sell_print_kick_and_display(tmp_path: Path) -> None:
    printer, scanner, display = PrinterSimulator(), ScannerSim(), DisplaySim()
    for sim in (printer, scanner, display):
        sim.start()
    cfg = terminal_config(tmp_path)
    seeded_store(cfg).close()
    cfg.printer = PrinterSection(kind="serial", path=printer.path, output_dir=str(tmp_path))
    cfg.devices = DevicesSection(scanner="serial", scanner_path=scanner.path,
                                 card_reader="serial", card_reader_path="/nonexistent/tty",
                                 display="serial", display_path=display.path,
                                 drawer="printer")  # fmt: skip
    config = tmp_path / "terminal.toml"
    config.write_text(dump_config(cfg))
    proc = subprocess.Popen(
        [sys.executable, "-m", "device", "--config", str(config), "--headless"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None

    def do(command: dict[str, Any]) -> dict[str, Any]:
        proc.stdin.write(json.dumps(command) + "\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]
        return dict(json.loads(proc.stdout.readline()))  # type: ignore[union-attr]

    try:
        assert "ready" in json.loads(proc.stdout.readline())
        do({"event": "Login", "args": {"staff_id": "2001", "pin": "1234"}})
        manager = {"manager_id": "1001", "manager_pin": "8888"}
        do({"event": "OpenShift", "args": {"float_fen": 10_000, "manager": manager}})
        scanner.scan(WATER)  # bytes on the serial scanner's line
        _until(lambda: do({"view": True})["lines"] == 1, "the scan reaching the sale")
        view = do({"event": "Subtotal"})
        assert view["due_fen"] == 200
        view = do({"event": "AddTender", "args": {"kind": "cash", "amount_fen": 1_000}})
        assert view["phase"] == "feedback"
        _until(lambda: len(printer.complete_receipts) == 1, "the receipt")
        assert printer.complete_receipts[0].qr_codes == [view["last_receipt_no"]]
        _until(lambda: len(printer.kicks) == 2, "float and sale drawer kicks via ESC p")
        _until(lambda: display.screen()[0].startswith("CHANGE"), "the change on the pole")
        assert display.screen()[1].strip() == "¥8.00"
    finally:
        proc.stdin.close()
        proc.wait(20)
        for sim in (printer, scanner, display):
            sim.stop()


def test_a_pole_with_a_chinese_font_is_configured_to_show_chinese(tmp_path: Path) -> None:
    # Same till, two poles: the default code page (cp437) shows the ASCII name, a pole set to
    # gb18030 in the terminal file shows the Chinese name the customer reads on the shelf.
    product = demo_data.products()[0]
    for encoding, expected in (("cp437", product["name_en"]), ("gb18030", product["name_zh"])):
        root = tmp_path / encoding
        cfg = terminal_config(root)
        cfg.devices = DevicesSection(display_encoding=encoding)
        till = start_terminal(root, cfg=cfg)
        try:
            till.login_and_open()
            till.scan(WATER)
            pole = till.hw.display_sim
            _until(lambda pole=pole: "TOTAL" in pole.screen()[1] or "合计" in pole.screen()[1],
                   f"the item on the {encoding} pole")  # fmt: skip
            assert pole.screen()[0].startswith(expected), (encoding, pole.screen())
        finally:
            till.stop()


def test_an_unknown_display_code_page_is_refused_naming_the_key(tmp_path: Path) -> None:
    cfg = terminal_config(tmp_path)
    text = dump_config(cfg).replace('display_encoding = "cp437"', 'display_encoding = "klingon"')
    (tmp_path / "t.toml").write_text(text)
    with pytest.raises(ConfigError, match=r"devices\.display_encoding: .*'klingon'"):
        load_config(tmp_path / "t.toml")
