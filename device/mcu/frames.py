"""I/O-board link frames: CRC-16/CCITT, encoding, a resynchronising decoder, and the frame types.

Shared word for word by the board (MicroPython) and the terminal (CPython), so it uses only
what both have: no typing, no dataclasses, nothing beyond `struct`.

A frame on the wire:

    SYNC 0x7E | LEN | SEQ | TYPE | PAYLOAD (LEN bytes) | CRC hi | CRC lo

The CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF, no reflection) over LEN, SEQ,
TYPE and the payload. SYNC may also occur inside a frame: there is no byte stuffing, the
decoder finds frame boundaries by trying each SYNC and keeping what passes the CRC (as
Klipper's block protocol does), and drops a half frame that stops arriving.
"""

import struct

PROTOCOL_VERSION = 1
FIRMWARE_VERSION = "1.0.0"

SYNC = 0x7E
OVERHEAD = 6
MAX_PAYLOAD = 96
SEQ_MOD = 256

# Unsequenced frames: their SEQ field carries the sender's "next expected" sequence number.
ACK = 0x01
NAK = 0x02
HEARTBEAT = 0x03
MAINT = 0x05  # terminal -> board: restart into the REPL for flashing (payload MAINT_WORD)
HELLO = 0x10  # terminal -> board, opens a session
ANNOUNCE = 0x11  # board -> terminal, after boot and in answer to HELLO
# Sequenced (reliable) frames, board -> terminal.
KEY = 0x20
DRAWER = 0x21
ALARM = 0x22
STUCK = 0x23
KICKED = 0x24
STATS = 0x25
NOTE = 0x26
# Sequenced frames, terminal -> board.
CONFIG = 0x40
KICK = 0x41
BEEP = 0x42
DISPLAY = 0x43
QUERY = 0x44

CONTROL_TYPES = (ACK, NAK, HEARTBEAT, MAINT, HELLO, ANNOUNCE)
MAINT_WORD = b"REPL"

TYPE_NAMES = {
    ACK: "ACK", NAK: "NAK", HEARTBEAT: "HEARTBEAT", MAINT: "MAINT", HELLO: "HELLO", ANNOUNCE: "ANNOUNCE",
    KEY: "KEY", DRAWER: "DRAWER", ALARM: "ALARM", STUCK: "STUCK", KICKED: "KICKED",
    STATS: "STATS", NOTE: "NOTE", CONFIG: "CONFIG", KICK: "KICK", BEEP: "BEEP",
    DISPLAY: "DISPLAY", QUERY: "QUERY",
}

# Logical keys, in code order: the same names the terminal's keypad drivers emit.
KEY_NAMES = (
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "00", ".", "ENTER", "CLEAR", "VOID",
    "QTY", "SUBTOTAL", "CASH", "CARD", "MOBILE", "POINTS", "COUPON", "MEMBER", "RETURN",
    "NOSALE", "FUNC", "UP", "DOWN",
)
NO_KEY = 0xFF

# Buzzer patterns.
BEEP_SCAN = 1
BEEP_ERROR = 2
BEEP_ALARM = 3
BEEP_KEY = 4
BEEP_NAMES = {"scan": BEEP_SCAN, "error": BEEP_ERROR, "alarm": BEEP_ALARM, "key": BEEP_KEY}

# Outcomes of a drawer kick (KICKED payload).
KICK_PULSED = 0
KICK_ALREADY_OPEN = 1
KICK_DUPLICATE = 2
KICK_MERGED = 3
KICK_OUTCOMES = ("pulsed", "already open", "duplicate", "merged with a waiting kick")

# Why the board last started (ANNOUNCE payload).
RESET_CAUSES = ("power on", "watchdog", "soft reset", "unknown")

# ANNOUNCE flags.
ANN_REPLY = 0x01  # an answer to HELLO (not a boot announcement)
ANN_MISMATCH = 0x02  # the board refused the session: protocol versions differ

# Counters in a STATS payload, in order.
STAT_NAMES = (
    "crc_errors", "bad_frames", "duplicates", "out_of_order", "retransmits", "naks_sent",
    "naks_received", "sessions", "queue_overflows", "stuck_keys", "kicks", "kicks_refused",
    "loop_errors", "mismatches",
)

_TABLE = []


def _make_table():
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        _TABLE.append(crc & 0xFFFF)


_make_table()


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of `data` (bytes or bytearray), continuing from `crc`."""
    table = _TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ byte) & 0xFF]
    return crc


def encode(ftype, seq, payload=b""):
    """One frame's bytes."""
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload of %d bytes is over the %d-byte limit" % (len(payload), MAX_PAYLOAD))
    body = bytes((len(payload), seq & 0xFF, ftype)) + bytes(payload)
    crc = crc16(body)
    return bytes((SYNC,)) + body + bytes((crc >> 8, crc & 0xFF))


class Decoder:
    """Bytes in, whole frames (type, seq, payload) out; counts what it had to throw away.

    `stale_ms`: a half frame that gets no further byte for this long is given up, so a
    corrupted length byte cannot hold later frames back until enough bytes have piled up.
    """

    def __init__(self, stale_ms=40):
        self.buf = bytearray()
        self.stale_ms = stale_ms
        self.crc_errors = 0
        self.bad_frames = 0
        self.junk_bytes = 0
        self._last = 0

    def feed(self, data, now=None):
        """Add received bytes; return the list of good frames now complete."""
        if now is not None:
            if self.buf and ticks_diff(now, self._last) >= self.stale_ms:
                self._give_up_head()
            self._last = now
        self.buf.extend(data)
        return self._drain()

    def expire(self, now):
        """Call when nothing arrived: gives up a half frame that stopped coming."""
        if self.buf and ticks_diff(now, self._last) >= self.stale_ms:
            self._give_up_head()
            return self._drain()
        return []

    def _drain(self):
        frames = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def _give_up_head(self):
        # Drop the SYNC that started the stalled frame; a later SYNC may start a real one.
        if self.buf and self.buf[0] == SYNC:
            self.bad_frames += 1
            self.buf = self.buf[1:]
            self.junk_bytes += 1

    def _next(self):
        # MicroPython's bytearray has no item deletion: cut by rebinding to a slice.
        while True:
            buf = self.buf
            start = buf.find(_SYNC_BYTE)
            if start < 0:
                self.junk_bytes += len(buf)
                self.buf = bytearray()
                return None
            if start:
                self.junk_bytes += start
                buf = self.buf = buf[start:]
            if len(buf) < 2:
                return None
            length = buf[1]
            if length > MAX_PAYLOAD:
                self.bad_frames += 1
                self.junk_bytes += 1
                self.buf = buf[1:]
                continue
            total = length + OVERHEAD
            if len(buf) < total:
                return None
            crc = (buf[total - 2] << 8) | buf[total - 1]
            if crc16(memoryview(buf)[1 : total - 2]) != crc:
                self.crc_errors += 1
                self.junk_bytes += 1
                self.buf = buf[1:]
                continue
            seq, ftype = buf[2], buf[3]
            payload = bytes(buf[4 : total - 2])
            self.buf = buf[total:]
            return (ftype, seq, payload)


_SYNC_BYTE = bytes((SYNC,))
TICKS_PERIOD = 1 << 30
_HALF = TICKS_PERIOD // 2


def ticks_diff(a, b):
    """a - b on MicroPython's wrapping millisecond ticks (also correct for plain counters)."""
    return ((a - b + _HALF) % TICKS_PERIOD) - _HALF


def seq_diff(a, b):
    """a - b on 8-bit sequence numbers, in -128..127."""
    return ((a - b + 128) % SEQ_MOD) - 128


# -- payloads ---------------------------------------------------------------------------


def pack_hello(session, ack, boot, ack_valid):
    """HELLO: protocol version, the terminal's session id, what it expects next from `boot`."""
    return struct.pack(">BIBIB", PROTOCOL_VERSION, session, ack & 0xFF, boot, 1 if ack_valid else 0)


def unpack_hello(payload):
    """-> (version, session, ack, boot, ack_valid); the version alone if the rest differs."""
    if len(payload) < 1:
        raise ValueError("empty HELLO")
    if payload[0] != PROTOCOL_VERSION or len(payload) != 11:
        return (payload[0], 0, 0, 0, False)
    version, session, ack, boot, valid = struct.unpack(">BIBIB", payload)
    return (version, session, ack, boot, bool(valid))


def pack_announce(boot, cause, flags, firmware=FIRMWARE_VERSION):
    """ANNOUNCE: protocol version, boot id, reset cause, flags, firmware version text."""
    return struct.pack(">BIBB", PROTOCOL_VERSION, boot, cause, flags) + firmware.encode()[:32]


def unpack_announce(payload):
    """-> (version, boot, cause, flags, firmware)."""
    if len(payload) < 7:
        raise ValueError("ANNOUNCE of %d bytes is too short" % len(payload))
    version, boot, cause, flags = struct.unpack(">BIBB", payload[:7])
    return (version, boot, cause, flags, bytes(payload[7:]).decode())


def pack_config(cfg):
    """CONFIG from a dict: timings, the key layout (codes, NO_KEY for none), repeating keys."""
    layout = cfg["layout"]
    rows, cols = len(layout), len(layout[0])
    head = struct.pack(
        ">BHHBHHHBB", cfg["debounce_ms"], cfg["repeat_delay_ms"], cfg["repeat_ms"],
        cfg["stuck_s"], cfg["alarm_after_s"], cfg["pulse_ms"], cfg["switch_ms"], rows, cols,
    )
    cells = bytes(code for row in layout for code in row)
    repeat = bytes(cfg["repeat"])
    return head + cells + bytes((len(repeat),)) + repeat


def unpack_config(payload):
    """The dict pack_config took; ValueError when it does not add up."""
    n = struct.calcsize(">BHHBHHHBB")
    if len(payload) < n + 1:
        raise ValueError("CONFIG too short")
    deb, rdelay, rrate, stuck, alarm, pulse, switch, rows, cols = struct.unpack(
        ">BHHBHHHBB", payload[:n])
    cells = payload[n : n + rows * cols]
    rest = payload[n + rows * cols :]
    if rows < 1 or cols < 1 or len(cells) != rows * cols or not rest or len(rest) != 1 + rest[0]:
        raise ValueError("CONFIG layout does not add up")
    layout = [list(cells[r * cols : (r + 1) * cols]) for r in range(rows)]
    return {
        "debounce_ms": deb, "repeat_delay_ms": rdelay, "repeat_ms": rrate, "stuck_s": stuck,
        "alarm_after_s": alarm, "pulse_ms": pulse, "switch_ms": switch, "layout": layout,
        "repeat": list(rest[1:]),
    }


def pack_stats(values):
    """STATS: one unsigned 32-bit counter per STAT_NAMES entry."""
    return struct.pack(">" + "I" * len(STAT_NAMES), *[v & 0xFFFFFFFF for v in values])


def unpack_stats(payload):
    """-> dict name -> count."""
    count = len(payload) // 4
    values = struct.unpack(">" + "I" * count, payload[: 4 * count])
    return dict(zip(STAT_NAMES, values))
