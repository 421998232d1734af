"""The printer driver against the simulated printer on a pty: faults, reprints, reconnect.

Also the drawer port, the self-test page, and the network and file transports.
"""

from __future__ import annotations

import os
import threading

import pytest

from device.drivers.errors import ConfigError, DeviceUnavailable
from device.drivers.printer import PrinterDriver
from device.drivers.printer_config import PrinterConfig, make_transport
from device.drivers.printer_spool import PrintJob
from device.drivers.receipt_layout import render
from device.drivers.sim.printer_sim import (
    PrinterSimulator,
    TcpPrinterSimulator,
    decode_bytes,
    decode_file,
)
from device.drivers.sim.pty import SerialSimulator
from device.drivers.transport import EscposTransport, Transport
from tests.device.drivers.printer_helpers import (
    WAIT_S,
    fast_config,
    member_receipt,
    polls_answered,
    running,
    wait_for,
)

NUMBER = "S001-T02-20261123-0042"


def _copies(sim: PrinterSimulator, number: str = NUMBER) -> int:
    # Status requests must only ever arrive between commands, never inside a job's data.
    assert sim.model.realtime_inside_command == 0
    assert sim.model.status_requests > 0
    return sum(r.qr_codes == [number] for r in sim.complete_receipts)


def test_receipt_prints_once_and_status_is_ready(tmp_path) -> None:
    with PrinterSimulator(48) as sim, running(sim, str(tmp_path)) as driver:
        assert driver.print_receipt(member_receipt(), "receipt:" + NUMBER)
        assert driver.wait_printed("receipt:" + NUMBER, WAIT_S)
        assert _copies(sim) == 1
        assert driver.status().state == "connected"
        assert driver.status().message == "printer ready"
        assert driver.pending_jobs() == []


def test_paper_out_mid_receipt_then_refill_gives_exactly_one_complete_receipt(tmp_path) -> None:
    """The printer runs out of paper in the middle of a receipt and is refilled: exactly one
    complete receipt comes out (plus the torn stub), and the job was kept meanwhile."""
    with PrinterSimulator(48) as sim, running(sim, str(tmp_path)) as driver:
        sim.run_out_of_paper(after_lines=8)
        driver.print_receipt(member_receipt(), "receipt:1")
        assert wait_for(lambda: driver.status().message.startswith("printer out of paper"))
        assert driver.status().state == "error"
        assert driver.pending_jobs() == ["receipt:1"]
        assert polls_answered(sim)  # several retry rounds while the paper is out
        assert driver.pending_jobs() == ["receipt:1"]
        sim.refill()
        # Confirmed by the printer's process-ID answer, sent after all before it has printed.
        assert driver.wait_printed("receipt:1", WAIT_S)
        assert _copies(sim) == 1
        [whole] = sim.complete_receipts
        [fresh] = decode_bytes(render(member_receipt()), 48)  # the same job on a full roll
        assert whole.text() == fresh.text()
        [stub] = sim.incomplete_receipts
        assert stub.reason == "paper ran out"
        assert stub.text().splitlines()[:3] == fresh.text().splitlines()[:3]
        assert driver.status().state == "connected"


def test_paper_near_end_warns_but_keeps_printing(tmp_path) -> None:
    with PrinterSimulator(48) as sim, running(sim, str(tmp_path)) as driver:
        sim.set_near_end()
        assert wait_for(lambda: driver.status().message == "printer paper near end")
        assert driver.status().state == "connected"
        driver.print_receipt(member_receipt(), "receipt:near")
        assert driver.wait_printed("receipt:near", WAIT_S)
        assert _copies(sim) == 1


def test_cover_open_keeps_the_job_until_closed(tmp_path) -> None:
    with PrinterSimulator(32) as sim, running(sim, str(tmp_path)) as driver:
        sim.open_cover()
        driver.print_receipt(member_receipt(width=32), "receipt:2")
        assert wait_for(lambda: driver.status().message.startswith("printer cover open"))
        assert polls_answered(sim)
        assert sim.receipts == []
        assert driver.pending_jobs() == ["receipt:2"]
        sim.close_cover()
        assert driver.wait_printed("receipt:2", WAIT_S)
        assert _copies(sim) == 1 and sim.incomplete_receipts == []


class _CountingOpens:
    """The real serial transport, counting the driver's attempts to open it."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.failed_opens = 0

    def open(self) -> None:
        try:
            self.inner.open()
        except DeviceUnavailable:
            self.failed_opens += 1
            raise

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_unplug_and_replug_reconnects_and_prints_once(tmp_path) -> None:
    with PrinterSimulator(48) as sim:
        config = fast_config(sim.path, str(tmp_path))
        transport = _CountingOpens(make_transport(config))
        driver = PrinterDriver(config, transport=transport)  # type: ignore[arg-type]
        driver.start()
        try:
            assert wait_for(lambda: driver.status().state == "connected")
            sim.unplug()
            assert wait_for(lambda: driver.status().state == "disconnected")
            assert driver.status().message == f"printer not connected on {sim.path}"
            driver.print_receipt(member_receipt(), "receipt:3")
            # The driver keeps trying the pulled port, and keeps the job meanwhile.
            tries = transport.failed_opens
            assert wait_for(lambda: transport.failed_opens >= tries + 3)
            assert driver.pending_jobs() == ["receipt:3"]
            sim.replug()
            assert driver.wait_printed("receipt:3", WAIT_S)
            assert _copies(sim) == 1
            assert driver.status().state == "connected"
        finally:
            driver.stop()


def test_unplug_mid_receipt_reprints_it_whole(tmp_path) -> None:
    with PrinterSimulator(48) as sim, running(sim, str(tmp_path)) as driver:
        sim.run_out_of_paper(after_lines=5)  # holds the job mid-print until the cable goes
        driver.print_receipt(member_receipt(), "receipt:4")
        assert wait_for(lambda: driver.status().state == "error")
        sim.unplug()
        sim.refill()
        sim.replug()
        assert driver.wait_printed("receipt:4", WAIT_S)
        assert _copies(sim) == 1


def test_same_job_id_prints_once_also_across_a_restart(tmp_path) -> None:
    spool = str(tmp_path / "spool")
    data = render(member_receipt())
    with PrinterSimulator(48) as sim:
        with running(sim, spool) as driver:
            assert driver.submit(PrintJob("receipt:5", data))
            assert not driver.submit(PrintJob("receipt:5", data))
            assert driver.wait_printed("receipt:5", WAIT_S)
            assert not driver.submit(PrintJob("receipt:5", data))
        with running(sim, spool) as restarted:
            assert not restarted.submit(PrintJob("receipt:5", data))
            assert not restarted.print_receipt(member_receipt(), "receipt:5")
            # A marker job queued behind it: once it is out, the restarted driver is past
            # anything it could have printed again.
            assert restarted.print_receipt(member_receipt(receipt_no="MARKER"), "marker")
            assert restarted.wait_printed("marker", WAIT_S)
        assert _copies(sim) == 1


def test_job_queued_before_a_crash_prints_after_restart(tmp_path) -> None:
    spool = str(tmp_path / "spool")
    with PrinterSimulator(48) as sim:
        sim.open_cover()
        with running(sim, spool) as driver:
            driver.print_receipt(member_receipt(), "receipt:6")
            assert wait_for(lambda: driver.status().message.startswith("printer cover open"))
        sim.close_cover()
        with running(sim, spool) as restarted:
            assert restarted.wait_printed("receipt:6", WAIT_S)
        assert _copies(sim) == 1


def test_drawer_kick_pin_pulse_and_open_switch(tmp_path) -> None:
    """ESC p pin 5 with 50/250 ms, then DLE EOT 1 bit 2 reads the drawer switch."""
    with PrinterSimulator(48) as sim:
        driver = PrinterDriver(fast_config(sim.path, str(tmp_path)))
        assert driver.drawer_open() is False
        driver.kick_drawer(pin=5, on_ms=50, off_ms=250)
        assert wait_for(lambda: sim.kicks == [(5, 50, 250)])
        assert driver.drawer_open() is True
        sim.close_drawer()
        assert driver.drawer_open() is False
        driver.stop()


def test_drawer_opens_while_the_printer_is_out_of_paper(tmp_path) -> None:
    """ESC p would wait behind the stopped job; the real-time DLE DC4 fn=1 pulse does not."""
    with PrinterSimulator(48) as sim:
        sim.run_out_of_paper()
        driver = PrinterDriver(fast_config(sim.path, str(tmp_path), drawer_pin=2))
        driver.kick_drawer()
        assert wait_for(lambda: sim.kicks == [(2, 100, 100)])
        driver.stop()


def test_self_test_prints_both_languages_and_a_qr(tmp_path) -> None:
    with PrinterSimulator(48) as sim, running(sim, str(tmp_path)) as driver:
        result = driver.self_test(timeout=WAIT_S)
        assert result.ok and result.message == "test page printed"
        [page] = sim.complete_receipts
        text = page.text()
        assert "中文测试" in text and "English test line" in text
        assert len(page.qr_codes) == 1 and page.qr_codes[0].startswith("SELFTEST-")


def test_self_test_reports_why_it_failed(tmp_path) -> None:
    with PrinterSimulator(48) as sim:
        sim.run_out_of_paper()
        driver = PrinterDriver(fast_config(sim.path, str(tmp_path)))
        result = driver.self_test(timeout=1)
        assert not result.ok
        assert "printer out of paper" in result.message
        driver.stop()


class _GarbagePrinter(SerialSimulator):
    """A broken device that answers everything with noise."""

    def on_bytes(self, data: bytes) -> None:
        self.send(bytes(b ^ 0xA5 for b in data) + b"\xff\x00\x37\x22")


def test_garbage_from_the_printer_never_crashes_the_driver(tmp_path) -> None:
    sim = _GarbagePrinter().start()
    try:
        statuses = []
        driver = PrinterDriver(
            fast_config(sim.path, str(tmp_path)), on_status=lambda s: statuses.append(s)
        )
        driver.start()
        driver.print_receipt(member_receipt(), "receipt:7")
        assert wait_for(lambda: "is not answering status requests" in driver.status().message)
        assert driver.running
        assert driver.pending_jobs() == ["receipt:7"]
        assert driver.status().state == "error"
        assert "is not answering status requests" in driver.status().message
        assert statuses[-1] == driver.status()
        driver.stop()
    finally:
        sim.stop()


def test_network_printer_on_port_9100_style_socket(tmp_path) -> None:
    with TcpPrinterSimulator(48) as sim:
        config = PrinterConfig(
            kind="network",
            host=sim.host,
            port=sim.port,
            spool_dir=str(tmp_path),
            retry_min_s=0.05,
            retry_max_s=0.2,
            idle_poll_s=0.2,
        )
        driver = PrinterDriver(config)
        driver.start()
        try:
            driver.print_receipt(member_receipt(), "receipt:8")
            assert driver.wait_printed("receipt:8", WAIT_S)
        finally:
            driver.stop()
        assert wait_for(lambda: len(sim.complete_receipts) == 1)
        assert sim.complete_receipts[0].qr_codes == [NUMBER]


def test_file_printer_writes_decodable_escpos(tmp_path) -> None:
    out = tmp_path / "lp0"
    config = PrinterConfig(kind="file", path=str(out), spool_dir=str(tmp_path / "spool"))
    driver = PrinterDriver(config)
    driver.start()
    try:
        driver.print_receipt(member_receipt(), "receipt:9")
        assert driver.wait_printed("receipt:9", WAIT_S)
    finally:
        driver.stop()
    [receipt] = decode_file(str(out), 48)
    assert receipt.complete and receipt.qr_codes == [NUMBER]


def test_config_is_checked_when_read() -> None:
    with pytest.raises(ConfigError, match="unknown printer settings: colour"):
        PrinterConfig.from_dict({"kind": "serial", "colour": "red"})
    with pytest.raises(ConfigError, match=r"32 \(58 mm\) or 48"):
        PrinterConfig(width=40)
    with pytest.raises(ConfigError, match="drawer pin"):
        PrinterConfig(drawer_pin=3)
    with pytest.raises(ConfigError, match="needs a host"):
        PrinterConfig(kind="network")
    with pytest.raises(ConfigError, match="usb_vid"):
        PrinterConfig(kind="usb")


def test_usb_printer_without_pyusb_or_device_reports_clearly(tmp_path) -> None:
    config = PrinterConfig(kind="usb", usb_vid=0x04B8, usb_pid=0x0202, spool_dir=str(tmp_path))
    transport = make_transport(config)
    assert isinstance(transport, EscposTransport)
    with pytest.raises(DeviceUnavailable, match=r"USB 04b8:0202|pyusb"):
        transport.open()


def test_missing_serial_port_is_reported_with_its_path(tmp_path) -> None:
    path = str(tmp_path / "ttyUSB9")
    driver = PrinterDriver(fast_config(path, str(tmp_path / "spool")))
    driver.start()
    try:
        driver.print_receipt(member_receipt(), "receipt:10")
        assert wait_for(lambda: driver.status().message == f"printer not connected on {path}")
        assert driver.pending_jobs() == ["receipt:10"]
        assert os.path.isdir(tmp_path / "spool" / "jobs")
    finally:
        driver.stop()


def test_concurrent_submits_of_one_id_queue_it_once(tmp_path) -> None:
    with PrinterSimulator(48) as sim:
        sim.open_cover()
        driver = PrinterDriver(fast_config(sim.path, str(tmp_path)))
        data = render(member_receipt())
        results: list[bool] = []
        threads = [
            threading.Thread(target=lambda: results.append(driver.submit(PrintJob("dup", data))))
            for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results.count(True) == 1
        assert driver.pending_jobs() == ["dup"]


def test_bytes_on_the_wire_are_status_requests_then_the_whole_job_then_its_process_id(
    tmp_path,
) -> None:
    """Epson ESC/POS Command Reference: DLE EOT n (10 04 01 .. 10 04 04) real-time status, sent
    only between jobs; the job exactly as receipt_layout renders it, in one piece; then
    GS ( H fn=48 (1D 28 48 06 00 30 30 d1..d4) asking for the process-ID response."""
    status = bytes.fromhex("100401100402100403100404")
    receipt = member_receipt()
    with PrinterSimulator(48, record_wire=True) as sim, running(sim, str(tmp_path)) as driver:
        driver.print_receipt(receipt, "receipt:wire")
        assert driver.wait_printed("receipt:wire", WAIT_S)
        with sim.lock:
            wire = bytes(sim.wire)
    before, job, after = wire.partition(render(receipt))
    assert job, "the job's bytes did not arrive in one piece"
    assert before and before == status * (len(before) // len(status))
    pid = bytes.fromhex("1d284806003030") + b"0001"
    assert after.startswith(pid)
    rest = after[len(pid) :]
    assert rest == status * (len(rest) // len(status))
