"""A PN532 on the far end of a pty, answering HSU frames as the chip does (NXP UM0701-02 §6.2).

It needs the 0x55 0x55 wake-up preamble after every power-up (replug) before it answers,
ACKs each good command frame, then sends the response frame; a NACK from the host gets the last
response again; unknown commands get the application error frame. The framing here is written
out independently of device.drivers.pn532 so the two check each other.
"""

from __future__ import annotations

from device.drivers.sim.pty import SerialSimulator

ACK = bytes.fromhex("0000ff00ff00")
NACK = bytes.fromhex("0000ffff0000")
ERROR_FRAME = bytes.fromhex("0000ff01ff7f8100")
FIRMWARE = bytes([0x32, 0x01, 0x06, 0x07])  # PN532, firmware 1.6, supports ISO 14443A/B + 18092


def response_frame(cmd: int, data: bytes) -> bytes:
    """00 00 FF LEN LCS D5 (cmd+1) data DCS 00."""
    body = bytes([0xD5, (cmd + 1) & 0xFF]) + data
    dcs = (0x100 - sum(body) % 0x100) % 0x100
    return (
        b"\x00\x00\xff" + bytes([len(body), (0x100 - len(body)) % 0x100]) + body + bytes([dcs, 0])
    )


class Pn532Sim(SerialSimulator):
    """The chip: `present(uid)` puts a card on the antenna, `remove()` takes it away."""

    def __init__(self, link_path: str | None = None) -> None:
        super().__init__(link_path)
        self.awake = False
        self.silent = False  # True: behaves like a reader with TX/RX swapped (answers nothing)
        self.corrupt_next = 0  # corrupt the DCS of this many upcoming responses
        self.uid: bytes | None = None
        self.wire = bytearray()  # every byte the host sent, for byte-exact checks
        self.commands: list[tuple[int, bytes]] = []  # (command code, parameters) answered
        self.sam_configured = False
        self._buf = bytearray()
        self._last = b""

    def present(self, uid: bytes) -> None:
        """Hold a type A card with this UID (4 or 7 bytes) on the reader."""
        with self.lock:
            self.uid = uid

    def remove(self) -> None:
        """Take the card away."""
        with self.lock:
            self.uid = None

    def replug(self) -> None:
        """Power comes back: the chip is asleep again until woken."""
        with self.lock:
            self.awake = False
            self.sam_configured = False
            self._buf.clear()
        super().replug()

    def on_bytes(self, data: bytes) -> None:
        self.wire += data
        if self.silent:
            return
        self._buf += data
        while True:
            if not self.awake:
                i = self._buf.find(b"\x55\x55")
                if i < 0:
                    del self._buf[:-1]
                    return
                self.awake = True
                del self._buf[: i + 2]
            start = self._buf.find(b"\x00\xff")
            if start < 0 or len(self._buf) < start + 4:
                return
            del self._buf[:start]
            length, lcs = self._buf[2], self._buf[3]
            if (length, lcs) == (0xFF, 0x00):  # NACK: repeat the last response
                del self._buf[:4]
                self.send(self._last)
                continue
            if (length + lcs) % 0x100 or length < 2:
                del self._buf[:2]
                continue
            if len(self._buf) < 4 + length + 1:
                return
            body = bytes(self._buf[4 : 4 + length])
            dcs = self._buf[4 + length]
            del self._buf[: 4 + length + 1]
            if (sum(body) + dcs) % 0x100 or body[0] != 0xD4:
                continue  # the chip ignores a damaged frame: the host times out waiting for ACK
            self.commands.append((body[1], body[2:]))
            self.send(ACK)
            self._answer(body[1], body[2:])

    def _answer(self, cmd: int, params: bytes) -> None:
        if cmd == 0x02:
            out = response_frame(cmd, FIRMWARE)
        elif cmd == 0x14:
            self.sam_configured = True
            out = response_frame(cmd, b"")
        elif cmd == 0x32:
            out = response_frame(cmd, b"")
        elif cmd == 0x4A and params[:2] == b"\x01\x00":
            if self.uid is None:
                out = response_frame(cmd, b"\x00")
            else:
                # One target: Tg 1, SENS_RES 00 04, SEL_RES 08 (MIFARE Classic 1K), NFCID1.
                out = response_frame(cmd, bytes([1, 1, 0x00, 0x04, 0x08, len(self.uid)]) + self.uid)
        else:
            out = ERROR_FRAME
        self._last = out
        if self.corrupt_next > 0:
            self.corrupt_next -= 1
            out = out[:-2] + bytes([(out[-2] + 1) % 0x100]) + out[-1:]
        self.send(out)
