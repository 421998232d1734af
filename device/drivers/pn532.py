"""NFC member cards through an NXP PN532 on its HSU (UART) link: our own framing on pyserial.

Reference: NXP "PN532 User Manual" UM0701-02 Rev. 02.
- §6.2.1.1 normal information frame: 00 00 FF LEN LCS TFI PD0..PDn DCS 00, where LEN counts
  TFI + data, LEN + LCS = 0 (mod 256) and TFI + PD0 + ... + PDn + DCS = 0 (mod 256);
  TFI is D4 host -> PN532 and D5 PN532 -> host, and a response's command code is the
  request's plus one.
- §6.2.1.2 extended information frame, for more than 255 bytes of TFI + data:
  00 00 FF FF FF LENM LENL LCS TFI PD0..PDn DCS 00, where LENM + LENL + LCS = 0 (mod 256).
- §6.2.1.3 ACK frame 00 00 FF 00 FF 00; NACK 00 00 FF FF 00 00 asks the PN532 to send its
  last response again (we use it once after a checksum error).
- §6.2.1.5 error frame 00 00 FF 01 FF 7F 81 00 (application-level error).
- §6.2.2 / §7.2 HSU wake-up: after power-on or power-down the PN532 needs 0x55 0x55 followed by
  enough 0x00 bytes to wake, and the first command must be SAMConfiguration.
- §7.2.2 GetFirmwareVersion (0x02) -> IC, Ver, Rev, Support (a PN532 reports IC = 0x32).
- §7.2.10 SAMConfiguration (0x14): mode 0x01 normal, timeout 0x14 (x 50 ms), IRQ 0x01.
- §7.3.1 RFConfiguration (0x32) item 0x05 MaxRetries: finite passive-activation retries, so
  InListPassiveTarget answers "no card" instead of waiting for one forever.
- §7.3.5 InListPassiveTarget (0x4A) MaxTg=0x01, BrTy=0x00 (106 kbps type A) -> NbTg, then per
  target Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1 (the UID).

Hand-written rather than a library: the PN532 Python libraries in circulation target I2C/SPI
on CircuitPython or drag in libnfc; the HSU framing is about a hundred lines.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from device.drivers.errors import DeviceTimeout, DeviceUnavailable, ProtocolViolation
from device.drivers.transport import Transport

ACK = bytes([0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00])
NACK = bytes([0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00])
WAKEUP = bytes([0x55, 0x55]) + bytes(14)
TFI_HOST, TFI_PN532, TFI_ERROR = 0xD4, 0xD5, 0x7F
CMD_GET_FIRMWARE_VERSION = 0x02
CMD_SAM_CONFIGURATION = 0x14
CMD_RF_CONFIGURATION = 0x32
CMD_IN_LIST_PASSIVE_TARGET = 0x4A
MAX_BUFFER = 1024  # far more than any normal frame (at most 262 bytes); beyond is line noise


MAX_EXTENDED_BODY = MAX_BUFFER - 10  # a frame the parser keeps whole, header and tail included


def build_frame(tfi: int, data: bytes) -> bytes:
    """An information frame around TFI + data: normal up to 255 bytes (UM0701-02 §6.2.1.1),
    extended beyond (§6.2.1.2)."""
    body = bytes([tfi]) + data
    length = len(body)
    dcs = (-sum(body)) & 0xFF
    if length <= 255:
        return bytes([0x00, 0x00, 0xFF, length, (-length) & 0xFF, *body, dcs, 0x00])
    if length > MAX_EXTENDED_BODY:
        raise ProtocolViolation(f"PN532 frame body of {length} bytes is too long")
    lenm, lenl = length >> 8, length & 0xFF
    return bytes(
        [0x00, 0x00, 0xFF, 0xFF, 0xFF, lenm, lenl, (-(lenm + lenl)) & 0xFF, *body, dcs, 0x00]
    )


def command_frame(cmd: int, params: bytes = b"") -> bytes:
    """A host -> PN532 command frame (TFI D4)."""
    return build_frame(TFI_HOST, bytes([cmd]) + params)


@dataclass(frozen=True, slots=True)
class Frame:
    """One parsed item: kind is 'ack', 'nack', 'data' or 'error'; data excludes TFI."""

    kind: str
    tfi: int = 0
    data: bytes = b""


class FrameParser:
    """Incremental parser of PN532 -> host bytes; skips noise, never raises.

    feed() returns (frames, problems); a frame with a bad LCS or DCS is dropped and reported
    as a problem, so the caller can NACK it.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> tuple[list[Frame], list[str]]:
        """Add bytes; return the complete frames found and any problems."""
        self._buf += data
        frames: list[Frame] = []
        problems: list[str] = []
        while True:
            start = self._buf.find(b"\x00\xff")
            if start < 0:
                # Keep a trailing 0x00: it may be the first half of the next start code.
                keep = 1 if self._buf.endswith(b"\x00") else 0
                del self._buf[: len(self._buf) - keep]
                break
            del self._buf[:start]
            if len(self._buf) < 4:
                break
            length, lcs = self._buf[2], self._buf[3]
            if (length, lcs) == (0x00, 0xFF):
                frames.append(Frame("ack"))
                del self._buf[:4]
                continue
            if (length, lcs) == (0xFF, 0x00):
                frames.append(Frame("nack"))
                del self._buf[:4]
                continue
            header = 4
            if (length, lcs) == (0xFF, 0xFF):  # extended frame: LENM LENL LCS follow
                if len(self._buf) < 7:
                    break
                lenm, lenl, lcs = self._buf[4], self._buf[5], self._buf[6]
                length, header = (lenm << 8) | lenl, 7
                if (lenm + lenl + lcs) & 0xFF or length <= 255 or length > MAX_EXTENDED_BODY:
                    problems.append("PN532 extended frame length or its checksum (LCS) wrong")
                    del self._buf[:2]
                    continue
            elif (length + lcs) & 0xFF or length == 0:
                problems.append("PN532 frame length checksum (LCS) wrong")
                del self._buf[:2]
                continue
            if len(self._buf) < header + length + 1:
                break
            body = bytes(self._buf[header : header + length])
            dcs = self._buf[header + length]
            del self._buf[: header + length + 1]
            if (sum(body) + dcs) & 0xFF:
                problems.append("PN532 frame data checksum (DCS) wrong")
                continue
            kind = "error" if body[0] == TFI_ERROR else "data"
            frames.append(Frame(kind, body[0], body[1:]))
        if len(self._buf) > MAX_BUFFER:
            problems.append(f"PN532: discarded {len(self._buf)} bytes of line noise")
            self._buf.clear()
        return frames, problems


@dataclass(frozen=True, slots=True)
class FirmwareVersion:
    """GetFirmwareVersion answer (UM0701-02 §7.2.2)."""

    ic: int
    ver: int
    rev: int
    support: int


def parse_target_uid(data: bytes) -> bytes | None:
    """The NFCID1 of the first target in an InListPassiveTarget answer (after the 0x4B code)."""
    if not data:
        raise ProtocolViolation("PN532 InListPassiveTarget answer is empty")
    if data[0] == 0:
        return None
    # Tg, SENS_RES (2), SEL_RES, NFCIDLength, NFCID1...
    if len(data) < 6 or data[5] not in (4, 7, 10) or len(data) < 6 + data[5]:
        raise ProtocolViolation("PN532 InListPassiveTarget answer is malformed")
    return bytes(data[6 : 6 + data[5]])


class Pn532:
    """Request/response with a PN532 over a Transport; every failure is a DriverError."""

    def __init__(self, transport: Transport, ack_timeout: float = 0.2, timeout: float = 1.0):
        self.transport = transport
        self.ack_timeout = ack_timeout
        self.timeout = timeout
        self._parser = FrameParser()
        self._pending: list[Frame] = []
        self._problems: list[str] = []

    def wake_up(self) -> None:
        """HSU wake-up preamble then SAMConfiguration normal mode (UM0701-02 §6.2.2, §7.2.10)."""
        self.transport.discard_input()
        self.transport.write(WAKEUP)
        self.call(CMD_SAM_CONFIGURATION, bytes([0x01, 0x14, 0x01]))

    def firmware_version(self) -> FirmwareVersion:
        """Ask the chip who it is; a PN532 answers IC 0x32."""
        data = self.call(CMD_GET_FIRMWARE_VERSION)
        if len(data) != 4:
            raise ProtocolViolation("PN532 GetFirmwareVersion answer has the wrong length")
        return FirmwareVersion(*data)

    def set_passive_retries(self, retries: int) -> None:
        """RFConfiguration MaxRetries: MxRtyATR 0xFF, MxRtyPSL 0x01, MxRtyPassiveActivation."""
        self.call(CMD_RF_CONFIGURATION, bytes([0x05, 0xFF, 0x01, retries & 0xFF]))

    def read_uid(self) -> bytes | None:
        """One InListPassiveTarget for a 106 kbps type A card: its UID, or None."""
        return parse_target_uid(self.call(CMD_IN_LIST_PASSIVE_TARGET, bytes([0x01, 0x00])))

    def call(self, cmd: int, params: bytes = b"") -> bytes:
        """Send a command, wait for ACK and the answer; return the answer's data."""
        self._parser = FrameParser()
        self._pending, self._problems = [], []
        self.transport.discard_input()  # stale bytes or line noise must not pose as the answer
        self.transport.write(command_frame(cmd, params))
        first = self._next_frame(self.ack_timeout)
        if first is None:
            raise DeviceTimeout("card reader: PN532 did not answer (check wiring)")
        if first.kind != "ack":
            raise ProtocolViolation(f"card reader: PN532 sent {first.kind} instead of ACK")
        nacked = False
        while True:
            try:
                frame = self._next_frame(self.timeout)
            except ProtocolViolation:
                if nacked:
                    raise
                nacked = True  # a corrupted answer: ask for it once more (§6.2.1.3)
                self.transport.write(NACK)
                continue
            if frame is None:
                raise DeviceTimeout(f"card reader: PN532 did not finish command 0x{cmd:02X}")
            if frame.kind == "error":
                raise ProtocolViolation("card reader: PN532 reported an application error")
            answer = frame.kind == "data" and frame.tfi == TFI_PN532
            if answer and frame.data[:1] == bytes([cmd + 1]):
                return frame.data[1:]

    def _next_frame(self, timeout: float) -> Frame | None:
        deadline = time.monotonic() + timeout
        while True:
            if self._pending:
                return self._pending.pop(0)
            if self._problems:
                raise ProtocolViolation(f"card reader: {self._problems.pop(0)}")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            data = self.transport.read(64, min(left, 0.05))
            frames, problems = self._parser.feed(data)
            self._pending.extend(frames)
            self._problems.extend(problems)


class Pn532Source:
    """The PN532 as a reader-thread source: open wakes and configures it, a chunk is one poll."""

    def __init__(self, transport: Transport, retries: int = 0x02) -> None:
        self.transport = transport
        self.where = transport.where
        self.chip = Pn532(transport)
        self._retries = retries
        self.firmware: FirmwareVersion | None = None

    def open(self) -> None:
        self.transport.open()
        try:
            self.chip.wake_up()
            self.firmware = fw = self.chip.firmware_version()
            self.chip.set_passive_retries(self._retries)
            self.where = f"{self.transport.where} (PN5{fw.ic:02X} firmware {fw.ver}.{fw.rev})"
        except DeviceTimeout as exc:
            self.transport.close()
            raise DeviceUnavailable(
                f"card reader: PN532 on {self.where} did not answer (check wiring)"
            ) from exc

    def close(self) -> None:
        self.transport.close()
        self.where = self.transport.where

    def read_chunk(self, timeout: float) -> bytes:
        """Poll once; b"" means no card. Waits `timeout` between polls to spare the RF field."""
        uid = self.chip.read_uid()
        time.sleep(timeout)
        return uid or b""
