"""The printer simulator: ESC/POS decoding, DLE EOT answers, faults, garbage and the picture."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import qrcode
import serial
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from device.drivers.errors import DriverError
from device.drivers.receipt_layout import render
from device.drivers.sim.printer_decoder import parse_all
from device.drivers.sim.printer_model import PrinterModel
from device.drivers.sim.printer_render import render_png
from device.drivers.sim.printer_sim import PrinterSimulator, decode_bytes
from tests.device.drivers.printer_helpers import WAIT_S, member_receipt, wait_for

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs")


def _ask(port: serial.Serial, request: bytes, n: int = 1) -> bytes:
    port.write(request)
    port.flush()
    return bytes(port.read(n))


@pytest.fixture
def sim_port():
    with PrinterSimulator(width=32) as sim:
        # read(n) returns once n bytes are in; the timeout is only a deadline for a busy machine
        port = serial.Serial(sim.path, 9600, timeout=WAIT_S)
        try:
            yield sim, port
        finally:
            port.close()


def test_dle_eot_answers_follow_the_command_reference(sim_port) -> None:
    """Epson ESC/POS Command Reference, DLE EOT n: every answer has bits 1 and 4 on (12H).
    n=4 paper: adequate 12H, near end +0CH = 1EH, end +60H = 7EH. n=1: offline bit 3 (+08H),
    drawer pin 3 HIGH bit 2 (+04H). n=2: cover open bit 2 (+04H), paper-end stop bit 5."""
    sim, port = sim_port
    assert _ask(port, b"\x10\x04\x01\x10\x04\x02\x10\x04\x03\x10\x04\x04", 4) == bytes(
        [0x12, 0x12, 0x12, 0x12]
    )
    sim.set_near_end()
    assert _ask(port, b"\x10\x04\x04") == b"\x1e"
    sim.run_out_of_paper()
    assert _ask(port, b"\x10\x04\x04\x10\x04\x01\x10\x04\x02", 3) == bytes([0x7E, 0x1A, 0x32])
    sim.refill()
    sim.open_cover()
    assert _ask(port, b"\x10\x04\x02\x10\x04\x01", 2) == bytes([0x16, 0x1A])
    sim.close_cover()
    port.write(b"\x1b\x70\x01\x19\x32")  # ESC p: pin 5, 50 ms on, 100 ms off
    assert _ask(port, b"\x10\x04\x01") == b"\x16"
    assert sim.kicks == [(5, 50, 100)]
    sim.close_drawer()
    assert _ask(port, b"\x10\x04\x01") == b"\x12"


def test_receipt_over_the_pty_decodes_to_text_and_qr(sim_port, tmp_path) -> None:
    sim, port = sim_port
    port.write(render(member_receipt(width=32)) + b"\x1d\x28\x48\x06\x00\x30\x30ABCD")
    assert port.read(7) == b"\x37\x22ABCD\x00"  # GS ( H process ID response after the cut
    [receipt] = sim.complete_receipts
    assert receipt.qr_codes == ["S001-T02-20261123-0042"]
    text = receipt.text()
    assert "好  邻  居  便  利  店" in text  # double-width header
    assert "红富士苹果 Fuji" in text
    assert "会员8折" in text and "-5.00" in text
    [(txt, png)] = sim.save(str(tmp_path))
    assert txt.endswith("receipt-001.txt") and png.endswith("receipt-001.png")
    with open(txt, encoding="utf-8") as fh:
        assert fh.read() == text


def test_hand_built_stream_decodes_per_the_command_reference() -> None:
    """Epson ESC/POS Command Reference: ESC a 2 right justification; ESC E 1 emphasis on;
    GS ! 10H character size (width x2, height x1); FS & Chinese mode, where D6D0 CEC4 is
    GB18030 for 中文 (two columns each); GS k m=73 n=5 "{B" + data: CODE128 code set B;
    GS V 1 partial cut ends the receipt."""
    stream = (
        b"\x1b@\x1ba\x02\x1bE\x01\x1d!\x10AB\n"
        b"\x1ba\x00\x1bE\x00\x1d!\x00\x1c&\xd6\xd0\xce\xc4x\n"
        b"\x1dkI\x05{BR-1"
        b"\x1dV\x01"
    )
    [receipt] = decode_bytes(stream, 32)
    assert receipt.complete
    first, second, code = receipt.lines
    assert first.align == 2 and first.cells == 4
    assert first.runs[0].bold and first.runs[0].wmul == 2 and first.runs[0].hmul == 1
    assert second.plain == "中文x" and second.cells == 5
    assert code.kind == "barcode" and code.data == "R-1"
    assert receipt.text().splitlines()[:2] == [" " * 28 + "A B", "中文x"]


def test_paper_out_holds_data_and_buffer_clear_drops_it(sim_port) -> None:
    """Epson: printing stops at paper end, data waits in the buffer; DLE DC4 fn=8 clears the
    buffers and answers 37H 25H NUL even while the printer is offline."""
    sim, port = sim_port
    sim.run_out_of_paper(after_lines=4)
    port.write(render(member_receipt(width=32)))
    assert wait_for(lambda: len(sim.incomplete_receipts) == 1)
    [torn] = sim.incomplete_receipts
    assert torn.reason == "paper ran out" and len(torn.lines) == 4
    assert _ask(port, b"\x10\x14\x08\x01\x03\x14\x01\x06\x02\x08", 3) == b"\x37\x25\x00"
    sim.refill()  # resumes whatever is still held, before it returns
    assert sim.complete_receipts == []
    assert len(sim.receipts) == 1


def test_refill_without_clear_prints_the_rest_as_a_fragment() -> None:
    model = PrinterModel(32)
    model.run_out_of_paper(after_lines=4)
    model.feed(render(member_receipt(width=32)))
    model.refill()
    first, rest = model.receipts
    assert not first.complete and not rest.complete
    assert rest.reason == "continued from an earlier roll"
    assert rest.qr_codes == ["S001-T02-20261123-0042"]


def test_unplug_tears_the_job_and_the_driver_side_sees_an_error(sim_port) -> None:
    sim, port = sim_port
    sim.run_out_of_paper(after_lines=3)
    port.write(render(member_receipt(width=32)))
    assert wait_for(lambda: sim.model.paper_out)  # three lines printed, the rest held
    sim.unplug()
    with pytest.raises((serial.SerialException, OSError)):
        port.write(b"\x10\x04\x01")
        port.read(1)
    sim.replug()
    assert sim.complete_receipts == []


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_decoder_takes_any_garbage(data: bytes, chinese: bool) -> None:
    """Garbage never raises anything but DriverError, and every byte is accounted for."""
    try:
        ops = parse_all(data, chinese)
    except DriverError:
        return
    assert all(op.kind for op in ops)


ESCPOS_PIECES = st.sampled_from(
    [
        b"\x1b@",
        b"\x1c&",
        b"\x1c.",
        b"\n",
        b"\x1dV\x00",
        b"\x1b!0",
        b"\x1d(k",
        b"\x1d(k\x03\x001Q0",
        b"\x10\x04",
        b"\x10\x14\x08",
        b"\x1dk",
        b"\xd6\xd0",
        b"\x81\x30",
        b"abc",
        b"\x1bp\x00",
    ]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(ESCPOS_PIECES, st.binary(max_size=8)), max_size=60), st.data())
def test_model_takes_any_stream_in_any_chunking(pieces: list[bytes], data: st.DataObject) -> None:
    """Spliced command fragments and noise, fed in arbitrary chunks, never crash the printer."""
    stream = b"".join(pieces)
    model = PrinterModel(32, emit=lambda _b: None)
    if data.draw(st.booleans()):
        model.run_out_of_paper(after_lines=data.draw(st.integers(0, 5)))
    pos = 0
    try:
        while pos < len(stream):
            step = data.draw(st.integers(1, 16))
            model.feed(stream[pos : pos + step])
            pos += step
        model.refill()
        for receipt in model.receipts:
            receipt.text()
    except DriverError:
        pass


@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(ESCPOS_PIECES, st.binary(max_size=12)), max_size=40))
def test_any_printed_garbage_still_renders_to_png(pieces: list[bytes]) -> None:
    """Whatever a host sends, the picture of the paper can be drawn (odd QR/barcode data too)."""
    stream = b"\x1b@" + b"".join(pieces) + b"\x1d(k\x08\x001P0\xff\x00\x01\x1d(k\x03\x001Q0"
    stream += b"\x1dkI\x04\xe9\xff\x00\x01\n\x1dV\x00"
    for receipt in decode_bytes(stream, 32):
        image = render_png(receipt)
        assert image.width == 384 + 2 * 16 + 16


def test_chinese_member_receipt_png(tmp_path) -> None:
    """The picture of an 80 mm receipt is 576 dots of paper wide, white with black print."""
    [receipt] = decode_bytes(render(member_receipt(width=48)), 48)
    txt, png = receipt.save(str(tmp_path), "member-zh")
    with Image.open(png) as image:
        assert image.width == 576 + 2 * 16 + 16
        grey = image.convert("L")
        histogram = grey.histogram()
        white = sum(histogram[230:])
        black = sum(histogram[:60])
        assert black > 0.02 * sum(histogram), "no print on the paper"
        assert white > 0.6 * sum(histogram), "paper is not white"
    with open(txt, encoding="utf-8") as fh:
        assert "138****5678" in fh.read()
    if os.environ.get("POS_WRITE_SAMPLES") == "1":  # refreshes the picture kept in docs/
        os.makedirs(DOCS, exist_ok=True)
        shutil.copyfile(png, os.path.join(DOCS, "sample-receipt-zh.png"))


def _dark_runs(image: Image.Image, y: int) -> list[tuple[int, int]]:
    runs, start = [], None
    for x in range(image.width):
        dark = image.getpixel((x, y)) < 128
        if dark and start is None:
            start = x
        elif not dark and start is not None:
            runs.append((start, x - start))
            start = None
    return runs


def _qr_modules_in_picture(image: Image.Image, size: int, module: int) -> list[list[bool]]:
    """Find the symbol by its two top finder patterns (7 modules of black each, n - 7 modules
    apart, ISO/IEC 18004 §6.3.3) and read every module at its centre."""
    for y in range(image.height):
        runs = dict(_dark_runs(image, y))
        for x0, length in runs.items():
            if length == 7 * module and runs.get(x0 + (size - 7) * module) == 7 * module:
                half = module // 2
                return [
                    [image.getpixel((x0 + c * module + half, y + r * module + half)) < 128
                     for c in range(size)]
                    for r in range(size)
                ]  # fmt: skip
    raise AssertionError("no QR symbol found on the picture")


@pytest.mark.parametrize(("width", "language"), [(48, "zh"), (32, "en")])
def test_qr_on_the_picture_decodes_to_the_receipt_number(tmp_path, width, language) -> None:
    """python-escpos sends GS ( k fn=67 n (module size, 1D 28 6B 03 00 31 43 n) and fn=69 48
    (error correction L, 1D 28 6B 03 00 31 45 30). The symbol on the picture must be the one a
    QR encoder makes for the receipt number at that size and level; where zbarimg is installed
    (apt-get install zbar-tools) it must also read back as the receipt number."""
    number = "S001-T02-20261123-0042"
    data = render(member_receipt(width=width, language=language, receipt_no=number))
    module = 6 if width == 48 else 5
    assert bytes.fromhex("1d286b03003143") + bytes((module,)) in data
    assert bytes.fromhex("1d286b0300314530") in data
    [receipt] = decode_bytes(data, width)
    _, png = receipt.save(str(tmp_path), "qr")
    expected = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_L, border=0)
    expected.add_data(number)
    expected.make(fit=True)
    matrix = expected.get_matrix()
    with Image.open(png) as picture:
        assert _qr_modules_in_picture(picture.convert("L"), len(matrix), module) == matrix
    zbarimg = shutil.which("zbarimg")
    if zbarimg is not None:
        found = subprocess.run(
            [zbarimg, "-q", "--raw", png], capture_output=True, text=True, timeout=30, check=False
        ).stdout.split()
        assert found == [number]


def test_cut_and_torn_pieces_look_different_in_text_and_picture() -> None:
    """GS V 0 ends a complete piece (a cut line); a piece that ran out of paper has a torn edge."""
    model = PrinterModel(32)
    model.feed(b"\x1b@CUT\n\x1dV\x00")
    model.run_out_of_paper(after_lines=1)
    model.feed(b"\x1b@TORN\nMORE\n")
    cut, torn = model.receipts
    assert cut.complete and cut.text().endswith("-" * 32 + "  (cut)\n")
    assert not torn.complete and "(torn: paper ran out)" in torn.text()
    bottom = [render_png(piece).convert("L") for piece in (cut, torn)]

    # The cut line is a dashed black row across the paper; the torn edge is a grey jagged band.
    def dashed(image: Image.Image) -> bool:
        return any(len(_dark_runs(image, y)) >= 20 for y in range(image.height - 40, image.height))

    assert dashed(bottom[0]) and not dashed(bottom[1])
    assert bottom[0].getpixel((30, bottom[0].height - 12)) == 255
    assert bottom[1].getpixel((30, bottom[1].height - 12)) == 200
