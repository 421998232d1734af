"""PN532 HSU framing (NXP UM0701-02 §6.2) byte for byte, and the NFC reader over a real pty."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.drivers.card_reader import NfcCardReader, NfcConfig
from device.drivers.errors import DeviceStatus, DeviceTimeout, DriverError, ProtocolViolation
from device.drivers.events import CardEvent
from device.drivers.pn532 import (
    ACK,
    NACK,
    WAKEUP,
    Frame,
    FrameParser,
    Pn532,
    build_frame,
    command_frame,
    parse_target_uid,
)
from device.drivers.sim.pn532_sim import Pn532Sim
from device.drivers.transport import SerialTransport
from tests.device.drivers.input_helpers import Collector, fast_backoff

# Frames written out by hand from UM0701-02 §6.2.1.1: LCS = 0x100 - LEN, DCS = 0x100 - sum(TFI..).
GET_FIRMWARE = bytes.fromhex("0000ff02fed4022a00")  # D4+02 = D6 -> DCS 2A
SAM_NORMAL = bytes.fromhex("0000ff05fbd4140114010200")  # D4+14+01+14+01 = FE -> DCS 02
LIST_TYPE_A = bytes.fromhex("0000ff04fcd44a0100e100")  # D4+4A+01+00 = 11F -> DCS E1
RF_RETRIES_2 = bytes.fromhex("0000ff06fad432 05ff0102f300".replace(" ", ""))  # 0x20D -> F3
FIRMWARE_ANSWER = bytes.fromhex("0000ff06fad50332010607e800")  # §7.2.2 example: IC 32, v1.6


def test_command_frames_are_byte_exact() -> None:
    """NXP UM0701-02 §6.2.1.1 information frame 00 00 FF LEN LCS D4 cmd params DCS 00 with
    LEN + LCS = 0 and D4 + cmd + params + DCS = 0 (mod 256); §6.2.1.3 ACK 00 00 FF 00 FF 00 and
    NACK 00 00 FF FF 00 00; §6.2.2 HSU wake-up 55 55 then 00s; commands from §7.2.2 (02),
    §7.2.10 (14 01 14 01), §7.3.1 (32 05 FF 01 n) and §7.3.5 (4A 01 00)."""
    assert command_frame(0x02) == GET_FIRMWARE
    assert command_frame(0x14, b"\x01\x14\x01") == SAM_NORMAL
    assert command_frame(0x4A, b"\x01\x00") == LIST_TYPE_A
    assert command_frame(0x32, b"\x05\xff\x01\x02") == RF_RETRIES_2
    assert bytes.fromhex("0000ff00ff00") == ACK and bytes.fromhex("0000ffff0000") == NACK
    assert WAKEUP[:2] == b"\x55\x55" and set(WAKEUP[2:]) == {0} and len(WAKEUP) >= 16


def test_parser_reads_ack_answer_and_error_frames_through_noise() -> None:
    """UM0701-02 §6.2.1.3 ACK, §7.2.2 GetFirmwareVersion answer D5 03 32 01 06 07 (IC 32,
    version 1.6, support 07) and §6.2.1.5 error frame 00 00 FF 01 FF 7F 81 00, split anywhere."""
    parser = FrameParser()
    wire = b"\xaa\x13" + ACK + FIRMWARE_ANSWER + bytes.fromhex("0000ff01ff7f8100")
    frames: list[Frame] = []
    for i in range(0, len(wire), 3):  # arrives in dribs and drabs
        got, problems = parser.feed(wire[i : i + 3])
        frames += got
        assert problems == []
    assert frames == [
        Frame("ack"),
        Frame("data", 0xD5, bytes([0x03, 0x32, 0x01, 0x06, 0x07])),
        Frame("error", 0x7F, b""),
    ]


def test_parser_rejects_bad_checksums() -> None:
    """UM0701-02 §6.2.1.1: a frame whose DCS (data sum) or LCS (LEN + LCS) is not 0 mod 256
    is dropped with a reason, never handed on as data."""
    bad_dcs = FIRMWARE_ANSWER[:-2] + b"\xe9\x00"
    frames, problems = FrameParser().feed(bad_dcs)
    assert frames == [] and problems == ["PN532 frame data checksum (DCS) wrong"]
    bad_lcs = bytes.fromhex("0000ff06fbd50332010607e800")
    frames, problems = FrameParser().feed(bad_lcs)
    assert frames == [] and "LCS" in problems[0]


def test_extended_frames_are_built_and_parsed() -> None:
    """UM0701-02 §6.2.1.2 extended information frame 00 00 FF FF FF LENM LENL LCS TFI
    PD0..PDn DCS 00, with LENM + LENL + LCS = 0 (mod 256). 300 data bytes of 01 after D5:
    LEN = 301 = 01 2D, LCS = 0x100 - 0x2E = D2; DCS = 0x100 - (D5 + 300) mod 256 = 0x100 -
    (213 + 300) mod 256 = 0x100 - 0x01 = FF."""
    data = b"\x01" * 300
    wire = build_frame(0xD5, data)
    assert wire[:8] == bytes.fromhex("0000ffffff012dd2")
    assert wire[8] == 0xD5 and wire[9:-2] == data and wire[-2:] == bytes.fromhex("ff00")
    parser = FrameParser()
    frames: list[Frame] = []
    for i in range(0, len(wire), 7):  # split anywhere, the header too
        got, problems = parser.feed(b"\x13" + wire[i : i + 7] if i == 0 else wire[i : i + 7])
        frames += got
        assert problems == []
    assert frames == [Frame("data", 0xD5, data)]
    assert build_frame(0xD4, b"\x02")[:4] == bytes.fromhex("0000ff02")  # short: still normal
    bad_lcs = wire[:7] + b"\xd3" + wire[8:]
    frames, problems = FrameParser().feed(bad_lcs)
    assert frames == [] and "extended frame length or its checksum (LCS) wrong" in problems[0]
    bad_dcs = wire[:-2] + b"\xfe\x00"
    frames, problems = FrameParser().feed(bad_dcs)
    assert frames == [] and problems == ["PN532 frame data checksum (DCS) wrong"]


def test_target_uid_parsing() -> None:
    """UM0701-02 §7.3.5 InListPassiveTarget answer (106 kbps type A): NbTg, then Tg,
    SENS_RES (2 bytes), SEL_RES, NFCIDLength, NFCID1; NbTg = 0 means no card."""
    assert parse_target_uid(b"\x00") is None
    assert parse_target_uid(
        bytes.fromhex("0101000408 04 deadbeef".replace(" ", ""))
    ) == bytes.fromhex("deadbeef")
    with pytest.raises(ProtocolViolation, match="malformed"):
        parse_target_uid(bytes.fromhex("01010004080a01"))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=8))
def test_parser_never_raises_on_garbage(chunks: list[bytes]) -> None:
    """Any bytes in any chunking: the frame parser returns frames and problems, never raises."""
    parser = FrameParser()
    for chunk in chunks:
        frames, _ = parser.feed(chunk)
        for frame in frames:
            assert frame.kind in ("ack", "nack", "data", "error")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=30))
def test_uid_parsing_of_garbage_raises_only_driver_errors(data: bytes) -> None:
    """Any InListPassiveTarget answer body parses to a 4/7/10-byte UID, None, or a DriverError."""
    try:
        uid = parse_target_uid(data)
    except DriverError:
        return
    assert uid is None or len(uid) in (4, 7, 10)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.binary(max_size=600))
def test_any_command_frame_parses_back(cmd: int, params: bytes) -> None:
    """UM0701-02 §6.2.1.1 and §6.2.1.2: every frame we build, normal or extended, has
    checksums the parser accepts."""
    frames, problems = FrameParser().feed(command_frame(cmd, params))
    assert problems == [] and frames == [Frame("data", 0xD4, bytes([cmd]) + params)]


@pytest.fixture
def sim() -> Iterator[Pn532Sim]:
    with Pn532Sim() as s:
        yield s  # type: ignore[misc]


@pytest.fixture
def chip(sim: Pn532Sim) -> Iterator[Pn532]:
    transport = SerialTransport(sim.path, 115200)
    transport.open()
    yield Pn532(transport)
    transport.close()


def test_wake_up_sends_preamble_then_sam_configuration(sim: Pn532Sim, chip: Pn532) -> None:
    """UM0701-02 §6.2.2 (HSU wake-up: 55 55 00 ...) and §7.2.10 (the first command after
    wake-up is SAMConfiguration, normal mode: D4 14 01 14 01), byte for byte on the wire."""
    chip.wake_up()
    assert bytes(sim.wire) == WAKEUP + SAM_NORMAL
    assert sim.sam_configured
    assert chip.firmware_version().ic == 0x32
    assert bytes(sim.wire).endswith(GET_FIRMWARE)


def test_uid_of_a_presented_card_and_none_without_one(sim: Pn532Sim, chip: Pn532) -> None:
    """UM0701-02 §7.3.5: InListPassiveTarget 4A 01 00 (one target, 106 kbps type A)."""
    chip.wake_up()
    assert chip.read_uid() is None
    sim.present(bytes.fromhex("04a1b2c3d4e5f6"))
    assert chip.read_uid() == bytes.fromhex("04a1b2c3d4e5f6")
    assert bytes(sim.wire).endswith(LIST_TYPE_A)


def test_a_corrupted_answer_is_fetched_again_with_nack(sim: Pn532Sim, chip: Pn532) -> None:
    """UM0701-02 §6.2.1.3: after an answer with a bad DCS the host sends NACK
    (00 00 FF FF 00 00) and the PN532 sends its last answer again."""
    chip.wake_up()
    sim.corrupt_next = 1
    assert chip.firmware_version().ver == 1
    assert bytes(sim.wire).endswith(GET_FIRMWARE + NACK)


def test_unknown_command_gets_the_error_frame(sim: Pn532Sim, chip: Pn532) -> None:
    """UM0701-02 §6.2.1.5: the error frame (TFI 7F) is an application error, reported as such."""
    chip.wake_up()
    with pytest.raises(ProtocolViolation, match="application error"):
        chip.call(0x60)


def test_a_silent_chip_times_out_with_a_wiring_hint(sim: Pn532Sim, chip: Pn532) -> None:
    sim.silent = True
    with pytest.raises(DeviceTimeout, match=r"PN532 did not answer \(check wiring\)"):
        chip.wake_up()


def wait_polls(sim: Pn532Sim, n: int, timeout: float = 30.0) -> None:
    """Wait until the reader has sent n more InListPassiveTarget commands."""
    import time

    def polls() -> int:
        with sim.lock:
            return sum(1 for cmd, _ in sim.commands if cmd == 0x4A)

    target = polls() + n
    deadline = time.monotonic() + timeout
    while polls() < target:
        assert time.monotonic() < deadline, "the NFC reader stopped polling"
        time.sleep(0.01)


def test_nfc_reader_reports_each_tap_once_and_survives_replug(sim: Pn532Sim) -> None:
    out = Collector()
    reader = NfcCardReader(NfcConfig(port=sim.path, poll_s=0.02), out, backoff=fast_backoff())
    reader.start()
    try:
        ready = out.status("connected")
        assert ready.message == f"card reader ready on {sim.path} (PN532 firmware 1.6)"
        sim.present(bytes.fromhex("deadbeef"))
        assert out.of(CardEvent) == CardEvent(kind="nfc", card_id="DEADBEEF", source="nfc reader")
        wait_polls(sim, 3)
        assert [e for e in out.drain(0.05) if isinstance(e, CardEvent)] == []  # still on the pad
        sim.remove()
        wait_polls(sim, 2)  # the reader has seen the empty pad
        sim.present(bytes.fromhex("deadbeef"))
        assert out.of(CardEvent).card_id == "DEADBEEF"  # a second tap counts
        sim.unplug()
        out.status("error")
        sim.replug()
        out.status("connected")
        assert sim.sam_configured  # woken and configured again after power came back
        sim.remove()
        wait_polls(sim, 2)
        sim.present(bytes.fromhex("01020304"))
        assert out.of(CardEvent).card_id == "01020304"
    finally:
        reader.stop()


def test_nfc_reader_with_a_miswired_chip_says_so(sim: Pn532Sim) -> None:
    sim.silent = True
    out = Collector()
    reader = NfcCardReader(NfcConfig(port=sim.path), out, backoff=fast_backoff())
    reader.start()
    try:
        status = out.status("error")
        assert status.message == f"card reader: PN532 on {sim.path} did not answer (check wiring)"
        threading.Timer(0.1, lambda: setattr(sim, "silent", False)).start()
        out.status("connected")
    finally:
        reader.stop()


def test_line_noise_from_the_reader_does_not_stop_card_reads(sim: Pn532Sim) -> None:
    out = Collector()
    reader = NfcCardReader(NfcConfig(port=sim.path, poll_s=0.02), out, backoff=fast_backoff())
    reader.start()
    try:
        out.status("connected")
        for noise in (b"\x00\xff\x05\x00garbage", b"\xff" * 300, bytes(range(256))):
            sim.send(noise)
        sim.present(bytes.fromhex("0badcafe"))
        assert out.of(CardEvent).card_id == "0BADCAFE"
    finally:
        reader.stop()


def test_nfc_self_test_passes_on_a_tap_and_says_why_it_failed(sim: Pn532Sim) -> None:
    out = Collector()
    reader = NfcCardReader(NfcConfig(port=sim.path, poll_s=0.02), out, backoff=fast_backoff())
    reader.start()
    try:
        out.status("connected")
        threading.Timer(0.1, sim.present, args=(bytes.fromhex("a1b2c3d4"),)).start()
        assert reader.self_test(3).message == "NFC self-test passed: card read"
        assert reader.self_test(0.1).message == "NFC self-test failed: no card presented"
        sim.unplug()
        out.status("error", "not found")  # the reconnect attempt has failed
        failed = reader.self_test(0.1)
        assert failed == DeviceStatus(
            "nfc reader", "error", f"NFC self-test failed: card reader not found on {sim.path}"
        )
    finally:
        reader.stop()
