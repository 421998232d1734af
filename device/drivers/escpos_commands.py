"""Byte builders for the ESC/POS commands the printer driver sends itself (status, drawer, cut).

Text styling, QR and barcode bytes for receipts come from python-escpos (see receipt_layout);
these are the control commands that python-escpos either lacks (DLE EOT, DLE DC4, GS ( H,
FS &) or wraps with extra feeds we do not want between jobs. References are to the Epson
ESC/POS Command Reference (TM series), which names each command as written here.
"""

from __future__ import annotations

from device.drivers.errors import ConfigError

ESC = 0x1B
GS = 0x1D
FS = 0x1C
DLE = 0x10
EOT = 0x04
DC4 = 0x14

INIT = bytes((ESC, 0x40))  # ESC @: initialize printer
CHINESE_ON = bytes((FS, 0x26))  # FS &: select Kanji (Chinese) character mode
CHINESE_OFF = bytes((FS, 0x2E))  # FS .: cancel Kanji (Chinese) character mode
LF = b"\n"

STATUS_PRINTER = 1
STATUS_OFFLINE_CAUSE = 2
STATUS_ERROR_CAUSE = 3
STATUS_PAPER_SENSOR = 4

DRAWER_PIN_2 = 0
DRAWER_PIN_5 = 1

# DLE DC4 fn=8 d1..d7 = 1 3 20 1 6 2 8: the fixed key that guards the buffer-clear function.
BUFFER_CLEAR = bytes((DLE, DC4, 8, 1, 3, 20, 1, 6, 2, 8))
BUFFER_CLEAR_RESPONSE = bytes((0x37, 0x25, 0x00))
PROCESS_ID_HEADER = bytes((0x37, 0x22))


def status_request(n: int) -> bytes:
    """DLE EOT n: transmit real-time status (1 printer, 2 offline cause, 3 error, 4 paper)."""
    if n not in (1, 2, 3, 4):
        raise ConfigError(f"DLE EOT n must be 1..4, not {n}")
    return bytes((DLE, EOT, n))


def drawer_kick(pin: int, on_ms: int, off_ms: int) -> bytes:
    """ESC p m t1 t2: generate pulse on drawer pin 2 (m=0) or 5 (m=1); t1/t2 in 2 ms units."""
    if pin not in (2, 5):
        raise ConfigError(f"drawer pin must be 2 or 5, not {pin}")
    for label, ms in (("on", on_ms), ("off", off_ms)):
        if not 2 <= ms <= 510:
            raise ConfigError(f"drawer pulse {label}-time must be 2..510 ms, not {ms}")
    m = DRAWER_PIN_2 if pin == 2 else DRAWER_PIN_5
    return bytes((ESC, 0x70, m, on_ms // 2, off_ms // 2))


def realtime_pulse(pin: int, on_ms: int) -> bytes:
    """DLE DC4 fn=1 m t: real-time drawer pulse (m=0 pin 2, m=1 pin 5), on and off t x 100 ms.

    Executed on receipt even while printing is stopped (paper out), unlike ESC p which waits
    in the buffer behind the stopped job; t is rounded to the nearest 100 ms within 1..8.
    """
    if pin not in (2, 5):
        raise ConfigError(f"drawer pin must be 2 or 5, not {pin}")
    t = max(1, min(8, round(on_ms / 100)))
    return bytes((DLE, DC4, 1, DRAWER_PIN_2 if pin == 2 else DRAWER_PIN_5, t))


def cut(partial: bool = False, feed_dots: int | None = None) -> bytes:
    """GS V m [n]: cut paper; with feed_dots, function B (feed n dots then cut)."""
    if feed_dots is None:
        return bytes((GS, 0x56, 1 if partial else 0))
    if not 0 <= feed_dots <= 255:
        raise ConfigError(f"cut feed must be 0..255 dots, not {feed_dots}")
    return bytes((GS, 0x56, 66 if partial else 65, feed_dots))


def process_id(pid: str) -> bytes:
    """GS ( H pL pH fn=48 m=48 d1..d4: ask for a response once everything before is printed."""
    raw = pid.encode("ascii", errors="strict") if pid.isascii() else b""
    if len(raw) != 4 or not all(32 <= b <= 126 for b in raw):
        raise ConfigError(f"process id must be 4 printable ASCII characters, not {pid!r}")
    return bytes((GS, 0x28, 0x48, 6, 0, 48, 48)) + raw


def process_id_response(pid: str) -> bytes:
    """The printer's answer to process_id(pid): 37H 22H d1..d4 NUL."""
    return PROCESS_ID_HEADER + pid.encode("ascii") + b"\x00"
